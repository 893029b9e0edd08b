//! `SqliteJobStore` and `SqliteEventLog`: jobs, and each user's numbered
//! events. A job's transition and its event are one transaction.

use async_trait::async_trait;
use boomerang_core::ports::{EventLog, JobStore, ListCursor, Listed, Progressed, Waiting};
use boomerang_core::{
    Applied, Error, Event, Job, JobId, JobStatus, Moved, Progress, Result, UserId,
    MAX_PROGRESS_REPORTS,
};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};

use super::{corrupt, from_millis, millis, Db};

#[derive(Clone)]
pub struct SqliteJobStore {
    db: Db,
    /// Where the jobs' uploaded files are, deleted with their jobs.
    files: Option<crate::embedded::files::DiskFileStore>,
}

impl SqliteJobStore {
    pub fn new(db: Db) -> Self {
        Self { db, files: None }
    }

    /// Deletes each job's uploaded file with the job (on AWS, S3's
    /// lifecycle rule does).
    pub fn with_files(mut self, files: crate::embedded::files::DiskFileStore) -> Self {
        self.files = Some(files);
        self
    }

    /// Deletes jobs finished before `before`, with their files (what
    /// DynamoDB's TTL and S3's lifecycle rule do on AWS); how many went.
    pub async fn forget_finished_before(&self, before: DateTime<Utc>) -> Result<u64> {
        let before = millis(before);
        let mut gone = 0;
        loop {
            // Through the partial index of finished jobs, a slice at a time.
            let slice: Vec<(String, String)> = self
                .db
                .read(move |c| {
                    c.prepare_cached(
                        "SELECT id, file_key FROM jobs WHERE status IN ('completed', 'failed')
                         AND updated_at < ?1 LIMIT ?2",
                    )?
                    .query_map(params![before, FORGET_SLICE as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect()
                })
                .await?;
            // Files first: a stop in between leaves a finished job without
            // its file (which nothing reads again), never a file without
            // its job; the next round deletes the row.
            if let Some(files) = &self.files {
                for (_, key) in &slice {
                    files.delete(key).await?;
                }
            }
            let ids: Vec<String> = slice.into_iter().map(|(id, _)| id).collect();
            let n = ids.len();
            self.db
                .write(move |c| {
                    let mut st = c.prepare_cached("DELETE FROM jobs WHERE id = ?1")?;
                    for id in &ids {
                        st.execute([id])?;
                    }
                    Ok(())
                })
                .await?;
            gone += n as u64;
            if n < FORGET_SLICE {
                return Ok(gone);
            }
        }
    }
}

const COLUMNS: &str = "id, owner, status, file_name, content_type, size, file_key, created_at, \
     updated_at, result, error, progress, progress_message, progress_sent_at, progress_ids";

fn job_from_row(r: &Row<'_>) -> rusqlite::Result<Job> {
    let result: Option<String> = r.get(9)?;
    Ok(Job {
        id: JobId::parse(r.get::<_, String>(0)?).map_err(|_| corrupt("job id"))?,
        owner: UserId::parse(r.get::<_, String>(1)?).map_err(|_| corrupt("owner"))?,
        status: JobStatus::parse(&r.get::<_, String>(2)?).ok_or_else(|| corrupt("status"))?,
        file_name: r.get(3)?,
        content_type: r.get(4)?,
        size: r.get::<_, i64>(5)? as u64,
        file_key: r.get(6)?,
        created_at: from_millis(r.get(7)?),
        updated_at: from_millis(r.get(8)?),
        result: result
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|_| corrupt("result"))?,
        error: r.get(10)?,
        progress: match (r.get(13)?, r.get::<_, Option<String>>(14)?) {
            (Some(sent_at), Some(reports)) => Some(Progress {
                fraction: r.get(11)?,
                message: r.get(12)?,
                sent_at,
                reports: serde_json::from_str(&reports).map_err(|_| corrupt("progress reports"))?,
            }),
            _ => None,
        },
    })
}

fn result_json(job: &Job) -> Option<String> {
    job.result.as_ref().map(|v| v.to_string())
}

/// Inside the writer's transaction: replaces the stored job with `job` if
/// its status is one of `from` (a JSON array); whether it did.
fn move_if(tx: &rusqlite::Connection, from: &str, job: &Job) -> rusqlite::Result<bool> {
    tx.prepare_cached(
        "UPDATE jobs SET status = ?2, updated_at = ?3, result = ?4, error = ?5
         WHERE id = ?1 AND status IN (SELECT value FROM json_each(?6))",
    )?
    .execute(params![
        job.id.as_str(),
        job.status.as_str(),
        millis(job.updated_at),
        result_json(job),
        job.error,
        from
    ])
    .map(|n| n == 1)
}

/// The statuses a move may start from, as [`move_if`] takes them.
fn statuses(from: &[JobStatus]) -> String {
    serde_json::to_string(&from.iter().map(|s| s.as_str()).collect::<Vec<_>>()).unwrap_or_default()
}

/// Runs `delete` (a DELETE taking the cut-off `?1` and a slice size `?2`)
/// until it deletes less than a slice: the writer's batch (and everyone
/// waiting on its commit) never holds a delete of weeks of rows.
async fn delete_in_slices(db: &Db, delete: &'static str, before: DateTime<Utc>) -> Result<u64> {
    let before = millis(before);
    let mut gone = 0;
    loop {
        let n = db
            .write(move |c| {
                c.prepare_cached(delete)?
                    .execute(params![before, FORGET_SLICE as i64])
            })
            .await?;
        gone += n as u64;
        if n < FORGET_SLICE {
            return Ok(gone);
        }
    }
}

#[async_trait]
impl JobStore for SqliteJobStore {
    async fn create(&self, job: &Job) -> Result<()> {
        let j = job.clone();
        self.db
            .write(move |c| {
                c.prepare_cached(&format!("INSERT INTO jobs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"))?.execute(params![
                        j.id.as_str(),
                        j.owner.as_str(),
                        j.status.as_str(),
                        j.file_name,
                        j.content_type,
                        j.size as i64,
                        j.file_key,
                        millis(j.created_at),
                        millis(j.updated_at),
                        result_json(&j),
                        j.error,
                        j.progress.as_ref().and_then(|p| p.fraction),
                        j.progress.as_ref().and_then(|p| p.message.as_deref()),
                        j.progress.as_ref().map(|p| p.sent_at),
                        j.progress.as_ref().map(|p| serde_json::json!(p.reports).to_string()),
                    ],
                )
            })
            .await?;
        Ok(())
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>> {
        let id = id.to_string();
        self.db
            .read(move |c| {
                c.prepare_cached(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"))?
                    .query_row([id], job_from_row)
                    .optional()
            })
            .await
    }

    async fn list(
        &self,
        owner: &UserId,
        limit: usize,
        after: Option<&ListCursor>,
    ) -> Result<Vec<Listed>> {
        let owner = owner.to_string();
        // With no cursor: after the newest possible job.
        let (at, id) = match after {
            Some(c) => (millis(c.created_at), c.id.to_string()),
            None => (i64::MAX, String::new()),
        };
        let jobs: Vec<Job> = self
            .db
            .read(move |c| {
                // The row value comparison walks jobs_by_owner from the cursor.
                let mut st = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM jobs WHERE owner = ?1
                     AND (created_at, id) < (?2, CASE WHEN ?3 = '' THEN char(1114111) ELSE ?3 END)
                     ORDER BY created_at DESC, id DESC LIMIT ?4"
                ))?;
                let rows = st.query_map(params![owner, at, id, limit as i64], job_from_row)?;
                rows.collect()
            })
            .await?;
        Ok(jobs.into_iter().map(Listed::of).collect())
    }

