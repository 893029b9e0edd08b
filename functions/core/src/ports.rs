//! The ports: narrow traits the use cases need from the outside world.
//! Adapters name their backend (`SqliteJobStore`, `DynamoConnectionStore`,
//! `GatewayPusher`, `HttpProcessor`, ...); the core only sees these.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::{
    Applied, Connection, ConnectionId, Event, Job, JobId, JobStatus, Moved, Progress, Result,
    UserId,
};

/// Who is connected, by user.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Stores `conn` if its user has fewer than `max` connections stored;
    /// `false`, storing nothing, otherwise. A row past its `expires_at`
    /// counts until it is removed (the core removes those when a user is
    /// at the limit). Concurrent adds for one user never take it past
    /// `max`. `now` is the connect's time.
    async fn add_within(&self, conn: &Connection, max: usize, now: DateTime<Utc>) -> Result<bool>;
    /// Removing an unknown connection is not an error.
    async fn remove(&self, id: &ConnectionId) -> Result<()>;
    /// Every connection stored for the user, including rows past their
    /// `expires_at` that the store has not deleted yet (DynamoDB's TTL
    /// lags by up to days): the fan-out closes those instead of pushing.
    async fn for_user(&self, user: &UserId) -> Result<Vec<Connection>>;
}

/// Jobs, and the only way their status changes. Each store forgets
/// finished jobs after their retention by itself (DynamoDB's TTL, the
/// SQLite adapter's own timer); readers never rely on when.
#[async_trait]
pub trait JobStore: Send + Sync {
    async fn create(&self, job: &Job) -> Result<()>;
    async fn get(&self, id: &JobId) -> Result<Option<Job>>;
    /// The owner's jobs, newest first, at most `limit`, starting after
    /// `after` (the last job of the previous page). A result over
    /// [`MAX_LISTED_RESULT_BYTES`] is left out ([`Listed::of`]): no push
    /// shows one that large, so neither does a list, and a store that
    /// keeps it elsewhere (S3) never fetches it for one.
    async fn list(
        &self,
        owner: &UserId,
        limit: usize,
        after: Option<&ListCursor>,
    ) -> Result<Vec<Listed>>;
    /// A job's move ([`crate::Job::move_to`]), in one atomic step: if the
    /// stored job's status is still one of `moved.from`, replace it with
    /// `moved.job` and, if the move has an event, append it to the owner's
    /// event log under the owner's next `seq` (no gaps, no repeats).
    /// [`Applied::Lost`] when someone else moved the job first: nothing
    /// was written. Exactly one caller moves a job from a status.
    async fn apply(&self, moved: &Moved) -> Result<Applied>;
    /// Keeps `progress` as the job's latest, in one conditional write: if
    /// the job is unfinished and `progress` supersedes the one it keeps
    /// ([`crate::Progress::supersedes`], by the webhook's timestamp and
    /// id). A move never writes a job's progress, nor this its status.
    async fn progress(&self, id: &JobId, progress: &Progress) -> Result<Progressed>;
    /// How many of `owner`'s jobs created after `since` are `uploading`,
    /// counting no further than `at_most`. (A job uploads for at most the
    /// URL's life, so `since` bounds what is read.)
    async fn uploading(
        &self,
        owner: &UserId,
        since: DateTime<Utc>,
        at_most: usize,
    ) -> Result<usize>;
    /// Jobs waiting for `what` whose status last changed at or before
    /// `before`, oldest first, at most `limit`: an index lookup (a sparse
    /// index on AWS), never a scan. A job found but not readable is an
    /// `Err` in the list, so that the sweep skips it and goes on (oldest
    /// first, it would otherwise stop every sweep).
    async fn waiting(
        &self,
        what: Waiting,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Result<Job>>>;
}

/// What a store did with a job's progress. (Matched at once by its one
/// caller, as [`crate::Applied`] is.)
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Progressed {
    /// Kept: the job as stored now.
    Kept(Job),
    /// The job is finished, or keeps progress as new or newer: nothing
    /// was written.
    Unchanged,
    /// No job has this id.
    NoSuchJob,
}

/// How many uploads each user started in each minute: a count every
/// instance of the upload function shares.
#[async_trait]
pub trait UploadQuota: Send + Sync {
    /// Counts one of `user`'s uploads in the minute (of the Unix clock)
    /// `now` falls in, if fewer than `max` were counted in it: `None`.
    /// Otherwise counts nothing and answers when that minute ends.
    /// Concurrent takes never count past `max`.
    async fn take(
        &self,
        user: &UserId,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>>;
}

/// The minute `now` falls in, as the Unix clock counts them, and its end.
pub fn minute_of(now: DateTime<Utc>) -> (i64, DateTime<Utc>) {
    let minute = now.timestamp().div_euclid(60);
    let end = DateTime::from_timestamp((minute + 1) * 60, 0).unwrap_or(now);
    (minute, end)
}

/// Idempotency keys (`Idempotency-Key` on `POST /uploads`): each user's
/// requests by the key the client chose, kept [`IDEMPOTENCY_WINDOW`].
#[async_trait]
pub trait IdempotencyKeys: Send + Sync {
    /// Stores `claim` (which has no outcome yet), unless the user's key is
    /// held: claimed within the window and, while unfinished, within
    /// [`UNFINISHED_CLAIM_LIFETIME`] of `claim.claimed_at`. Then returns
    /// that claim and stores nothing. Exactly one of two racing claims
    /// is stored.
    async fn claim(&self, claim: &Claim) -> Result<Option<Claim>>;
    /// The claimed request ended: with its job and answer, which later
    /// requests with the key replay; or, with `None`, with nothing to
    /// replay (refused before making a job), which frees the key.
    async fn finish(&self, user: &UserId, key: &str, outcome: Option<&Outcome>) -> Result<()>;
}

/// How long a key holds: the contract's 24 hours.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// A claim whose request never finished (its function crashed) frees its
/// key after Lambda's longest run, 15 minutes.
pub const UNFINISHED_CLAIM_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// One user's request under one idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub user: UserId,
    pub key: String,
    /// What the request was for (file name, size, content type), hashed:
    /// the same key for another file is refused.
    pub fingerprint: String,
    pub claimed_at: DateTime<Utc>,
    pub outcome: Option<Outcome>,
}

/// What a finished request answered: its job, and how (the edge picks
/// the HTTP status of each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub job: JobId,
    pub answer: Answer,
}

