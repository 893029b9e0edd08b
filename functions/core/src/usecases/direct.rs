//! Large files, straight to storage: `POST /uploads` with JSON creates an
//! `uploading` job and a presigned PUT; once the bytes are stored (S3's
//! notification on AWS, the stack's own PUT route locally) the file goes
//! to the third party, streamed from storage, as any upload.

use chrono::Duration;
use serde::Deserialize;
use tracing::{info, warn};

use super::upload::new_job;
use super::{UploadOutcome, Uploads};
use crate::limits::S3_MAX_PUT_BYTES;
use crate::ports::{PresignedPut, Waiting};
use crate::{Error, Job, JobId, JobStatus, Result, UserId};

/// Where files sent straight to storage are kept: one prefix, so that S3's
/// notification fires for these and not for the multipart route's
/// `uploads/<id>`.
pub const DIRECT_PREFIX: &str = "uploads/direct/";

/// The error of a job whose bytes never came (the contract's words).
pub const NOT_RECEIVED: &str = "upload not received";

/// `POST /uploads` with `content-type: application/json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUpload {
    pub file_name: String,
    #[serde(deserialize_with = "whole_number")]
    pub size: u64,
    pub content_type: String,
}

/// A JSON integer, `1.0` included (JSON Schema counts it as one); never a
/// fraction, a negative or anything past `u64`.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(u) = n.as_u64() {
        return Ok(u);
    }
    match n.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64 => Ok(f as u64),
        _ => Err(serde::de::Error::custom(format!(
            "size must be a whole number of bytes, not {n}"
        ))),
    }
}

/// Where and how the client sends the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTicket {
    pub put: PresignedPut,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// What became of a stored file.
#[derive(Debug)]
pub enum Stored {
    /// Handed to the third party, or refused by it (the job says which).
    HandedOver(Box<UploadOutcome>),
    /// Not a job of ours waiting for its bytes: a repeated notification,
    /// a job already failed for its expired URL, or a key we never issued.
    Ignored,
}

impl Uploads {
    /// Creates an `uploading` job and the PUT that delivers its bytes.
    pub async fn begin_upload(&self, user: &UserId, req: NewUpload) -> Result<(Job, UploadTicket)> {
        let limits = &self.limits;
        if req.size > limits.max_file_bytes.min(S3_MAX_PUT_BYTES) {
            return Err(Error::TooLarge(format!(
                "file is larger than the limit of {} bytes",
                limits.max_file_bytes.min(S3_MAX_PUT_BYTES)
            )));
        }
        if req.file_name.trim().is_empty() {
            return Err(Error::Invalid("fileName must not be empty".into()));
        }
        if !is_media_type(&req.content_type) {
            return Err(Error::Invalid(
                "contentType must be a media type such as \"text/csv\"".into(),
            ));
        }
        let now = self.clock.now();
        // Those still waiting for their bytes: each holds a URL and a job
        // the sweep must fail if nothing comes.
        let ttl = Duration::from_std(limits.upload_url_ttl).unwrap_or(Duration::minutes(15));
        let max_open = limits.max_open_uploads;
        if self.jobs.uploading(user, now - ttl, max_open).await? >= max_open {
            return Err(Error::RateLimited {
                message: format!("too many uploads waiting for their bytes: at most {max_open}"),
                // The soonest one of them can end: its URL expires.
                retry_after: Some(
                    limits
                        .upload_url_ttl
                        .min(std::time::Duration::from_secs(60)),
                ),
            });
        }
        self.count_upload(user, now).await?;
        let job = new_job(
            user,
            JobStatus::Uploading,
            DIRECT_PREFIX,
            &req.file_name,
            &req.content_type,
            req.size,
            now,
        );
        let ticket = self.upload_ticket(&job).await?;
        self.jobs.create(&job).await?;
        info!(job_id = %job.id, user = %user, size = job.size, "job created, waiting for its upload");
        Ok((job, ticket))
    }

