//! `POST /uploads`: store the file, hand it to the third party, tell the tabs.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::Connections;
use crate::limits::ThirdPartyMode;
use crate::ports::{
    body_of, Clock, FileBody, FileStore, FileUrl, Handover, JobStore, Processor, Submission,
    SubmitError, UploadQuota,
};
use crate::{Applied, Error, Job, JobId, JobStatus, Limits, Result, UserId};

/// An attempt the budget would cut below this is not made: it could only
/// time out.
const MIN_ATTEMPT: std::time::Duration = std::time::Duration::from_millis(500);

/// The longest file name kept (longer ones are cut, on a char boundary).
const MAX_FILE_NAME_CHARS: usize = 255;

/// A file as it arrived in the upload.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Bytes,
}

#[derive(Debug)]
pub enum UploadOutcome {
    /// The third party took it (the job may even be finished already).
    Accepted(Job),
    /// The third party refused or did not answer: the job is `failed`.
    Refused(Job),
}

/// Files in, handed to the third party: `POST /uploads` in both forms,
/// and the hand-over of a file stored by a presigned `PUT`.
#[derive(Clone)]
pub struct Uploads {
    pub(super) jobs: Arc<dyn JobStore>,
    pub(super) files: Arc<dyn FileStore>,
    pub(super) quota: Arc<dyn UploadQuota>,
    pub(super) processor: Arc<dyn Processor>,
    pub(super) connections: Connections,
    pub(super) clock: Arc<dyn Clock>,
    /// Where the third party sends its result (`.../webhooks/third-party`).
    pub(super) callback_url: String,
    pub(super) limits: Limits,
}

impl Uploads {
    /// The largest file `POST /uploads` takes in its body.
    pub fn max_upload_bytes(&self) -> usize {
        self.limits.max_upload_bytes
    }

    /// A file in the request's body: stored, its job made, and handed to
    /// the third party within the submit budget.
    pub async fn upload(&self, user: &UserId, file: UploadedFile) -> Result<UploadOutcome> {
        let limits = self.limits.clone();
        // The budget runs from the request's arrival: a slow store leaves
        // the third party less time, never the function less time.
        let now = self.clock.now();
        let deadline = now + chrono::Duration::from_std(limits.submit_budget).unwrap_or_default();
        if file.bytes.len() > limits.max_upload_bytes {
            return Err(too_large(limits.max_upload_bytes));
        }
        self.count_upload(user, now).await?;
        let job = new_job(
            user,
            JobStatus::Pending,
            "uploads/",
            &file.file_name,
            &file.content_type,
            file.bytes.len() as u64,
            now,
        );
        // File first, then the record: a job never points at a missing file.
        self.files
            .put(&job.file_key, &job.content_type, file.bytes.clone())
            .await?;
        self.jobs.create(&job).await?;
        info!(job_id = %job.id, user = %user, size = job.size, "job created");

        let bytes = file.bytes;
        let open = move || {
            let bytes = bytes.clone();
            async move { Ok(body_of(bytes)) }
        };
        self.hand_over(job, open, deadline).await
    }

    /// Hands a `pending` job's file to the third party (each attempt
    /// reading it afresh from `open`) by `deadline`, then moves the job
    /// to `submitted` or `failed` and pushes that.
    pub(crate) async fn hand_over<F, Fut>(
        &self,
        mut job: Job,
        open: F,
        deadline: chrono::DateTime<chrono::Utc>,
    ) -> Result<UploadOutcome>
    where
        F: Fn() -> Fut + Send + Sync,
        Fut: std::future::Future<Output = Result<FileBody>> + Send,
    {
        let submission = Submission {
            job_id: job.id.clone(),
            file_name: job.file_name.clone(),
            content_type: job.content_type.clone(),
            size: job.size,
            callback_url: self.callback_url.clone(),
        };
        // In url mode the third party fetches the file itself: one URL for
        // every attempt, and the file is never read here.
        let file_url = match self.limits.third_party_mode {
            ThirdPartyMode::Multipart => None,
            ThirdPartyMode::Url => {
                // Whole seconds: what a signed URL can say.
                let expires_at = chrono::SubsecRound::trunc_subsecs(
                    self.clock.now()
                        + chrono::Duration::from_std(self.limits.file_url_ttl).unwrap_or_default(),
                    0,
                );
                let url = self
                    .files
                    .presign_get(&job.file_key, &job.content_type, expires_at)
                    .await?;
                Some(FileUrl { url, expires_at })
            }
        };
        let handed = self
            .submit_with_retries(&submission, open, file_url.as_ref(), deadline)
            .await;
        match handed {
            Ok(()) => {
                let (job, _) = self.advance(job, JobStatus::Submitted).await?;
                Ok(UploadOutcome::Accepted(job))
            }
            Err(why) => {
                crate::metrics::count(crate::metrics::THIRD_PARTY_FAILURES);
                warn!(job_id = %job.id, user = %job.owner, error = %why, "third party did not take the file");
                job.error = Some(format!("the third party did not accept the file: {why}"));
                let (job, moved) = self.advance(job, JobStatus::Failed).await?;
                // The webhook may have beaten a late 2xx that we gave up on:
                // then the third party has the file and this is no failure.
                Ok(if moved {
                    UploadOutcome::Refused(job)
                } else {
                    UploadOutcome::Accepted(job)
                })
            }
        }
    }