/// How an upload was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A large file declared: its job waits for the bytes at a URL.
    Declared,
    /// The third party took the file (or already sent its result).
    Accepted,
    /// The third party did not take the file: the job failed.
    Refused,
}

impl Answer {
    /// Its name, as stores keep it.
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Declared => "declared",
            Answer::Accepted => "accepted",
            Answer::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "declared" => Answer::Declared,
            "accepted" => Answer::Accepted,
            "refused" => Answer::Refused,
            _ => return None,
        })
    }
}

impl Claim {
    /// Whether it still holds its key at `now`.
    pub fn holds(&self, now: DateTime<Utc>) -> bool {
        let age = (now - self.claimed_at).to_std().unwrap_or_default();
        let life = match self.outcome {
            Some(_) => IDEMPOTENCY_WINDOW,
            None => UNFINISHED_CLAIM_LIFETIME,
        };
        age < life
    }
}

/// Where a page of a user's jobs ends: the last job's creation time and
/// id (the order is newest first, ties by id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub created_at: DateTime<Utc>,
    pub id: JobId,
}

/// A job as a list reads it.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Its result is `None` when left out.
    pub job: Job,
    /// Its result is over [`MAX_LISTED_RESULT_BYTES`], and left out.
    pub result_left_out: bool,
}

/// The largest result a list shows: the largest push (a WebSocket message,
/// API Gateway's 128 KB). A push truncates any result that large anyway.
pub const MAX_LISTED_RESULT_BYTES: usize = crate::limits::MAX_WEBSOCKET_MESSAGE_BYTES;

impl Listed {
    /// `job` as a list shows it: its result left out when over
    /// [`MAX_LISTED_RESULT_BYTES`] as JSON.
    pub fn of(mut job: Job) -> Self {
        let over = |r: &serde_json::Value| r.to_string().len() > MAX_LISTED_RESULT_BYTES;
        let result_left_out = job.result.as_ref().is_some_and(over);
        if result_left_out {
            job.result = None;
        }
        Self {
            job,
            result_left_out,
        }
    }

    /// `job`, whose result a store left unread (kept elsewhere, and over
    /// [`MAX_LISTED_RESULT_BYTES`]).
    pub fn left_out(mut job: Job) -> Self {
        job.result = None;
        Self {
            job,
            result_left_out: true,
        }
    }
}

/// What a job that is not finished waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// Its bytes (`uploading`): the presigned PUT has not landed.
    Upload,
    /// The third party (`pending` or `submitted`).
    ThirdParty,
}

impl Waiting {
    /// Which kind of wait a status is, if any.
    pub fn of(status: JobStatus) -> Option<Self> {
        match status {
            JobStatus::Uploading => Some(Waiting::Upload),
            JobStatus::Pending | JobStatus::Submitted => Some(Waiting::ThirdParty),
            JobStatus::Completed | JobStatus::Failed => None,
        }
    }
}

/// Each user's numbered events, for tabs catching up. Each store forgets
/// them after the retention by itself; readers hide what is past it.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Events with `seq > after`, ascending, at most `limit`.
    async fn since(&self, user: &UserId, after: u64, limit: usize) -> Result<Vec<Event>>;
    /// The newest seq the user has, 0 if none. The counter is never
    /// deleted, so seqs never restart, whatever has expired.
    async fn last_seq(&self, user: &UserId) -> Result<u64>;
}

