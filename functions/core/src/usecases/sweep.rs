//! The sweep: what happens because time passed. A job that waited too long
//! for the third party fails. (Old events and jobs are the stores' own to
//! forget: DynamoDB's TTL, the SQLite adapter's timer.)
//!
//! Locally a background task runs it; on AWS a scheduled Lambda
//! (EventBridge). Either way it runs often enough that a job fails within
//! max(1 s, 10 % of the timeout) after its deadline
//! ([`crate::Limits::sweep_interval`]).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};
use tracing::{error, info, warn};

use super::direct::NOT_RECEIVED;
use super::Connections;
use crate::ports::{Clock, JobStore, Waiting};
use crate::{Applied, Job, JobStatus, Limits, Result};

/// The error of a job that timed out (the contract's words).
pub const TIMED_OUT: &str = "timed out waiting for the third party";
/// Due jobs read per page.
const PAGE: usize = 100;
/// Pages per sweep at most: the rest waits for the next sweep. On AWS the
/// sparse index is eventually consistent, so a page can repeat jobs this
/// sweep already moved; a page that moves nothing ends the sweep too.
const MAX_PAGES: usize = 50;
/// Due jobs failed at once.
const CONCURRENCY: usize = 8;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Jobs that timed out, each pushed as `job.failed`.
    pub timed_out: usize,
    /// Jobs still `uploading` when their URL expired, each pushed as
    /// `job.failed` ([`NOT_RECEIVED`]).
    pub uploads_expired: usize,
    /// Due jobs that could not be read or moved: skipped (and logged)
    /// so that the others still fail on time; the next sweep tries again.
    pub skipped: usize,
}

/// Runs the sweep (on a schedule).
#[derive(Clone)]
pub struct Sweeper {
    jobs: Arc<dyn JobStore>,
    connections: Connections,
    clock: Arc<dyn Clock>,
    limits: Limits,
}

impl Sweeper {
    pub fn new(
        jobs: Arc<dyn JobStore>,
        connections: Connections,
        clock: Arc<dyn Clock>,
        limits: &Limits,
    ) -> Self {
        let limits = limits.clone();
        Self {
            jobs,
            connections,
            clock,
            limits,
        }
    }
    /// Fails every job whose wait is over, through the same conditional
    /// transition as a webhook (a webhook racing the deadline: exactly one
    /// of them moves the job, and one terminal event is pushed).
    pub async fn sweep(&self) -> Result<Swept> {
        let limits = &self.limits;
        let now = self.clock.now();
        let mut swept = Swept::default();
        (swept.timed_out, swept.skipped) = self
            .fail_due(Waiting::ThirdParty, limits.job_timeout, TIMED_OUT, now)
            .await?;
        let (expired, skipped) = self
            .fail_due(Waiting::Upload, limits.upload_url_ttl, NOT_RECEIVED, now)
            .await?;
        swept.uploads_expired = expired;
        swept.skipped += skipped;
        if swept != Swept::default() {
            info!(
                timed_out = swept.timed_out,
                uploads_expired = swept.uploads_expired,
                skipped = swept.skipped,
                "swept"
            );
        }
        // The heartbeat: an alarm breaches when no sweep completes.
        crate::metrics::count(crate::metrics::SWEEPS_COMPLETED);
        Ok(swept)
    }

    /// Fails every job that has waited for `what` longer than `wait`, with
    /// `error`: how many it moved, and how many it skipped because they
    /// could not be read or moved (each logged and counted; one bad job
    /// must not keep every later sweep from the others). A job it skips
    /// stays due, oldest first, in every page after: each page asks for
    /// that many more, so that however many are bad, the sweep still
    /// reaches the good ones behind them.
    async fn fail_due(
        &self,
        what: Waiting,
        wait: std::time::Duration,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(usize, usize)> {
        let wait = Duration::from_std(wait).unwrap_or(Duration::MAX);
        let deadline_passed = now.checked_sub_signed(wait).unwrap_or(now);
        let (mut failed, mut skipped) = (0, 0);
        let mut logged = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let limit = PAGE + skipped;
            let due = self.jobs.waiting(what, deadline_passed, limit).await?;
            let n = due.len();
            let moved: Vec<Result<bool>> = stream::iter(due)
                .map(|job| async move { self.time_out(job?, error, now).await })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let (mut this_page, mut bad) = (0, 0usize);
            for m in moved {
                match m {
                    Ok(true) => this_page += 1,
                    Ok(false) => {}
                    Err(e) => {
                        bad += 1;
                        if logged.insert(e.to_string()) {
                            error!(error = %e, "the sweep skipped a due job it could not handle");
                        }
                    }
                }
            }
            // The ones skipped before are in this page again.
            let new_bad = bad.saturating_sub(skipped);
            for _ in 0..new_bad {
                crate::metrics::count(crate::metrics::SWEEP_SKIPPED_JOBS);
            }
            skipped += new_bad;
            failed += this_page;
            if n < limit || this_page + new_bad == 0 {
                break;
            }
        }
        Ok((failed, skipped))
    }