    /// Moves `job` to `to` now if it is still where it was, then pushes
    /// the move's event, and returns it with `true`. If someone else moved
    /// it first, returns the job as stored with `false`, and pushes nothing.
    pub(crate) async fn advance(&self, job: Job, to: JobStatus) -> Result<(Job, bool)> {
        let moved = job.move_to(to, self.clock.now(), self.limits.max_push_bytes)?;
        match self.jobs.apply(&moved).await? {
            Applied::Moved(event) => {
                let job = moved.job;
                let seq = event.as_ref().map(|e| e.seq);
                info!(job_id = %job.id, user = %job.owner, seq = ?seq, status = job.status.as_str(), "job moved");
                if let Some(event) = event {
                    self.connections.notify(&job.owner, &event).await;
                }
                Ok((job, true))
            }
            Applied::Lost => {
                let id = &moved.job.id;
                let stored = self.jobs.get(id).await?;
                let stored = stored.ok_or_else(|| Error::internal(format!("job {id} vanished")))?;
                Ok((stored, false))
            }
        }
    }

    /// One attempt and up to `submit_attempts - 1` retries, with backoff,
    /// all by `deadline`: each attempt gets [`crate::Limits::attempt_timeout`]
    /// or what is left until the deadline, whichever is less.
    async fn submit_with_retries<F, Fut>(
        &self,
        s: &Submission,
        open: F,
        file_url: Option<&FileUrl>,
        deadline: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), SubmitError>
    where
        F: Fn() -> Fut + Send + Sync,
        Fut: std::future::Future<Output = Result<FileBody>> + Send,
    {
        let limits = &self.limits;
        let clock = &self.clock;
        let left = || (deadline - clock.now()).to_std().unwrap_or_default();
        // A URL sends no bytes: the answer's 10 s alone.
        let full = limits.attempt_timeout(if file_url.is_some() { 0 } else { s.size });
        let mut delay = limits.submit_backoff;
        let mut last = SubmitError::TimedOut;
        let processor = &self.processor;
        for attempt in 1..=limits.submit_attempts.max(1) {
            let timeout = full.min(left());
            if timeout < full.min(MIN_ATTEMPT) {
                warn!(job_id = %s.job_id, attempt, "no time left for another attempt");
                break;
            }
            let what = match file_url {
                Some(url) => Handover::Url(url.clone()),
                None => match open().await {
                    Ok(body) => Handover::File(body),
                    Err(e) => {
                        warn!(job_id = %s.job_id, attempt, error = %e, "could not read the stored file");
                        return Err(SubmitError::Unreadable);
                    }
                },
            };
            match processor.submit(s, what, timeout).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    warn!(job_id = %s.job_id, attempt, error = %e, "third party submission failed");
                    last = e;
                }
            }
            if attempt < limits.submit_attempts {
                clock.sleep(delay.min(left())).await;
                delay *= 2;
            }
        }
        Err(last)
    }
}

impl Uploads {
    /// Counts one of `user`'s uploads against the minute's limit, or
    /// refuses it until that minute ends (429 with `Retry-After`).
    pub(super) async fn count_upload(&self, user: &UserId, now: DateTime<Utc>) -> Result<()> {
        let max = self.limits.max_uploads_per_minute;
        match self.quota.take(user, max, now).await? {
            None => Ok(()),
            Some(end) => Err(Error::RateLimited {
                message: format!("too many uploads: at most {max} a minute"),
                retry_after: Some((end - now).to_std().unwrap_or_default()),
            }),
        }
    }
}

pub(crate) fn too_large(max: usize) -> Error {
    Error::TooLarge(format!("file is larger than the limit of {max} bytes"))
}

