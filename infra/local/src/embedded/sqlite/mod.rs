//! The embedded store: one SQLite database in the data folder, behind the
//! core's ports. Writes are group-committed transactions (see [`Db`]); WAL
//! with full sync, so whatever was acknowledged survives a crash or a
//! restart.

mod connections;
mod idempotency;
mod jobs;
mod quota;

pub use connections::SqliteConnectionStore;
pub use idempotency::SqliteIdempotencyKeys;
pub use jobs::{SqliteEventLog, SqliteJobStore};
pub use quota::SqliteUploadQuota;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::OpenFlags;

use boomerang_core::{Error, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;

/// The schema's version (`PRAGMA user_version`). From the first release
/// on, a change to the schema raises it and migrates what the version
/// before it wrote (CHANGELOG.md says which release does).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS connections (
    id           TEXT PRIMARY KEY,
    user         TEXT NOT NULL,
    connected_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS connections_by_user ON connections (user);

CREATE TABLE IF NOT EXISTS jobs (
    id           TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    status       TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    file_key     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    result       TEXT,
    error        TEXT,
    -- The third party's latest progress: written only by a progress
    -- webhook, never by a move; ordered by the webhook's timestamp.
    progress            REAL,
    progress_message    TEXT,
    progress_sent_at    INTEGER,
    -- The digests of every report's webhook-id the job took (a JSON
    -- array): none is taken twice, however it is signed.
    progress_ids        TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, created_at DESC, id DESC);
-- A partial index: only jobs still waiting for the third party, by when
-- they last moved. The sweep finds those past their deadline by range.
CREATE INDEX IF NOT EXISTS jobs_waiting ON jobs (updated_at)
    WHERE status IN ('pending', 'submitted');
-- And those waiting for their bytes (a presigned PUT), by when created.
CREATE INDEX IF NOT EXISTS jobs_uploading ON jobs (updated_at)
    WHERE status = 'uploading';
-- Finished jobs past the retention are deleted by range.
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (updated_at)
    WHERE status IN ('completed', 'failed');

CREATE TABLE IF NOT EXISTS user_seq (
    user     TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS events (
    user TEXT NOT NULL,
    seq  INTEGER NOT NULL,
    body TEXT NOT NULL,
    at   INTEGER NOT NULL,
    PRIMARY KEY (user, seq)
) WITHOUT ROWID;
-- Events past the retention are deleted by range.
CREATE INDEX IF NOT EXISTS events_by_time ON events (at);

-- Upload requests by idempotency key; job_id and status once answered.
CREATE TABLE IF NOT EXISTS idempotency (
    user        TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    claimed_at  INTEGER NOT NULL,
    job_id      TEXT,
    answer      TEXT,
    PRIMARY KEY (user, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_by_time ON idempotency (claimed_at);

-- Uploads each user started in each Unix minute.
CREATE TABLE IF NOT EXISTS upload_quota (
    user    TEXT NOT NULL,
    minute  INTEGER NOT NULL,
    uploads INTEGER NOT NULL,
    PRIMARY KEY (user, minute)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS upload_quota_by_minute ON upload_quota (minute);

";

/// Statements waiting for the writer, at most this many per commit.
const MAX_BATCH: usize = 256;
/// Connections that only read (WAL lets them read while the writer writes).
const READERS: usize = 4;

type Completion = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;
/// Runs on the writer's connection inside the batch's transaction, or is
/// given `None` when that transaction could not begin (it then only fails).
type WriteJob = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

enum Job {
    Write(WriteJob),
    /// Only for an in-memory database, which no other connection can see.
    Read(ReadJob),
}

/// The embedded database, with group commit: every write goes to one
/// writer thread, which runs all the writes waiting at that moment in one
/// transaction, each in its own savepoint (a failing write rolls back
/// alone), and commits them with one fsync. A write's caller hears back
/// only after that commit: whatever was acknowledged is on disk. Reads run
/// on their own connections, beside the writer.
#[derive(Clone)]
pub struct Db {
    writer: tokio::sync::mpsc::Sender<Job>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: Arc<std::sync::atomic::AtomicUsize>,
}

impl Db {
    /// Opens (or creates) the database 0600; SQLite gives its WAL and
    /// shared-memory files the database file's mode.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let io = |e: std::io::Error| {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("{}: {e}", path.display())),
            )
        };
        crate::private::file_options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        for p in [
            path.to_path_buf(),
            wal_path(path, "-wal"),
            wal_path(path, "-shm"),
        ] {
            crate::private::restrict(&p).map_err(io)?;
        }
        let writer = init(Connection::open(path)?)?;
        let readers = (0..READERS)
            .map(|_| {
                let c = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                c.set_prepared_statement_cache_capacity(32);
                Ok(Mutex::new(c))
            })
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Self::start(writer, readers))
    }

    pub fn in_memory() -> rusqlite::Result<Self> {
        Ok(Self::start(
            init(Connection::open_in_memory()?)?,
            Vec::new(),
        ))
    }

    fn start(conn: Connection, readers: Vec<Mutex<Connection>>) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel::<Job>(MAX_BATCH * 4);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .expect("the writer thread starts");
        Self {
            writer: tx,
            readers: Arc::new(readers),
            next_reader: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        }
    }

    /// Runs `f` on a reading connection. Reads are indexed lookups of a
    /// few rows that never wait for the writer (WAL), so they run right
    /// here rather than paying for a hop to the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        if self.readers.is_empty() {
            let (done, result) = tokio::sync::oneshot::channel();
            let job: ReadJob = Box::new(move |c| {
                let _ = done.send(f(c));
            });
            return self.send(Job::Read(job), result).await;
        }
        let start = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let n = self.readers.len();
        // A free reader if there is one; else wait for ours.
        let conn = (0..n)
            .find_map(|i| self.readers[(start + i) % n].try_lock().ok())
            .unwrap_or_else(|| {
                self.readers[start % n]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
            });
        f(&conn).map_err(Error::internal)
    }

    /// Runs `f` in the writer's next commit, in a savepoint of its own:
    /// its changes are kept only if it returns `Ok`. Answers once the
    /// commit is on disk.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: WriteJob = Box::new(move |c| {
            let outcome = match c {
                Some(c) => in_savepoint(c, f),
                None => Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some("could not begin a transaction".into()),
                )),
            };
            Box::new(move |committed| {
                let answer = match (outcome, committed) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                        Some(format!("commit failed: {e}")),
                    )),
                };
                let _ = done.send(answer);
            })
        });
        self.send(Job::Write(job), result).await
    }

    async fn send<T>(
        &self,
        job: Job,
        result: tokio::sync::oneshot::Receiver<rusqlite::Result<T>>,
    ) -> Result<T> {
        self.writer
            .send(job)
            .await
            .map_err(|_| Error::internal("the database writer stopped"))?;
        result
            .await
            .map_err(|_| Error::internal("the database writer stopped"))?
            .map_err(Error::internal)
    }
}