    /// Fails one due job; `false` when something else moved it first.
    async fn time_out(&self, mut job: Job, error: &str, now: DateTime<Utc>) -> Result<bool> {
        job.result = None;
        job.error = Some(error.to_owned());
        let moved = job.move_to(JobStatus::Failed, now, self.limits.max_push_bytes)?;
        let job = &moved.job;
        match self.jobs.apply(&moved).await? {
            Applied::Moved(event) => {
                crate::metrics::count(crate::metrics::JOBS_TIMED_OUT);
                let seq = event.as_ref().map(|e| e.seq);
                warn!(job_id = %job.id, user = %job.owner, seq = ?seq, error, "job failed at its deadline");
                if let Some(event) = event {
                    self.connections.notify(&job.owner, &event).await;
                }
                Ok(true)
            }
            Applied::Lost => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration as StdDuration;

    use crate::memory::TestApp;
    use crate::JobStatus;

    #[tokio::test]
    async fn a_job_past_its_deadline_fails_once_and_its_owner_is_told() {
        let mut t = TestApp::new();
        t.set_limits(|l| l.job_timeout = StdDuration::from_secs(60));
        t.connect("a1", "alice").await;
        t.connect("b1", "bob").await;
        let job = t.upload("alice").await;
        // GIVEN a submitted job, before its deadline nothing happens
        assert_eq!(t.app.sweeper.sweep().await.unwrap().timed_out, 0);
        // WHEN its deadline passes
        t.advance(StdDuration::from_secs(61));
        let swept = t.app.sweeper.sweep().await.unwrap();
        // THEN it failed, alice's tab was told, bob's was not
        assert_eq!(swept.timed_out, 1);
        let stored = t.stored("alice", &job.id).await;
        assert_eq!(stored.status, JobStatus::Failed);
        assert_eq!(stored.error.as_deref(), Some(super::TIMED_OUT));
        let got = t.pushed("a1");
        assert_eq!(got.last().unwrap()["type"], "job.failed");
        assert_eq!(got.last().unwrap()["job"]["error"], super::TIMED_OUT);
        assert!(t.pushed("b1").is_empty());
        // AND a second sweep, or a late webhook, changes nothing
        assert_eq!(t.app.sweeper.sweep().await.unwrap().timed_out, 0);
        let late =
            serde_json::json!({"job_id": job.id.as_str(), "status": "completed", "result": 1});
        assert_eq!(
            t.deliver("late", &late).await.unwrap(),
            crate::WebhookOutcome::AlreadyDone
        );
        assert_eq!(t.pushed("a1").len(), got.len());
    }

    #[tokio::test]
    async fn a_job_the_sweep_cannot_read_is_skipped_and_the_others_still_fail() {
        // GIVEN two of alice's jobs past their deadline, the older one
        // damaged so that it cannot be read
        let mut t = TestApp::new();
        t.set_limits(|l| l.job_timeout = StdDuration::from_secs(60));
        t.connect("a1", "alice").await;
        let damaged = t.upload("alice").await;
        t.advance(StdDuration::from_secs(1));
        let healthy = t.upload("alice").await;
        t.damage(&damaged.id);
        t.advance(StdDuration::from_secs(61));
        // WHEN two sweeps run
        let first = t.app.sweeper.sweep().await.unwrap();
        let second = t.app.sweeper.sweep().await.unwrap();
        // THEN each skips the damaged one and counts it; the healthy one
        // failed on time and alice was told
        assert_eq!((first.timed_out, first.skipped), (1, 1));
        assert_eq!((second.timed_out, second.skipped), (0, 1));
        assert_eq!(
            t.stored("alice", &healthy.id).await.status,
            JobStatus::Failed
        );
        assert_eq!(
            t.pushed("a1").last().unwrap()["job"]["id"],
            healthy.id.as_str()
        );
    }

    #[tokio::test]
    async fn more_unreadable_jobs_than_a_page_hold_up_none_of_the_jobs_behind_them() {
        // GIVEN 150 of alice's jobs past their deadline, the 120 oldest
        // damaged so that they cannot be read
        let mut t = TestApp::new();
        t.set_limits(|l| l.job_timeout = StdDuration::from_secs(60));
        t.connect("a1", "alice").await;
        let mut jobs = Vec::new();
        for _ in 0..150 {
            jobs.push(t.upload("alice").await);
            t.advance(StdDuration::from_millis(10));
        }
        for job in &jobs[..120] {
            t.damage(&job.id);
        }
        t.advance(StdDuration::from_secs(61));
        // WHEN the sweep runs
        let swept = t.app.sweeper.sweep().await.unwrap();
        // THEN each damaged one is skipped and counted once, and every
        // healthy one behind them failed on time
        assert_eq!((swept.timed_out, swept.skipped), (30, 120));
        for job in &jobs[120..] {
            assert_eq!(t.stored("alice", &job.id).await.status, JobStatus::Failed);
        }
    }

    #[tokio::test]
    async fn an_upload_whose_url_expired_fails_and_a_late_file_changes_nothing() {
        let mut t = TestApp::new();
        t.set_limits(|l| l.job_timeout = StdDuration::from_secs(3600));
        t.connect("a1", "alice").await;
        let req = crate::NewUpload {
            file_name: "big.bin".into(),
            size: 1,
            content_type: "application/octet-stream".into(),
        };
        let (job, ticket) = t
            .app
            .uploads
            .begin_upload(&t.user("alice"), req)
            .await
            .unwrap();
        let ttl = (ticket.expires_at - t.now()).to_std().unwrap();
        assert_eq!(
            t.app.sweeper.sweep().await.unwrap(),
            super::Swept::default()
        );
        t.advance(ttl + StdDuration::from_secs(1));
        let swept = t.app.sweeper.sweep().await.unwrap();
        assert_eq!((swept.uploads_expired, swept.timed_out), (1, 0));
        let got = t.pushed("a1");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["job"]["error"], super::NOT_RECEIVED);
        // The bytes arriving after all are ignored.
        t.files.put(&job.file_key, "x");
        assert!(matches!(
            t.app.uploads.file_stored(&job.file_key, 1).await.unwrap(),
            crate::Stored::Ignored
        ));
        assert_eq!(t.submissions(), 0);
    }

    #[tokio::test]
    async fn a_finished_job_is_never_timed_out() {
        let mut t = TestApp::new();
        t.set_limits(|l| l.job_timeout = StdDuration::from_secs(60));
        let job = t.upload("alice").await;
        let done =
            serde_json::json!({"job_id": job.id.as_str(), "status": "completed", "result": 1});
        t.deliver("w1", &done).await.unwrap();
        t.advance(StdDuration::from_secs(3600));
        assert_eq!(t.app.sweeper.sweep().await.unwrap().timed_out, 0);
        let stored = t.stored("alice", &job.id).await;
        assert_eq!(stored.status, JobStatus::Completed);
    }

    #[tokio::test]
    async fn old_events_go_the_seq_goes_on_and_a_reader_is_told_of_the_gap() {
        let mut t = TestApp::new();
        t.set_limits(|l| {
            l.event_retention = StdDuration::from_secs(3600);
            l.job_timeout = StdDuration::from_secs(24 * 3600);
        });
        let alice = t.user("alice");
        t.upload("alice").await; // seq 1
        t.upload("alice").await; // seq 2
        t.advance(StdDuration::from_secs(3601));
        t.upload("alice").await; // seq 3, recent
        t.app.sweeper.sweep().await.unwrap();
        // A reader at 0 gets seq 3 and is told 1 and 2 are gone.
        let page = t.app.queries.events_since(&alice, 0, 100).await.unwrap();
        assert_eq!(page.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
        assert_eq!(page.last_seq, 3);
        assert!(page.gap);
        // A reader at 2 missed nothing.
        let page = t.app.queries.events_since(&alice, 2, 100).await.unwrap();
        assert!(!page.gap);
        // The next event is 4: the seq never restarts.
        t.upload("alice").await;
        let page = t.app.queries.events_since(&alice, 3, 100).await.unwrap();
        assert_eq!(page.events[0].seq, 4);
        assert!(!page.gap);
    }
}
