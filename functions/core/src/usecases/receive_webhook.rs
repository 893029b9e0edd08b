//! `POST /webhooks/third-party`: verify, save, push.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use tracing::info;

use super::Connections;
use crate::auth::Keys;
use crate::metrics;
use crate::ports::{Clock, JobStore, Progressed};
use crate::webhook::{self, SignatureHeaders, Verified};
use crate::{Applied, Error, JobId, JobStatus, Limits, Progress, ProgressNotice, Result};

/// The longest failure reason kept from a third party.
const MAX_ERROR_CHARS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// The job moved and its owner's tabs were told.
    Applied,
    /// A redelivery, or the job had already finished: nothing changed.
    AlreadyDone,
    /// The job's progress was kept and pushed (it did not move).
    Progressed,
}

/// The webhook's body, as the contract gives it.
#[derive(Deserialize)]
struct Body {
    /// Any JSON: an id of another shape (or type) is one we never issued,
    /// which is a 404, not a malformed body.
    job_id: Value,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum Outcome {
    Completed {
        /// Any JSON but `null`.
        #[serde(default)]
        result: Option<Value>,
    },
    Failed {
        #[serde(default)]
        error: Option<String>,
    },
    /// Progress while the job is unfinished (contract v4).
    Processing {
        /// Present (`null` included) or absent: `null` is no number.
        #[serde(default, deserialize_with = "crate::domain::present")]
        progress: Option<Value>,
        /// A string; `null` counts as absent.
        #[serde(default)]
        message: Option<String>,
    },
}

/// A `processing` webhook's progress, checked: 400 when it is no number
/// from 0 to 1, or when neither field is there.
fn progress_of(
    progress: Option<Value>,
    message: Option<String>,
    delivery: &Verified,
) -> Result<Progress> {
    let fraction = match progress {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .ok_or_else(|| Error::Invalid("progress must be a number from 0 to 1".into()))?,
        ),
    };
    Progress::new(
        fraction,
        message.as_deref(),
        delivery.timestamp,
        &delivery.id,
    )
    .map_err(|why| Error::Invalid(why.into()))
}

/// The third party's signed results.
#[derive(Clone)]
pub struct Webhooks {
    jobs: Arc<dyn JobStore>,
    /// Listed while the job moves, for the push after it.
    connections: Connections,
    clock: Arc<dyn Clock>,
    /// Current, and previous during a rotation; without them every
    /// webhook is refused.
    webhook_secret: Option<Keys>,
    limits: Limits,
}

impl Webhooks {
    pub fn new(
        jobs: Arc<dyn JobStore>,
        connections: Connections,
        clock: Arc<dyn Clock>,
        webhook_secret: Option<Keys>,
        limits: &Limits,
    ) -> Self {
        let limits = limits.clone();
        Self {
            jobs,
            connections,
            clock,
            webhook_secret,
            limits,
        }
    }

    /// The largest body a webhook may have (`BOOMERANG_MAX_WEBHOOK_BYTES`):
    /// a door need not read past it.
    pub fn max_body_bytes(&self) -> usize {
        self.limits.max_webhook_bytes
    }
    pub async fn receive(&self, headers: &SignatureHeaders, body: &[u8]) -> Result<WebhookOutcome> {
        let arrived = std::time::Instant::now();
        let outcome = self.receive_inner(headers, body).await;
        let (counted, to_push) = match &outcome {
            Ok(WebhookOutcome::Applied) => {
                (metrics::WebhookOutcome::Applied, Some(arrived.elapsed()))
            }
            Ok(WebhookOutcome::AlreadyDone) => (metrics::WebhookOutcome::AlreadyDone, None),
            Ok(WebhookOutcome::Progressed) => (metrics::WebhookOutcome::Progress, None),
            Err(e) => (metrics::WebhookOutcome::of_error(e), None),
        };
        metrics::webhook(counted, to_push);
        outcome
    }