    /// A presigned PUT for `job`'s bytes, valid until the job's own upload
    /// deadline (its creation plus the URL's life, when the sweep fails
    /// it): for a new job, and for a retried request that may never have
    /// seen the first. A URL past that deadline would store bytes nothing
    /// reads; after it, `Conflict`.
    pub async fn upload_ticket(&self, job: &Job) -> Result<UploadTicket> {
        let ttl = self.limits.upload_url_ttl;
        let expires_at = job.created_at + Duration::from_std(ttl).unwrap_or(Duration::minutes(15));
        if expires_at <= self.clock.now() {
            return Err(Error::Conflict(
                "this upload's time to send its bytes is over".into(),
            ));
        }
        let put = self
            .files
            .presign_put(&job.file_key, &job.content_type, job.size, expires_at)
            .await?;
        Ok(UploadTicket { put, expires_at })
    }

    /// The bytes of `key` are stored (`size` of them, as storage reports):
    /// the job moves to `pending` (exactly one caller wins, whatever the
    /// notifications repeat) and its file is streamed to the third party.
    ///
    /// A job already `pending` is being handed over by another call, or
    /// that call died: this one fails (`Internal`), so that Lambda retries
    /// it and, once its retries are spent, the on-failure destination
    /// fails the job ([`Uploads::hand_over_failed`]) if it still waits.
    pub async fn file_stored(&self, key: &str, size: u64) -> Result<Stored> {
        let Some(job) = self.upload_of(key).await? else {
            info!(key, "stored file is no upload of ours; ignored");
            return Ok(Stored::Ignored);
        };
        match job.status {
            JobStatus::Uploading => {}
            JobStatus::Pending => {
                return Err(Error::internal(format!(
                    "job {} is being handed over by another call",
                    job.id
                )))
            }
            _ => {
                info!(job_id = %job.id, "upload already handed over; ignored");
                return Ok(Stored::Ignored);
            }
        }
        if size != job.size {
            // A presigned PUT signs the length, so this is a store that
            // does not enforce it: the job fails rather than lie.
            let why = format!(
                "the stored file is {size} bytes, not the {} declared",
                job.size
            );
            return self.fail_upload(job, &why).await;
        }
        let (job, moved) = self.advance(job, JobStatus::Pending).await?;
        if !moved {
            info!(job_id = %job.id, "another notification took this upload; ignored");
            return Ok(Stored::Ignored);
        }
        info!(job_id = %job.id, user = %job.owner, size, "upload stored; handing it over");
        let files = self.files.clone();
        let key = key.to_owned();
        let open = move || {
            let files = files.clone();
            let key = key.clone();
            async move { files.open(&key).await }
        };
        let budget = self.limits.submit_async_budget;
        let deadline = self.clock.now() + Duration::from_std(budget).unwrap_or_default();
        Ok(Stored::HandedOver(Box::new(
            self.hand_over(job, open, deadline).await?,
        )))
    }

    /// Handing `key`'s file over failed for good (every retry of the
    /// `submit` Lambda, then its on-failure destination): the job fails
    /// and is pushed, instead of waiting for the sweep.
    pub async fn hand_over_failed(&self, key: &str, why: &str) -> Result<Stored> {
        let Some(job) = self.upload_of(key).await? else {
            return Ok(Stored::Ignored);
        };
        if !matches!(job.status, JobStatus::Uploading | JobStatus::Pending) {
            return Ok(Stored::Ignored);
        }
        warn!(job_id = %job.id, error = %why, "handing the file over failed for good");
        self.fail_upload(
            job,
            &format!("the file could not be handed to the third party: {why}"),
        )
        .await
    }

