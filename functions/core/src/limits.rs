//! The size and time limits Boomerang enforces, most of them inherited from
//! AWS. Each default names the AWS limit it comes from.

use std::time::Duration;

/// Every limit is configurable; the defaults are the contract's.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted upload (the file part). Lambda behind API Gateway
    /// takes at most 6 MB of request, and binary bodies arrive base64
    /// encoded (4/3 larger): 4 MiB of file is what safely fits.
    pub max_upload_bytes: usize,
    /// Largest file sent straight to storage (`POST /uploads` with JSON,
    /// then a presigned PUT; `BOOMERANG_MAX_FILE_BYTES`). S3 takes at most
    /// 5 GiB in one PUT, so that is the highest this may be.
    pub max_file_bytes: u64,
    /// How long a presigned PUT URL is valid; a job still `uploading` after
    /// it fails with [`crate::usecases::NOT_RECEIVED`].
    pub upload_url_ttl: Duration,
    /// All attempts at handing a stored file to the third party when
    /// nobody waits on the answer (the `submit` Lambda, on S3's
    /// notification): within the Lambda's timeout, and well within
    /// [`Limits::job_timeout`] (at least 10 minutes on AWS).
    pub submit_async_budget: Duration,
    /// The slowest rate a file is assumed to be sent at: an attempt gets
    /// [`Limits::submit_timeout`] plus the file's size at this rate.
    pub send_rate_floor: u64,
    /// Largest accepted webhook body.
    pub max_webhook_bytes: usize,
    /// Largest event pushed over a WebSocket. API Gateway WebSocket: 128 KB
    /// per message (hard cap); we stay at half of it so the frame never
    /// bounces, and push larger results as `resultTruncated`.
    pub max_push_bytes: usize,
    /// How far a webhook's timestamp may be from our clock (Standard
    /// Webhooks recommends 5 minutes).
    pub webhook_tolerance: Duration,
    /// API Gateway WebSocket: a connection lives at most 2 hours.
    pub max_connection_age: Duration,
    /// Attempts at handing a file to the third party (1 + 2 retries).
    pub submit_attempts: u32,
    /// How long one attempt waits for the third party's 2xx (the
    /// contract's 10 s).
    pub submit_timeout: Duration,
    /// All attempts and their backoff together. API Gateway's HTTP API
    /// gives an integration at most 30 s; the upload Lambda must store,
    /// submit, record and push inside it, or it is cut off with the job
    /// still pending. A last attempt gets what is left of this, so a hung
    /// third party fails the upload cleanly instead.
    pub submit_budget: Duration,
    /// First retry delay; doubled for each further retry.
    pub submit_backoff: Duration,
    /// Pushes to one user's connections in flight at once.
    pub push_concurrency: usize,
    /// Open connections one user may hold; one more is refused with 429.
    /// Bounds what one account can make the gateway hold (each socket has
    /// its buffers and its outbox) and what one push fans out to.
    pub max_connections_per_user: usize,
    /// How long a job may wait for the third party (pending or submitted)
    /// before it fails with [`crate::usecases::TIMED_OUT`]
    /// (`BOOMERANG_JOB_TIMEOUT_SECS`).
    pub job_timeout: Duration,
    /// How long events are kept for tabs catching up; older ones may be
    /// gone, and `GET /events` then says `gap`
    /// (`BOOMERANG_EVENT_RETENTION_SECS`).
    pub event_retention: Duration,
    /// How long a finished job (and its result) is kept
    /// (`BOOMERANG_JOB_RETENTION_DAYS`); never less than `event_retention`,
    /// so an event never names a job that is gone.
    pub job_retention: Duration,
    /// Uploads one user may start in a minute, both forms
    /// (`BOOMERANG_MAX_UPLOADS_PER_MINUTE`); the next is 429.
    pub max_uploads_per_minute: u32,
    /// Uploads one user may have waiting for their bytes at once
    /// (`BOOMERANG_MAX_OPEN_UPLOADS`); the next declaration is 429.
    pub max_open_uploads: usize,
    /// How a file is handed to the third party
    /// (`BOOMERANG_THIRD_PARTY_MODE`).
    pub third_party_mode: ThirdPartyMode,
    /// How long a `file_url` answers (`BOOMERANG_FILE_URL_TTL_SECS`), at
    /// most [`MAX_FILE_URL_TTL`].
    pub file_url_ttl: Duration,
}