    async fn apply(&self, moved: &Moved) -> Result<Applied> {
        let (from, j, event) = (statuses(moved.from), moved.job.clone(), moved.event.clone());
        self.db
            .write(move |tx| {
                // One writer runs every write, each in its savepoint: the
                // status check and the seq allocation cannot interleave
                // with another writer, and all of this lands or none.
                if !move_if(tx, &from, &j)? {
                    return Ok(Applied::Lost);
                }
                let Some(event) = event else {
                    return Ok(Applied::Moved(None));
                };
                let seq: i64 = tx
                    .prepare_cached(
                        "INSERT INTO user_seq (user, last_seq) VALUES (?1, 1)
                     ON CONFLICT (user) DO UPDATE SET last_seq = last_seq + 1
                     RETURNING last_seq",
                    )?
                    .query_row([j.owner.as_str()], |r| r.get(0))?;
                let at = millis(event.at);
                let event = event.numbered(seq as u64);
                tx.prepare_cached(
                    "INSERT INTO events (user, seq, body, at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![j.owner.as_str(), seq, event.to_json(), at])?;
                Ok(Applied::Moved(Some(event)))
            })
            .await
    }

    async fn progress(&self, id: &JobId, progress: &Progress) -> Result<Progressed> {
        let (id, p) = (id.to_string(), progress.clone());
        self.db
            .write(move |tx| {
                // The rule of `Progress::supersedes`, as the row's condition.
                let kept = tx
                    .prepare_cached(&format!(
                        "UPDATE jobs SET progress = ?2, progress_message = ?3, progress_sent_at = ?4,
                         progress_ids = json_insert(COALESCE(progress_ids, '[]'), '$[#]', ?5)
                         WHERE id = ?1 AND status NOT IN ('completed', 'failed')
                         AND (progress_sent_at IS NULL OR progress_sent_at <= ?4)
                         AND json_array_length(COALESCE(progress_ids, '[]')) < ?6
                         AND NOT EXISTS (SELECT 1 FROM json_each(COALESCE(progress_ids, '[]'))
                                         WHERE value = ?5)
                         RETURNING {COLUMNS}"
                    ))?
                    .query_row(
                        params![
                            id,
                            p.fraction,
                            p.message,
                            p.sent_at,
                            p.report(),
                            MAX_PROGRESS_REPORTS as i64
                        ],
                        job_from_row,
                    )
                    .optional()?;
                if let Some(job) = kept {
                    return Ok(Progressed::Kept(job));
                }
                let exists = tx
                    .prepare_cached("SELECT 1 FROM jobs WHERE id = ?1")?
                    .exists([&id])?;
                Ok(if exists {
                    Progressed::Unchanged
                } else {
                    Progressed::NoSuchJob
                })
            })
            .await
    }

    async fn uploading(
        &self,
        owner: &UserId,
        since: DateTime<Utc>,
        at_most: usize,
    ) -> Result<usize> {
        let (owner, since) = (owner.to_string(), millis(since));
        self.db
            .read(move |c| {
                // Through jobs_by_owner, newest first, down to `since`.
                c.prepare_cached(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE owner = ?1 AND created_at > ?2 \
                     AND status = 'uploading' LIMIT ?3)",
                )?
                .query_row(params![owner, since, at_most as i64], |r| r.get::<_, i64>(0))
                .map(|n| n as usize)
            })
            .await
    }