    /// Jobs still waiting for their bytes, oldest first, at most `limit`;
    /// one that cannot be read is left out (the sweep counts it). The
    /// local stack hands over, at start, those whose bytes it holds.
    pub async fn uploads_waiting(&self, limit: usize) -> Result<Vec<Job>> {
        let now = self.clock.now();
        let found = self.jobs.waiting(Waiting::Upload, now, limit).await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Whether `key` may still take its bytes: only while its job is
    /// `uploading`. After that the stored file never changes under the
    /// job (409). (On AWS, S3 enforces it: the URL is signed with
    /// `If-None-Match: *`, and a second PUT gets S3's 412.)
    pub async fn accepts_bytes(&self, key: &str) -> Result<()> {
        match self.upload_of(key).await? {
            Some(job) if job.status == JobStatus::Uploading => Ok(()),
            Some(job) => Err(Error::Conflict(format!(
                "this upload's job is {}: its file can no longer change",
                job.status.as_str()
            ))),
            None => Err(Error::NotFound("no upload waits for this file".into())),
        }
    }

    /// The job whose file `key` is.
    async fn upload_of(&self, key: &str) -> Result<Option<Job>> {
        let Some(id) = key
            .strip_prefix(DIRECT_PREFIX)
            .and_then(|s| JobId::parse(s).ok())
        else {
            return Ok(None);
        };
        Ok(self.jobs.get(&id).await?.filter(|j| j.file_key == key))
    }

    async fn fail_upload(&self, mut job: Job, why: &str) -> Result<Stored> {
        job.error = Some(why.to_owned());
        let (job, moved) = self.advance(job, JobStatus::Failed).await?;
        Ok(if moved {
            Stored::HandedOver(Box::new(UploadOutcome::Refused(job)))
        } else {
            Stored::Ignored
        })
    }
}

/// `type/subtype`, optionally with parameters: what S3 stores and a
/// browser sends as `content-type`.
fn is_media_type(ct: &str) -> bool {
    let essence = ct.split(';').next().unwrap_or("").trim();
    let Some((ty, sub)) = essence.split_once('/') else {
        return false;
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    ct.len() <= 255
        && ct.is_ascii()
        && !ct.chars().any(|c| c.is_ascii_control())
        && token(ty)
        && token(sub)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{TestApp, ThirdParty};

    fn new_upload(size: u64) -> NewUpload {
        NewUpload {
            file_name: "big.csv".into(),
            size,
            content_type: "text/csv".into(),
        }
    }

    #[tokio::test]
    async fn a_stored_upload_is_streamed_to_the_third_party_and_every_tab_hears_it() {
        // GIVEN alice with two tabs and an upload begun
        let t = TestApp::new();
        t.connect("a1", "alice").await;
        t.connect("a2", "alice").await;
        let (job, ticket) = t
            .app
            .uploads
            .begin_upload(&t.user("alice"), new_upload(11))
            .await
            .unwrap();
        assert_eq!(job.status, JobStatus::Uploading);
        assert_eq!(job.view().status, JobStatus::Uploading);
        assert!(ticket.put.url.contains(&job.file_key));
        // (no tab hears of a job still uploading)
        assert!(t.pushed("a1").is_empty());
        // WHEN its bytes are stored
        t.files.put(&job.file_key, "hello world");
        let Stored::HandedOver(outcome) =
            t.app.uploads.file_stored(&job.file_key, 11).await.unwrap()
        else {
            panic!("expected a hand-over")
        };
        let UploadOutcome::Accepted(done) = *outcome else {
            panic!("expected an acceptance")
        };
        // THEN the third party got them, and both tabs job.submitted
        assert_eq!(done.status, JobStatus::Submitted);
        assert_eq!(t.submitted_bytes(), vec![b"hello world".to_vec()]);
        for tab in ["a1", "a2"] {
            let got = t.pushed(tab);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0]["type"], "job.submitted");
        }
    }

    #[tokio::test]
    async fn a_retried_declarations_url_ends_with_the_jobs_own_upload_deadline() {
        // GIVEN an upload declared, its URL valid for the configured life
        let t = TestApp::new();
        let (job, first) = t
            .app
            .uploads
            .begin_upload(&t.user("alice"), new_upload(2))
            .await
            .unwrap();
        let life = t.limits().upload_url_ttl;
        // WHEN the request is retried halfway through that life
        t.advance(life / 2);
        let again = t.app.uploads.upload_ticket(&job).await.unwrap();
        // THEN its URL ends when the first one does, not a life later
        assert_eq!(again.expires_at, first.expires_at);
        // AND once the deadline has passed there is no URL to hand out
        t.advance(life);
        let late = t.app.uploads.upload_ticket(&job).await.unwrap_err();
        assert!(matches!(late, crate::Error::Conflict(_)), "{late:?}");
    }

    #[tokio::test]
    async fn a_repeated_notification_hands_the_file_over_once() {
        let t = TestApp::new();
        let (job, _) = t
            .app
            .uploads
            .begin_upload(&t.user("alice"), new_upload(2))
            .await
            .unwrap();
        t.files.put(&job.file_key, "hi");
        t.app.uploads.file_stored(&job.file_key, 2).await.unwrap();
        let again = t.app.uploads.file_stored(&job.file_key, 2).await.unwrap();
        assert!(matches!(again, Stored::Ignored));
        assert_eq!(t.submissions(), 1);
    }

