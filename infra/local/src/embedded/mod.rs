//! The one-host Boomerang: SQLite and the data folder as its storage
//! (what DynamoDB and S3 are on AWS), and the timers that stand in for
//! what AWS does by itself (TTL, lifecycle rules, S3's event on a stored
//! file). `make run` starts it.

pub mod files;
pub mod sqlite;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use boomerang_core::ports::{Processor, Pusher, SystemClock};
use boomerang_core::{Limits, Ports, Uploads};
use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::StartError;
use files::DiskFileStore;
use sqlite::{SqliteEventLog, SqliteJobStore};

/// How often finished jobs and old events are looked for: DynamoDB's TTL
/// deletes within days; here, within a minute, or within a tenth of the
/// shortest retention if that is shorter.
const RETENTION_ROUND: Duration = Duration::from_secs(60);

/// The embedded storage, and what forgets from it.
pub struct Storage {
    pub ports: Ports,
    pub retention: Retention,
}

/// SQLite and the data folder; pushes go through `pusher` (the gateway's
/// own sockets).
pub async fn storage(
    data_dir: &Path,
    pusher: Arc<dyn Pusher>,
    processor: Arc<dyn Processor>,
    files: DiskFileStore,
    limits: &Limits,
) -> Result<Storage, StartError> {
    let db = sqlite::Db::open(&data_dir.join("boomerang.sqlite3"))?;
    let connections = sqlite::SqliteConnectionStore::new(db.clone());
    // No socket survives a restart; their rows would only ever 410.
    connections.clear().await?;
    let jobs = SqliteJobStore::new(db.clone()).with_files(files.clone());
    let events = SqliteEventLog::new(db.clone());
    let retention = Retention {
        jobs: jobs.clone(),
        events: events.clone(),
        limits: limits.clone(),
    };
    let ports = Ports {
        connections: Arc::new(connections),
        jobs: Arc::new(jobs),
        events: Arc::new(events),
        idempotency: Arc::new(sqlite::SqliteIdempotencyKeys::new(db.clone())),
        quota: Arc::new(sqlite::SqliteUploadQuota::new(db)),
        files: Arc::new(files),
        pusher,
        processor,
        clock: Arc::new(SystemClock),
        issuer_keys: None,
    };
    Ok(Storage { ports, retention })
}

/// What DynamoDB's TTL and S3's lifecycle rule do on AWS: events past
/// their retention go, then finished jobs past theirs, with their files.
/// Readers already hide what is past the retention, so when it runs
/// changes nothing a user sees.
#[derive(Clone)]
pub struct Retention {
    jobs: SqliteJobStore,
    events: SqliteEventLog,
    limits: Limits,
}

impl Retention {
    /// One round at `now`: how many events and jobs went.
    pub async fn forget(&self, now: chrono::DateTime<Utc>) -> boomerang_core::Result<(u64, u64)> {
        let before = |kept: Duration| {
            chrono::Duration::from_std(kept)
                .ok()
                .and_then(|k| now.checked_sub_signed(k))
        };
        let mut gone = (0, 0);
        if let Some(t) = before(self.limits.event_retention) {
            gone.0 = self.events.forget_before(t).await?;
        }
        // Jobs after the events that tell of them.
        if let Some(t) = before(self.limits.job_retention) {
            gone.1 = self.jobs.forget_finished_before(t).await?;
        }
        Ok(gone)
    }

    /// Runs a round now and then every [`RETENTION_ROUND`] until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let shortest = self.limits.event_retention.min(self.limits.job_retention);
        let every = RETENTION_ROUND
            .min(shortest / 10)
            .max(Duration::from_millis(100));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => match self.forget(Utc::now()).await {
                    Ok((0, 0)) => {}
                    Ok((events, jobs)) => info!(events, jobs, "forgot what is past its retention"),
                    Err(e) => warn!(error = %e, "forgetting failed; trying again at the next round"),
                },
            }
        }
    }
}

/// Hands over every upload still `uploading` whose bytes are stored: the
/// stack stopped between storing them and handing them over (S3 would
/// have sent their event).
pub async fn hand_over_stored(uploads: &Uploads, disk: &DiskFileStore, work: &TaskTracker) {
    let jobs = match uploads.uploads_waiting(10_000).await {
        Ok(jobs) => jobs,
        Err(e) => {
            warn!(error = %e, "could not look for stored uploads to hand over");
            return;
        }
    };
    for job in jobs {
        let Some(size) = disk.stored_size(&job.file_key).await else {
            continue;
        };
        info!(job_id = %job.id, size, "a stored upload was not handed over before the stop; handing it over");
        let event =
            boomerang_handlers::submit::object_created("local", &job.file_key, size, "127.0.0.1");
        let uploads = uploads.clone();
        work.spawn(async move {
            if let Err(e) = boomerang_handlers::submit::handle(&uploads, event).await {
                warn!(error = %e, "handing a stored upload over failed; the sweep will fail its job");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boomerang_core::ports::JobStore;
    use boomerang_core::{Job, JobId, JobStatus, UserId};

    fn job(status: JobStatus, age: chrono::Duration) -> Job {
        let t = Utc::now() - age;
        Job {
            id: JobId::generate(),
            owner: UserId::parse("alice").unwrap(),
            status,
            file_name: "a".into(),
            content_type: "text/plain".into(),
            size: 1,
            file_key: "k".into(),
            created_at: t,
            updated_at: t,
            result: None,
            error: None,
            progress: None,
        }
    }

    #[tokio::test]
    async fn a_round_forgets_finished_jobs_past_their_retention_and_keeps_the_rest() {
        // GIVEN jobs kept an hour: one finished 90 minutes ago, one finished
        // just now, and one still waiting since 90 minutes ago
        let db = sqlite::Db::in_memory().unwrap();
        let jobs = SqliteJobStore::new(db.clone());
        let limits = Limits {
            job_retention: Duration::from_secs(3600),
            event_retention: Duration::from_secs(3600),
            ..Limits::default()
        };
        let retention = Retention {
            jobs: jobs.clone(),
            events: SqliteEventLog::new(db),
            limits,
        };
        let old = job(JobStatus::Completed, chrono::Duration::minutes(90));
        let recent = job(JobStatus::Failed, chrono::Duration::zero());
        let waiting = job(JobStatus::Submitted, chrono::Duration::minutes(90));
        for j in [&old, &recent, &waiting] {
            jobs.create(j).await.unwrap();
        }
        // WHEN a round runs
        let (_, gone) = retention.forget(Utc::now()).await.unwrap();
        // THEN only the old finished job went
        assert_eq!(gone, 1);
        assert!(jobs.get(&old.id).await.unwrap().is_none());
        assert!(jobs.get(&recent.id).await.unwrap().is_some());
        assert!(jobs.get(&waiting.id).await.unwrap().is_some());
    }
}