    async fn receive_inner(
        &self,
        headers: &SignatureHeaders,
        body: &[u8],
    ) -> Result<WebhookOutcome> {
        let limits = &self.limits;
        if body.len() > limits.max_webhook_bytes {
            return Err(Error::TooLarge(format!(
                "webhook body is larger than the limit of {} bytes",
                limits.max_webhook_bytes
            )));
        }
        let now = self.clock.now();
        // Verify before parsing: an unsigned body is never read.
        let keys = self.webhook_secret.as_ref();
        let keys =
            keys.ok_or_else(|| Error::Unauthenticated("this function takes no webhooks".into()))?;
        let delivery = webhook::verify(keys, headers, body, now, limits.webhook_tolerance)?;
        let body: Body = serde_json::from_slice(body)
            .map_err(|e| Error::Invalid(format!("malformed webhook body: {e}")))?;
        let unknown = || Error::NotFound("no such job".into());
        let id = match &body.job_id {
            Value::String(s) => JobId::parse(s.as_str()).ok(),
            _ => None,
        };
        let (status, result, error) = match body.outcome {
            Outcome::Completed { result: None } => {
                return Err(Error::Invalid("a completed job needs a result".into()))
            }
            Outcome::Completed { result } => (JobStatus::Completed, result, None),
            Outcome::Failed { error } => {
                let error = error.map_or_else(
                    || "the third party reported a failure".to_owned(),
                    |e| e.chars().take(MAX_ERROR_CHARS).collect(),
                );
                (JobStatus::Failed, None, Some(error))
            }
            Outcome::Processing { progress, message } => {
                let progress = progress_of(progress, message, &delivery)?;
                return self.progress(&id.ok_or_else(unknown)?, progress).await;
            }
        };

        // The owner comes from our record, never from the body.
        let id = id.ok_or_else(unknown)?;
        let mut job = self.jobs.get(&id).await?.ok_or_else(unknown)?;
        // A redelivery, or a second result, finds the job finished (or
        // loses the conditional move to the delivery that finished it): a
        // job moves once, so no record of deliveries is needed. A job whose
        // bytes have not come is not the third party's to end.
        let outcome = if !JobStatus::WITH_THE_THIRD_PARTY.contains(&job.status) {
            info!(webhook_id = %delivery.id, job_id = %job.id, "webhook for a job not with the third party acknowledged");
            WebhookOutcome::AlreadyDone
        } else {
            job.result = result;
            job.error = error;
            let moved = job.move_to(status, now, limits.max_push_bytes)?;
            let job = &moved.job;
            // The owner's connections are listed while the move is written:
            // one round trip less before the pushes.
            let (applied, conns) =
                futures::join!(self.jobs.apply(&moved), self.connections.of(&job.owner));
            match applied? {
                Applied::Moved(Some(event)) => {
                    info!(job_id = %job.id, user = %job.owner, seq = event.seq, status = job.status.as_str(), "job moved");
                    self.connections.notify_to(&job.owner, &event, conns).await;
                    WebhookOutcome::Applied
                }
                Applied::Moved(None) => WebhookOutcome::Applied,
                Applied::Lost => WebhookOutcome::AlreadyDone,
            }
        };
        Ok(outcome)
    }