fn init(conn: Connection) -> rusqlite::Result<Connection> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Room for every statement the writer runs, each compiled once.
    conn.set_prepared_statement_cache_capacity(32);
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version != 0 && version != SCHEMA_VERSION {
        // A data folder of another version: of a build before 0.1.0, or of
        // a later release. Nothing is migrated before the first release.
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "the database's schema is version {version}, this build's is {SCHEMA_VERSION}: \
                 start with a new BOOMERANG_DATA_DIR"
            )),
        ));
    }
    conn.execute_batch(SCHEMA)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(conn)
}

/// `f` inside `SAVEPOINT`: released if it succeeds, rolled back if not.
/// (Statements here and in the stores are prepared once per connection
/// and cached: compiling SQL was a visible share of each webhook's CPU.)
fn in_savepoint<T>(
    c: &Connection,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.prepare_cached("SAVEPOINT w")?.execute([])?;
    match f(c) {
        Ok(v) => {
            c.prepare_cached("RELEASE w")?.execute([])?;
            Ok(v)
        }
        Err(e) => {
            let _ = c.execute_batch("ROLLBACK TO w; RELEASE w");
            Err(e)
        }
    }
}

/// Takes every write waiting, runs them in one transaction, commits once,
/// then tells each its outcome. Ends when every `Db` handle is gone.
fn writer_loop(mut conn: Connection, mut rx: tokio::sync::mpsc::Receiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut writes = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Read(read) => read(&conn),
                Job::Write(w) => writes.push(w),
            }
            if writes.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if writes.is_empty() {
            continue;
        }
        let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                // Nothing runs; each write is told why.
                let why = e.to_string();
                for w in writes {
                    w(None)(Err(why.clone()));
                }
                continue;
            }
        };
        let completions: Vec<Completion> = writes.into_iter().map(|w| w(Some(&tx))).collect();
        let committed = tx.commit().map_err(|e| e.to_string());
        for done in completions {
            done(committed.clone());
        }
    }
}

pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A value stored by us that no longer parses: the database was edited by
/// hand or is corrupt.
pub(crate) fn corrupt(what: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(0, what.to_owned(), rusqlite::types::Type::Text)
}

/// `boomerang.sqlite3-wal` and the like, beside the database.
fn wal_path(db: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data folder of another schema version is refused, naming what to
    /// do, and left as it was; one of this version opens again.
    #[test]
    fn a_database_of_another_schema_version_is_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("boomerang.sqlite3");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("PRAGMA user_version = 5;").unwrap();
        }
        let Err(e) = init(Connection::open(&path).unwrap()) else {
            panic!("a version 5 database opened");
        };
        assert!(
            e.to_string()
                .contains("start with a new BOOMERANG_DATA_DIR"),
            "{e}"
        );
        let c = Connection::open(&path).unwrap();
        let version: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 5);
        // A fresh one is made at this version and opens again.
        let fresh = dir.path().join("fresh.sqlite3");
        drop(init(Connection::open(&fresh).unwrap()).unwrap());
        init(Connection::open(&fresh).unwrap()).unwrap();
    }
}