    async fn waiting(
        &self,
        what: Waiting,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Result<Job>>> {
        let before = millis(before);
        self.db
            .read(move |c| {
                // Each WHERE repeats its partial index's, so the index is used.
                let statuses = match what {
                    Waiting::ThirdParty => "status IN ('pending', 'submitted')",
                    Waiting::Upload => "status = 'uploading'",
                };
                let mut st = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM jobs WHERE {statuses}
                     AND updated_at <= ?1 ORDER BY updated_at LIMIT ?2"
                ))?;
                let rows = st.query_map(params![before, limit as i64], job_from_row)?;
                // A row that cannot be read is the sweep's to skip.
                Ok(rows.map(|r| r.map_err(Error::internal)).collect())
            })
            .await
    }
}

#[derive(Clone)]
pub struct SqliteEventLog {
    db: Db,
}

impl SqliteEventLog {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Deletes events from before `before` (what DynamoDB's TTL does on
    /// AWS); how many went. The users' counters stay.
    pub async fn forget_before(&self, before: DateTime<Utc>) -> Result<u64> {
        delete_in_slices(
            &self.db,
            "DELETE FROM events WHERE (user, seq) IN
             (SELECT user, seq FROM events WHERE at < ?1 LIMIT ?2)",
            before,
        )
        .await
    }
}

#[async_trait]
impl EventLog for SqliteEventLog {
    async fn since(&self, user: &UserId, after: u64, limit: usize) -> Result<Vec<Event>> {
        let user = user.to_string();
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.db
            .read(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT body FROM events WHERE user = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )?;
                let rows = st.query_map(params![user, after, limit as i64], |r| {
                    r.get::<_, String>(0)
                })?;
                rows.map(|b| serde_json::from_str(&b?).map_err(|_| corrupt("event")))
                    .collect()
            })
            .await
    }

    async fn last_seq(&self, user: &UserId) -> Result<u64> {
        let user = user.to_string();
        self.db
            .read(move |c| {
                c.prepare_cached("SELECT last_seq FROM user_seq WHERE user = ?1")?
                    .query_row([user], |r| r.get::<_, i64>(0))
                    .optional()
                    .map(|s| s.unwrap_or(0) as u64)
            })
            .await
    }
}