    /// Keeps the job's progress and pushes it at once, with no `seq`: one
    /// conditional write, then the owner's connections. Older, repeated
    /// or late progress changes nothing.
    async fn progress(&self, id: &JobId, progress: Progress) -> Result<WebhookOutcome> {
        match self.jobs.progress(id, &progress).await? {
            Progressed::NoSuchJob => Err(Error::NotFound("no such job".into())),
            Progressed::Unchanged => Ok(WebhookOutcome::AlreadyDone),
            Progressed::Kept(job) => {
                let notice = ProgressNotice {
                    at: self.clock.now(),
                    job: job.view(),
                };
                self.connections.notify(&job.owner, &notice).await;
                Ok(WebhookOutcome::Progressed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{TestApp, ThirdParty};

    #[tokio::test]
    async fn a_signed_result_completes_the_job_and_reaches_the_owner_only() {
        let t = TestApp::new();
        t.connect("a1", "alice").await;
        t.connect("b1", "bob").await;
        let job = t.upload("alice").await;
        let body = serde_json::json!({"job_id": job.id.as_str(), "status": "completed", "result": {"n": 42}});
        let out = t.deliver("msg_1", &body).await.unwrap();
        assert_eq!(out, WebhookOutcome::Applied);
        let got = t.pushed("a1");
        assert_eq!(
            got.iter()
                .map(|e| e["seq"].as_u64().unwrap())
                .collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(got[1]["type"], "job.completed");
        assert_eq!(got[1]["job"]["result"]["n"], 42);
        assert!(t.pushed("b1").is_empty());
    }

    #[tokio::test]
    async fn a_redelivery_or_a_second_result_changes_nothing() {
        let t = TestApp::new();
        t.connect("a1", "alice").await;
        let job = t.upload("alice").await;
        let done =
            serde_json::json!({"job_id": job.id.as_str(), "status": "completed", "result": 1});
        let failed =
            serde_json::json!({"job_id": job.id.as_str(), "status": "failed", "error": "late"});
        assert_eq!(
            t.deliver("msg_1", &done).await.unwrap(),
            WebhookOutcome::Applied
        );
        assert_eq!(
            t.deliver("msg_1", &done).await.unwrap(),
            WebhookOutcome::AlreadyDone
        );
        assert_eq!(
            t.deliver("msg_2", &failed).await.unwrap(),
            WebhookOutcome::AlreadyDone
        );
        assert_eq!(t.pushed("a1").len(), 2);
        let stored = t.stored("alice", &job.id).await;
        assert_eq!(stored.status, JobStatus::Completed);
    }

    /// A job store whose reads find the job still waiting, while another
    /// delivery finishes it just after: the webhook's early check passes,
    /// and only the conditional move can tell.
    struct FinishedBehindTheRead {
        inner: std::sync::Arc<dyn crate::ports::JobStore>,
    }

    #[async_trait::async_trait]
    impl crate::ports::JobStore for FinishedBehindTheRead {
        async fn create(&self, job: &crate::Job) -> Result<()> {
            self.inner.create(job).await
        }
        async fn get(&self, id: &JobId) -> Result<Option<crate::Job>> {
            let read = self.inner.get(id).await?;
            if let Some(job) = read.as_ref().filter(|j| !j.status.is_terminal()) {
                let mut done = job.clone();
                done.result = Some(serde_json::json!("the other delivery's"));
                let done = done.move_to(JobStatus::Completed, job.updated_at, 65536)?;
                self.inner.apply(&done).await?;
            }
            Ok(read)
        }
        async fn list(
            &self,
            owner: &crate::UserId,
            limit: usize,
            after: Option<&crate::ports::ListCursor>,
        ) -> Result<Vec<crate::ports::Listed>> {
            self.inner.list(owner, limit, after).await
        }
        async fn apply(&self, moved: &crate::Moved) -> Result<crate::Applied> {
            self.inner.apply(moved).await
        }
        async fn progress(
            &self,
            id: &JobId,
            progress: &Progress,
        ) -> Result<crate::ports::Progressed> {
            self.inner.progress(id, progress).await
        }
        async fn uploading(
            &self,
            owner: &crate::UserId,
            since: chrono::DateTime<chrono::Utc>,
            at_most: usize,
        ) -> Result<usize> {
            self.inner.uploading(owner, since, at_most).await
        }
        async fn waiting(
            &self,
            what: crate::ports::Waiting,
            before: chrono::DateTime<chrono::Utc>,
            limit: usize,
        ) -> Result<Vec<Result<crate::Job>>> {
            self.inner.waiting(what, before, limit).await
        }
    }

    #[tokio::test]
    async fn a_job_finished_between_the_webhooks_read_and_its_move_moves_once_and_is_not_pushed() {
        // GIVEN alice's submitted job, and a store in which another
        // delivery finishes it right after this webhook reads it
        let mut t = TestApp::new();
        t.connect("a1", "alice").await;
        let job = t.upload("alice").await;
        let pushed = t.pushed("a1").len();
        t.wrap_jobs(|inner| std::sync::Arc::new(FinishedBehindTheRead { inner }));
        // WHEN a result comes
        let body =
            serde_json::json!({"job_id": job.id.as_str(), "status": "failed", "error": "late"});
        let out = t.deliver("msg_race", &body).await.unwrap();
        // THEN it is acknowledged and changes nothing: the other delivery's
        // result stands, and no second event is pushed
        assert_eq!(out, WebhookOutcome::AlreadyDone);
        let stored = t.stored("alice", &job.id).await;
        assert_eq!(stored.status, JobStatus::Completed);
        assert_eq!(
            stored.result,
            Some(serde_json::json!("the other delivery's"))
        );
        assert_eq!(t.pushed("a1").len(), pushed);
    }

    #[tokio::test]
    async fn a_result_that_beats_the_third_partys_reply_skips_submitted() {
        // GIVEN a third party that calls back before it answers the upload
        let t = TestApp::with_third_party(ThirdParty::CallsBackFirst);
        t.connect("a1", "alice").await;
        // WHEN alice uploads
        let job = t.upload("alice").await;
        // THEN the upload answers completed, and job.submitted never follows
        assert_eq!(job.status, JobStatus::Completed);
        let got = t.pushed("a1");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["type"], "job.completed");
        assert_eq!(got[0]["seq"], 1);
    }

    #[tokio::test]
    async fn unknown_jobs_and_malformed_bodies_are_refused_after_the_signature() {
        let t = TestApp::new();
        // Any job_id never issued, whatever its shape, is 404.
        for (n, job_id) in [
            serde_json::json!(crate::JobId::generate().as_str()),
            serde_json::json!("x"),
            serde_json::json!("../../etc/passwd"),
            serde_json::json!(""),
            serde_json::json!(42),
            serde_json::json!(null),
            serde_json::json!({"id": 1}),
        ]
        .into_iter()
        .enumerate()
        {
            let unknown = serde_json::json!({"job_id": job_id, "status": "completed", "result": 1});
            assert!(
                matches!(
                    t.deliver(&format!("m1-{n}"), &unknown).await.unwrap_err(),
                    crate::Error::NotFound(_)
                ),
                "{unknown}"
            );
        }
        for bad in [
            serde_json::json!({"status": "completed"}),
            serde_json::json!({"job_id": crate::JobId::generate().as_str(), "status": "done"}),
        ] {
            assert!(
                matches!(
                    t.deliver("m2", &bad).await.unwrap_err(),
                    crate::Error::Invalid(_)
                ),
                "{bad}"
            );
        }
    }

    fn processing(job: &crate::Job, progress: f64) -> serde_json::Value {
        serde_json::json!({"job_id": job.id.as_str(), "status": "processing", "progress": progress, "message": format!("at {progress}")})
    }

    #[tokio::test]
    async fn progress_reaches_every_tab_of_the_owner_with_no_seq_and_stays_out_of_the_log() {
        // GIVEN alice with two tabs, bob with one, and alice's submitted job
        let t = TestApp::new();
        t.connect("a1", "alice").await;
        t.connect("a2", "alice").await;
        t.connect("b1", "bob").await;
        let job = t.upload("alice").await;
        // WHEN the third party reports progress
        let out = t.deliver("msg_p1", &processing(&job, 0.25)).await.unwrap();
        // THEN both of alice's tabs get it, without a seq; bob gets nothing
        assert_eq!(out, WebhookOutcome::Progressed);
        for tab in ["a1", "a2"] {
            let got = t.pushed(tab);
            let last = got.last().unwrap();
            assert_eq!(last["type"], "job.progress");
            assert!(last.get("seq").is_none(), "{last}");
            assert_eq!(last["job"]["progress"], 0.25);
            assert_eq!(last["job"]["progressMessage"], "at 0.25");
            assert_eq!(last["job"]["status"], "submitted");
        }
        assert!(t.pushed("b1").is_empty());
        // AND the job shows it, while the log holds only job.submitted
        let stored = t.stored("alice", &job.id).await;
        assert_eq!(stored.view().progress, Some(0.25));
        let events = t
            .app
            .queries
            .events_since(&t.user("alice"), 0, 100)
            .await
            .unwrap();
        assert_eq!(events.events.len(), 1);
        assert_eq!(events.last_seq, 1);
        // AND the next event of the log is seq 2, without progress
        let done =
            serde_json::json!({"job_id": job.id.as_str(), "status": "completed", "result": 1});
        t.deliver("msg_done", &done).await.unwrap();
        let last = t.pushed("a1").pop().unwrap();
        assert_eq!(
            (last["seq"].as_u64(), last["type"].as_str()),
            (Some(2), Some("job.completed"))
        );
        assert!(last["job"].get("progress").is_none());
        assert!(t.stored("alice", &job.id).await.view().progress.is_none());
    }

    #[tokio::test]
    async fn older_repeated_and_late_progress_changes_nothing() {
        let t = TestApp::new();
        t.connect("a1", "alice").await;
        let job = t.upload("alice").await;
        let now = chrono::Utc::now().timestamp();
        let kept = t
            .deliver_sent("m2", now, &processing(&job, 0.5))
            .await
            .unwrap();
        assert_eq!(kept, WebhookOutcome::Progressed);
        let pushed = t.pushed("a1").len();
        // Older, and the same delivery again: acknowledged, nothing pushed.
        for (id, ts, p) in [("m1", now - 5, 0.9), ("m2", now, 0.5)] {
            let out = t.deliver_sent(id, ts, &processing(&job, p)).await.unwrap();
            assert_eq!(out, WebhookOutcome::AlreadyDone, "{id}");
        }
        assert_eq!(t.pushed("a1").len(), pushed);
        assert_eq!(t.stored("alice", &job.id).await.view().progress, Some(0.5));
        // Another delivery in the same second is newer news.
        let same_second = t
            .deliver_sent("m3", now, &processing(&job, 0.6))
            .await
            .unwrap();
        assert_eq!(same_second, WebhookOutcome::Progressed);
        // Once the job is finished, progress is late.
        let failed =
            serde_json::json!({"job_id": job.id.as_str(), "status": "failed", "error": "x"});
        t.deliver("m4", &failed).await.unwrap();
        let pushed = t.pushed("a1").len();
        let late = t
            .deliver_sent("m5", now + 1, &processing(&job, 0.7))
            .await
            .unwrap();
        assert_eq!(late, WebhookOutcome::AlreadyDone);
        assert_eq!(t.pushed("a1").len(), pushed);
    }

    #[tokio::test]
    async fn bad_progress_is_refused_and_unknown_jobs_are_404() {
        let t = TestApp::new();
        let job = t.upload("alice").await;
        let id = job.id.as_str();
        for bad in [
            serde_json::json!({"job_id": id, "status": "processing"}),
            serde_json::json!({"job_id": id, "status": "processing", "progress": 1.5}),
            serde_json::json!({"job_id": id, "status": "processing", "progress": -0.1}),
            serde_json::json!({"job_id": id, "status": "processing", "progress": "half"}),
            serde_json::json!({"job_id": id, "status": "processing", "progress": null}),
            serde_json::json!({"job_id": id, "status": "processing", "message": 3}),
        ] {
            let e = t.deliver("m", &bad).await.unwrap_err();
            assert!(matches!(e, crate::Error::Invalid(_)), "{bad}: {e:?}");
        }
        let only_message =
            serde_json::json!({"job_id": id, "status": "processing", "message": "warming up"});
        assert_eq!(
            t.deliver("m1", &only_message).await.unwrap(),
            WebhookOutcome::Progressed
        );
        let unknown = serde_json::json!({"job_id": crate::JobId::generate().as_str(), "status": "processing", "progress": 0.1});
        assert!(matches!(
            t.deliver("m2", &unknown).await.unwrap_err(),
            crate::Error::NotFound(_)
        ));
    }

    #[tokio::test]
    async fn a_move_keeps_the_progress_it_did_not_read() {
        // GIVEN a job handed over (pending) that gets progress before the
        // third party's 2xx is written
        let t = TestApp::with_third_party(ThirdParty::ReportsProgressFirst);
        // WHEN the upload answers
        let job = t.upload("alice").await;
        // THEN the job is submitted, and still shows the progress
        assert_eq!(job.status, JobStatus::Submitted);
        let stored = t.stored("alice", &job.id).await;
        assert_eq!(stored.view().progress, Some(0.1));
    }
}
