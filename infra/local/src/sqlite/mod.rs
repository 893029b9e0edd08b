//! The embedded store: one SQLite database in the data folder, behind the
//! core's ports. Writes are transactions; WAL with full sync, so whatever
//! was acknowledged survives a crash or a restart.

mod connections;
mod deliveries;
mod jobs;

pub use connections::SqliteConnectionStore;
pub use deliveries::SqliteDeliveryLog;
pub use jobs::{SqliteEventLog, SqliteJobStore};

use std::path::Path;
use std::sync::{Arc, Mutex};

use boomerang_core::{Error, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;

const SCHEMA_VERSION: i64 = 1;

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
    error        TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, created_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS user_seq (
    user     TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS events (
    user TEXT NOT NULL,
    seq  INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (user, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS deliveries (
    id         TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
";

/// One SQLite connection shared by the adapters; statements run on the
/// blocking pool so they never stall the async runtime.
#[derive(Clone)]
pub struct Db(Arc<Mutex<Connection>>);

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
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    pub fn in_memory() -> rusqlite::Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> rusqlite::Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(rusqlite::Error::InvalidQuery);
        }
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(Self(Arc::new(Mutex::new(conn))))
    }

    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let db = self.0.clone();
        let joined = tokio::task::spawn_blocking(move || {
            // A panic elsewhere cannot leave a half-applied transaction
            // behind (it rolls back on drop), so a poisoned lock is safe.
            let mut conn = db.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await;
        match joined {
            Ok(r) => r.map_err(Error::internal),
            Err(e) => Err(Error::internal(e)),
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