/// How a file is handed to the third party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThirdPartyMode {
    /// The bytes, streamed in a multipart form.
    #[default]
    Multipart,
    /// JSON with a `file_url` the third party fetches: no file streams
    /// through a function.
    Url,
}

/// S3's presigned URLs (SigV4) live at most 7 days.
pub const MAX_FILE_URL_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// API Gateway WebSocket: 128 KB per message, whatever is asked.
pub const MAX_WEBSOCKET_MESSAGE_BYTES: usize = 128 * 1024;

impl Limits {
    /// These limits with every invariant held, whichever door read them:
    /// a push within API Gateway's message cap, jobs kept at least as long
    /// as the events that name them, deadlines of at least a second.
    /// [`crate::App::new`] and the doors' configuration apply it.
    pub fn checked(mut self) -> Self {
        self.max_push_bytes = self.max_push_bytes.min(MAX_WEBSOCKET_MESSAGE_BYTES);
        self.job_retention = self.job_retention.max(self.event_retention);
        self.upload_url_ttl = self.upload_url_ttl.max(Duration::from_secs(1));
        self.job_timeout = self.job_timeout.max(Duration::from_secs(1));
        self.file_url_ttl = self
            .file_url_ttl
            .clamp(Duration::from_secs(1), MAX_FILE_URL_TTL);
        self
    }

    /// How often the sweep should run so that a job fails within
    /// max(1 s, 10 % of the timeout) after its deadline: twice per that
    /// bound, at most once a minute (EventBridge's finest schedule).
    pub fn sweep_interval(&self) -> Duration {
        let bound = (self.job_timeout / 10).max(Duration::from_secs(1));
        (bound / 2).min(Duration::from_secs(60))
    }

    /// One attempt at sending a file of `size` bytes: the contract's 10 s
    /// for the answer, plus the time to send the bytes at
    /// [`Limits::send_rate_floor`].
    pub fn attempt_timeout(&self, size: u64) -> Duration {
        let rate = self.send_rate_floor.max(1);
        self.submit_timeout + Duration::from_millis(size.saturating_mul(1000) / rate)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_upload_bytes: 4 * 1024 * 1024,
            max_file_bytes: 1024 * 1024 * 1024,
            upload_url_ttl: Duration::from_secs(15 * 60),
            submit_async_budget: Duration::from_secs(5 * 60),
            send_rate_floor: 16 * 1024 * 1024,
            max_webhook_bytes: 1024 * 1024,
            max_push_bytes: 64 * 1024,
            webhook_tolerance: Duration::from_secs(5 * 60),
            max_connection_age: Duration::from_secs(2 * 60 * 60),
            submit_attempts: 3,
            submit_timeout: Duration::from_secs(10),
            submit_budget: Duration::from_secs(25),
            submit_backoff: Duration::from_millis(500),
            push_concurrency: 16,
            max_connections_per_user: 50,
            job_timeout: Duration::from_secs(15 * 60),
            event_retention: Duration::from_secs(7 * 24 * 60 * 60),
            job_retention: Duration::from_secs(30 * 24 * 60 * 60),
            max_uploads_per_minute: 60,
            max_open_uploads: 20,
            third_party_mode: ThirdPartyMode::Multipart,
            file_url_ttl: Duration::from_secs(3600),
        }
    }
}

/// S3: at most 5 GiB in a single PUT (a presigned URL is one PUT).
pub const S3_MAX_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// Largest `GET /jobs` page.
pub const MAX_JOBS_PAGE: usize = 200;
pub const DEFAULT_JOBS_PAGE: usize = 50;
/// Largest `GET /events` page.
pub const MAX_EVENTS_PAGE: usize = 500;
pub const DEFAULT_EVENTS_PAGE: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_door_gets_limits_that_hold_their_invariants() {
        let asked = Limits {
            max_push_bytes: 1024 * 1024,
            event_retention: Duration::from_secs(7 * 24 * 3600),
            job_retention: Duration::from_secs(3600),
            upload_url_ttl: Duration::ZERO,
            ..Limits::default()
        };
        let held = asked.checked();
        assert_eq!(held.max_push_bytes, MAX_WEBSOCKET_MESSAGE_BYTES);
        assert_eq!(held.job_retention, held.event_retention);
        assert_eq!(held.upload_url_ttl, Duration::from_secs(1));
        // Limits that already hold are kept as they are.
        let fine = Limits::default();
        assert_eq!(fine.clone().checked().max_push_bytes, fine.max_push_bytes);
    }
}