/// A file's bytes as they are read, a chunk at a time: a file is never
/// held whole in memory on its way to the third party.
pub type FileBody = futures::stream::BoxStream<'static, std::io::Result<Bytes>>;

/// A file held in memory, as a [`FileBody`].
pub fn body_of(bytes: Bytes) -> FileBody {
    Box::pin(futures::stream::once(async move { Ok(bytes) }))
}

/// A request the client makes itself, straight to storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedPut {
    pub url: String,
    /// Headers the client must send as they are (`content-type`). The
    /// signed `content-length` is not among them: every HTTP client sets
    /// it from the body, and browsers refuse to set it by hand.
    pub headers: Vec<(String, String)>,
}

/// Uploaded files.
#[async_trait]
pub trait FileStore: Send + Sync {
    async fn put(&self, key: &str, content_type: &str, bytes: Bytes) -> Result<()>;
    /// The stored file, read as it is streamed; `Error::NotFound` when
    /// there is no such file.
    async fn open(&self, key: &str) -> Result<FileBody>;
    /// A URL that stores exactly `size` bytes of `content_type` under
    /// `key` with one PUT, until `expires_at`, and does nothing else.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        expires_at: DateTime<Utc>,
    ) -> Result<PresignedPut>;
    /// A URL that answers `GET` (and `HEAD`) with exactly the file stored
    /// under `key`, as `content_type`, until `expires_at`, and names no
    /// other file: the third party's `file_url` in url mode.
    async fn presign_get(
        &self,
        key: &str,
        content_type: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<String>;
}

/// Why a message did not reach a connection.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The connection is gone (API Gateway answers 410): forget it.
    #[error("connection gone")]
    Gone,
    /// The gateway kept refusing for its rate (API Gateway's 429), after
    /// every attempt.
    #[error("throttled after every attempt")]
    Throttled,
    /// Anything else: the connection may still be there.
    #[error("{0}")]
    Failed(crate::error::Cause),
}

/// Sends one message down one connection, or ends it.
#[async_trait]
pub trait Pusher: Send + Sync {
    async fn push(&self, conn: &ConnectionId, message: &str) -> Result<(), PushError>;
    /// Closes the connection (API Gateway: `DeleteConnection`). One that is
    /// already gone is not an error.
    async fn close(&self, conn: &ConnectionId) -> Result<(), PushError>;
    /// Whether the connection is still open (API Gateway: `GetConnection`;
    /// `Err(Gone)` when it is not).
    async fn probe(&self, conn: &ConnectionId) -> Result<(), PushError>;
}

/// What is handed to the third party, with the file's bytes.
#[derive(Debug, Clone)]
pub struct Submission {
    pub job_id: JobId,
    pub file_name: String,
    pub content_type: String,
    /// The file's length, sent ahead of its bytes.
    pub size: u64,
    pub callback_url: String,
}

/// The third party that processes files.
#[async_trait]
pub trait Processor: Send + Sync {
    /// One attempt, handing over `what`, given `timeout` to send it and
    /// be answered; `Err` says why it was not accepted (no 2xx in time).
    async fn submit(
        &self,
        submission: &Submission,
        what: Handover,
        timeout: Duration,
    ) -> Result<(), SubmitError>;
}

/// What a hand-over gives the third party (`ThirdPartyMode`).
pub enum Handover {
    /// The bytes (exactly `Submission::size`), streamed: multipart.
    File(FileBody),
    /// A URL that answers them until `expires_at`: JSON.
    Url(FileUrl),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUrl {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Why the third party did not take a file. Its text ends up in the
/// failed job's `error`, so it says nothing of URLs or credentials.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// It answered, but not with a 2xx.
    #[error("answered {status}")]
    Refused { status: u16 },
    /// No answer within the attempt's timeout.
    #[error("no answer in time")]
    TimedOut,
    /// It could not be reached.
    #[error("could not connect")]
    Unreachable,
    /// The hand-over failed on the way (the body, the connection).
    #[error("{0}")]
    Transport(crate::error::Cause),
    /// The stored file could not be read to send it.
    #[error("the stored file could not be read")]
    Unreadable,
}

/// An identity provider's signing keys (its JWKS), by `kid`. Adapters
/// fetch and cache them; an unknown `kid` refetches at most once a minute.
#[async_trait]
pub trait IssuerKeys: Send + Sync {
    /// The key named `kid`, or `None` when the issuer has no such key.
    async fn key(&self, kid: &str) -> Result<Option<jsonwebtoken::jwk::Jwk>>;
}

/// Time, so tests can own it.
#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    async fn sleep(&self, d: Duration);
}

/// The wall clock and tokio's timer: [`Clock`] outside tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await
    }
}