/// Events (or jobs) deleted per write by the retention.
const FORGET_SLICE: usize = 2000;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn job(owner: &str) -> Job {
        let now = Utc::now();
        Job {
            id: JobId::generate(),
            owner: UserId::parse(owner).unwrap(),
            status: JobStatus::Submitted,
            file_name: "a".into(),
            content_type: "text/plain".into(),
            size: 1,
            file_key: "k".into(),
            created_at: now,
            updated_at: now,
            result: None,
            error: None,
            progress: None,
        }
    }

    #[tokio::test]
    async fn finished_jobs_past_their_retention_go_and_every_other_job_stays() {
        let db = Db::in_memory().unwrap();
        let jobs = SqliteJobStore::new(db);
        let t0 = Utc::now() - chrono::Duration::days(40);
        let mut old_done = job("alice");
        old_done.status = JobStatus::Completed;
        old_done.updated_at = t0;
        let mut old_waiting = job("alice");
        old_waiting.updated_at = t0;
        let mut recent_done = job("alice");
        recent_done.status = JobStatus::Failed;
        for j in [&old_done, &old_waiting, &recent_done] {
            jobs.create(j).await.unwrap();
        }
        let cut = Utc::now() - chrono::Duration::days(30);
        assert_eq!(jobs.forget_finished_before(cut).await.unwrap(), 1);
        assert!(jobs.get(&old_done.id).await.unwrap().is_none());
        assert!(jobs.get(&old_waiting.id).await.unwrap().is_some());
        assert!(jobs.get(&recent_done.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn forgetting_takes_old_events_only_and_the_counter_stays() {
        let db = Db::in_memory().unwrap();
        let (jobs, log) = (SqliteJobStore::new(db.clone()), SqliteEventLog::new(db));
        let alice = UserId::parse("alice").unwrap();
        let t0 = Utc::now() - chrono::Duration::days(8);
        for (i, at) in [t0, t0, Utc::now()].into_iter().enumerate() {
            let mut j = job("alice");
            jobs.create(&j).await.unwrap();
            j.result = Some(serde_json::json!(i));
            let moved = j.move_to(JobStatus::Completed, at, 65536).unwrap();
            jobs.apply(&moved).await.unwrap();
        }
        let gone = log
            .forget_before(Utc::now() - chrono::Duration::days(7))
            .await
            .unwrap();
        assert_eq!(gone, 2);
        let left: Vec<u64> = log
            .since(&alice, 0, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(left, [3]);
        assert_eq!(log.last_seq(&alice).await.unwrap(), 3);
    }
}