    #[tokio::test]
    async fn a_notification_for_a_job_in_hand_elsewhere_fails_so_lambda_retries_it() {
        // GIVEN an upload whose hand-over another call has claimed
        let t = TestApp::new();
        let (job, _) = t
            .app
            .uploads
            .begin_upload(&t.user("alice"), new_upload(2))
            .await
            .unwrap();
        let claimed = job
            .clone()
            .move_to(JobStatus::Pending, job.updated_at, 65536);
        assert_eq!(
            t.jobs().apply(&claimed.unwrap()).await.unwrap(),
            crate::Applied::Moved(None)
        );
        // WHEN the notification comes again THEN it is an error, and the
        // third party got nothing from this call
        assert!(t.app.uploads.file_stored(&job.file_key, 2).await.is_err());
        assert_eq!(t.submissions(), 0);
    }

    #[tokio::test]
    async fn a_file_of_another_size_fails_the_job() {
        let t = TestApp::new();
        t.connect("a1", "alice").await;
        let (job, _) = t
            .app
            .uploads
            .begin_upload(&t.user("alice"), new_upload(5))
            .await
            .unwrap();
        t.files.put(&job.file_key, "123");
        t.app.uploads.file_stored(&job.file_key, 3).await.unwrap();
        let got = t.pushed("a1");
        assert_eq!(got[0]["type"], "job.failed");
        assert_eq!(t.submissions(), 0);
    }

    #[tokio::test]
    async fn a_refusing_third_party_fails_the_stored_upload() {
        let t = TestApp::with_third_party(ThirdParty::Refuses);
        let (job, _) = t
            .app
            .uploads
            .begin_upload(&t.user("alice"), new_upload(1))
            .await
            .unwrap();
        t.files.put(&job.file_key, "x");
        let Stored::HandedOver(outcome) =
            t.app.uploads.file_stored(&job.file_key, 1).await.unwrap()
        else {
            panic!("expected a hand-over")
        };
        let UploadOutcome::Refused(failed) = *outcome else {
            panic!("expected a refusal")
        };
        assert_eq!(failed.status, JobStatus::Failed);
        assert_eq!(t.submissions(), 3);
    }

    #[tokio::test]
    async fn bad_declarations_are_refused_before_anything_is_written() {
        let mut t = TestApp::new();
        t.set_limits(|l| l.max_file_bytes = 10);
        let alice = t.user("alice");
        let too_big = t
            .app
            .uploads
            .begin_upload(&alice, new_upload(11))
            .await
            .unwrap_err();
        assert!(matches!(too_big, crate::Error::TooLarge(_)));
        for (name, ct) in [
            ("", "text/csv"),
            ("a", "csv"),
            ("a", "text/"),
            ("a", "te xt/csv"),
        ] {
            let req = NewUpload {
                file_name: name.into(),
                size: 1,
                content_type: ct.into(),
            };
            let err = t.app.uploads.begin_upload(&alice, req).await.unwrap_err();
            assert!(matches!(err, crate::Error::Invalid(_)), "{name:?} {ct:?}");
        }
        assert!(t
            .app
            .queries
            .list_jobs(&alice, 50, None)
            .await
            .unwrap()
            .jobs
            .is_empty());
    }

    #[tokio::test]
    async fn keys_that_are_not_waiting_uploads_are_ignored() {
        let t = TestApp::new();
        for key in ["uploads/x", "uploads/direct/nope", "elsewhere", ""] {
            assert!(matches!(
                t.app.uploads.file_stored(key, 0).await.unwrap(),
                Stored::Ignored
            ));
        }
    }

    #[tokio::test]
    async fn a_hand_over_given_up_fails_the_job_and_tells_the_tabs() {
        let t = TestApp::new();
        t.connect("a1", "alice").await;
        let (job, _) = t
            .app
            .uploads
            .begin_upload(&t.user("alice"), new_upload(1))
            .await
            .unwrap();
        t.app
            .uploads
            .hand_over_failed(&job.file_key, "Task timed out")
            .await
            .unwrap();
        let got = t.pushed("a1");
        assert_eq!(got[0]["type"], "job.failed");
        assert!(got[0]["job"]["error"]
            .as_str()
            .unwrap()
            .contains("Task timed out"));
        // and a second message for it changes nothing
        let again = t
            .app
            .uploads
            .hand_over_failed(&job.file_key, "x")
            .await
            .unwrap();
        assert!(matches!(again, Stored::Ignored));
    }
}