/// A new job of `user`'s, its file kept under `key_prefix` and its id
/// (never the client's file name), its name and type cleaned for display.
pub(crate) fn new_job(
    user: &UserId,
    status: JobStatus,
    key_prefix: &str,
    file_name: &str,
    content_type: &str,
    size: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Job {
    let id = JobId::generate();
    Job {
        file_key: format!("{key_prefix}{id}"),
        id,
        owner: user.clone(),
        status,
        file_name: clean_file_name(file_name),
        content_type: clean_content_type(content_type),
        size,
        created_at: now,
        updated_at: now,
        result: None,
        error: None,
        progress: None,
    }
}

fn clean_file_name(name: &str) -> String {
    // Keep the last path component only (browsers on Windows once sent full
    // paths) and drop control and format characters (Unicode Cc and Cf:
    // bidi overrides would show `evil\u{202E}fdp.exe` as `evilexe.pdf`);
    // the name is shown, never used as a key.
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|&c| !c.is_control() && !crate::domain::is_format(c))
        .take(MAX_FILE_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim().to_owned();
    if cleaned.is_empty() {
        "upload".to_owned()
    } else {
        cleaned
    }
}

fn clean_content_type(ct: &str) -> String {
    let ct = ct.trim();
    let ok = !ct.is_empty()
        && ct.len() <= 255
        && ct.is_ascii()
        && !ct.chars().any(|c| c.is_ascii_control());
    if ok {
        ct.to_owned()
    } else {
        "application/octet-stream".to_owned()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::memory::{TestApp, ThirdParty};

    pub(crate) fn file(body: &str) -> UploadedFile {
        UploadedFile {
            file_name: "C:\\Users\\a\\notes.txt".into(),
            content_type: "text/plain".into(),
            bytes: Bytes::from(body.to_owned()),
        }
    }

    #[tokio::test]
    async fn an_accepted_upload_is_submitted_and_every_tab_of_its_owner_hears_it() {
        // GIVEN alice with two tabs and bob with one
        let t = TestApp::new();
        t.connect("a1", "alice").await;
        t.connect("a2", "alice").await;
        t.connect("b1", "bob").await;
        // WHEN alice uploads
        let UploadOutcome::Accepted(job) = t
            .app
            .uploads
            .upload(&t.user("alice"), file("hello world"))
            .await
            .unwrap()
        else {
            panic!()
        };
        // THEN the job is submitted, the file stored under a generated key,
        // and both of alice's tabs (only) got job.submitted with seq 1
        assert_eq!(job.status, JobStatus::Submitted);
        assert_eq!(job.file_name, "notes.txt");
        assert!(!job.file_key.contains("notes"));
        assert_eq!(t.files.get(&job.file_key).unwrap().as_ref(), b"hello world");
        for tab in ["a1", "a2"] {
            let got = t.pushed(tab);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0]["seq"], 1);
            assert_eq!(got[0]["type"], "job.submitted");
        }
        assert!(t.pushed("b1").is_empty());
    }

    #[tokio::test]
    async fn a_refusing_third_party_is_retried_twice_then_the_job_fails() {
        let t = TestApp::with_third_party(ThirdParty::Refuses);
        t.connect("a1", "alice").await;
        let UploadOutcome::Refused(job) = t
            .app
            .uploads
            .upload(&t.user("alice"), file("x"))
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(t.submissions(), 3);
        let got = t.pushed("a1");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["type"], "job.failed");
        assert!(got[0]["job"]["error"]
            .as_str()
            .unwrap()
            .contains("did not accept"));
    }

    /// The timeout each attempt at the third party was given, in seconds
    /// to a tenth.
    fn attempt_secs(t: &TestApp) -> Vec<f64> {
        t.submission_timeouts()
            .iter()
            .map(|d| (d.as_secs_f64() * 10.0).round() / 10.0)
            .collect()
    }

    #[tokio::test]
    async fn a_hanging_third_party_gets_its_attempts_within_the_budget_and_the_job_fails() {
        // GIVEN a third party that never answers, and the default limits:
        // 10 s per attempt, 0.5 s then 1 s of backoff, 25 s in all
        let t = TestApp::with_third_party(ThirdParty::Hangs);
        let limits = t.limits().clone();
        // WHEN alice uploads
        let started = t.now();
        let outcome = t
            .app
            .uploads
            .upload(&t.user("alice"), file("x"))
            .await
            .unwrap();
        // THEN two full attempts and a last one cut to what the budget left
        // (API Gateway would cut the whole request off at 30 s), and the
        // job failed, recorded, within the budget
        let UploadOutcome::Refused(job) = outcome else {
            panic!("expected a refusal")
        };
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(attempt_secs(&t), [10.0, 10.0, 3.5]);
        let spent = (t.now() - started).to_std().unwrap();
        assert!(spent <= limits.submit_budget + std::time::Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_slow_store_leaves_the_third_party_less_time_and_the_upload_still_ends_within_its_budget(
    ) {
        // GIVEN a store that takes 20 s to keep the file, and a third party
        // that never answers
        let mut t = TestApp::with_third_party(ThirdParty::Hangs);
        t.set_store_delay(std::time::Duration::from_secs(20));
        let limits = t.limits().clone();
        // WHEN alice uploads
        let started = t.now();
        let outcome = t
            .app
            .uploads
            .upload(&t.user("alice"), file("x"))
            .await
            .unwrap();
        // THEN the one attempt gets the 5 s left of the 25 s budget, and the
        // job is failed, recorded, by the budget's end
        let UploadOutcome::Refused(job) = outcome else {
            panic!("expected a refusal")
        };
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(attempt_secs(&t), [5.0]);
        let spent = (t.now() - started).to_std().unwrap();
        assert!(spent <= limits.submit_budget + std::time::Duration::from_secs(1));
    }

    #[tokio::test]
    async fn an_oversized_upload_is_refused_before_anything_is_written() {
        let mut t = TestApp::new();
        t.set_max_upload(4);
        let err = t
            .app
            .uploads
            .upload(&t.user("alice"), file("12345"))
            .await
            .unwrap_err();
        assert!(matches!(err, crate::Error::TooLarge(_)));
        assert!(t
            .app
            .queries
            .list_jobs(&t.user("alice"), 50, None)
            .await
            .unwrap()
            .jobs
            .is_empty());
        assert_eq!(t.submissions(), 0);
    }
}
