//! `SqliteJobStore` and `SqliteEventLog`: jobs, and each user's numbered
//! events. A job's transition and its event are one transaction.

use async_trait::async_trait;
use boomerang_core::ports::{EventLog, JobStore};
use boomerang_core::{Event, EventDraft, Job, JobId, JobStatus, Result, UserId};
use rusqlite::{params, OptionalExtension, Row};

use super::{corrupt, from_millis, millis, Db};

#[derive(Clone)]
pub struct SqliteJobStore {
    db: Db,
}

impl SqliteJobStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

const COLUMNS: &str =
    "id, owner, status, file_name, content_type, size, file_key, created_at, updated_at, result, error";

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
    })
}

fn result_json(job: &Job) -> Option<String> {
    job.result.as_ref().map(|v| v.to_string())
}

#[async_trait]
impl JobStore for SqliteJobStore {
    async fn create(&self, job: &Job) -> Result<()> {
        let j = job.clone();
        self.db
            .write(move |c| {
                c.execute(
                    &format!("INSERT INTO jobs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                    params![
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
                        j.error
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
                c.query_row(
                    &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
                    [id],
                    job_from_row,
                )
                .optional()
            })
            .await
    }

    async fn list(&self, owner: &UserId, limit: usize) -> Result<Vec<Job>> {
        let owner = owner.to_string();
        self.db
            .read(move |c| {
                let mut st = c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM jobs WHERE owner = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2"
                ))?;
                let rows = st.query_map(params![owner, limit as i64], job_from_row)?;
                rows.collect()
            })
            .await
    }

    async fn transition(
        &self,
        from: &[JobStatus],
        job: &Job,
        event: EventDraft,
    ) -> Result<Option<Event>> {
        let from: Vec<&'static str> = from.iter().map(|s| s.as_str()).collect();
        let j = job.clone();
        self.db
            .write(move |tx| {
                // One writer runs every write, each in its savepoint: the
                // status check and the seq allocation cannot interleave
                // with another writer, and all of this lands or none.
                let current: Option<String> =
                    tx.query_row("SELECT status FROM jobs WHERE id = ?1", [j.id.as_str()], |r| r.get(0)).optional()?;
                if !current.is_some_and(|s| from.contains(&s.as_str())) {
                    return Ok(None);
                }
                tx.execute(
                    "UPDATE jobs SET status = ?2, updated_at = ?3, result = ?4, error = ?5 WHERE id = ?1",
                    params![j.id.as_str(), j.status.as_str(), millis(j.updated_at), result_json(&j), j.error],
                )?;
                let seq: i64 = tx.query_row(
                    "INSERT INTO user_seq (user, last_seq) VALUES (?1, 1)
                     ON CONFLICT (user) DO UPDATE SET last_seq = last_seq + 1
                     RETURNING last_seq",
                    [j.owner.as_str()],
                    |r| r.get(0),
                )?;
                let event = event.numbered(seq as u64);
                tx.execute(
                    "INSERT INTO events (user, seq, body) VALUES (?1, ?2, ?3)",
                    params![j.owner.as_str(), seq, event.to_json()],
                )?;
                Ok(Some(event))
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
                c.query_row(
                    "SELECT last_seq FROM user_seq WHERE user = ?1",
                    [user],
                    |r| r.get::<_, i64>(0),
                )
                .optional()
                .map(|s| s.unwrap_or(0) as u64)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boomerang_core::EventType;
    use chrono::Utc;
    use std::collections::HashSet;

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
        }
    }

    #[tokio::test]
    async fn concurrent_transitions_number_a_users_events_without_gaps_or_repeats() {
        // GIVEN 40 submitted jobs of alice's
        let db = Db::in_memory().unwrap();
        let (jobs, log) = (SqliteJobStore::new(db.clone()), SqliteEventLog::new(db));
        let mut all = Vec::new();
        for _ in 0..40 {
            let j = job("alice");
            jobs.create(&j).await.unwrap();
            all.push(j);
        }
        // WHEN each is completed twice, concurrently
        let mut tasks = Vec::new();
        for j in all.iter().chain(all.iter()) {
            let (jobs, mut j) = (jobs.clone(), j.clone());
            tasks.push(tokio::spawn(async move {
                j.status = JobStatus::Completed;
                j.result = Some(serde_json::json!(1));
                let draft = EventDraft::new(EventType::JobCompleted, &j, 65536);
                jobs.transition(&[JobStatus::Submitted], &j, draft)
                    .await
                    .unwrap()
            }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap().is_some());
        }
        // THEN each job moved once, and the seqs are exactly 1..=40
        assert_eq!(won, 40);
        let alice = UserId::parse("alice").unwrap();
        let events = log.since(&alice, 0, 500).await.unwrap();
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=40).collect::<Vec<u64>>()
        );
        let ids: HashSet<_> = events.iter().map(|e| e.job.id.clone()).collect();
        assert_eq!(ids.len(), 40);
        assert_eq!(log.last_seq(&alice).await.unwrap(), 40);
        assert_eq!(
            log.last_seq(&UserId::parse("bob").unwrap()).await.unwrap(),
            0
        );
    }
}
