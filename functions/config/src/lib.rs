//! What every door (the Lambdas and the local stack) is configured with,
//! read by one typed reader from the same environment variables (the local
//! stack's flags mirror them). The defaults are [`Limits::default`]'s.

use std::time::Duration;

use boomerang_core::limits::{ThirdPartyMode, MAX_FILE_URL_TTL};
use boomerang_core::Limits;

/// Seconds in a day: job retention is set in days.
const DAY: u64 = 24 * 3600;

#[derive(clap::Args, Clone, Debug)]
pub struct Shared {
    /// Largest upload (Lambda behind API Gateway: 6 MB of request, base64 included).
    #[arg(long, env = "BOOMERANG_MAX_UPLOAD_BYTES", default_value_t = Limits::default().max_upload_bytes)]
    pub max_upload_bytes: usize,

    /// Largest file sent straight to storage by a signed PUT (S3: 5 GiB in one PUT).
    #[arg(long, env = "BOOMERANG_MAX_FILE_BYTES", default_value_t = Limits::default().max_file_bytes)]
    pub max_file_bytes: u64,

    /// How long a finished job (and its result) is kept, in days; never less than the events.
    #[arg(long, env = "BOOMERANG_JOB_RETENTION_DAYS",
          default_value_t = Limits::default().job_retention.as_secs() / DAY)]
    pub job_retention_days: u64,

    /// How long a signed PUT URL is valid; a job still uploading after it fails.
    #[arg(long, env = "BOOMERANG_UPLOAD_URL_TTL_SECS",
          default_value_t = Limits::default().upload_url_ttl.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub upload_url_ttl_secs: u64,

    /// Largest webhook body.
    #[arg(long, env = "BOOMERANG_MAX_WEBHOOK_BYTES", default_value_t = Limits::default().max_webhook_bytes)]
    pub max_webhook_bytes: usize,

    /// Largest pushed event (API Gateway WebSocket hard cap: 128 KB, held whatever is asked).
    #[arg(long, env = "BOOMERANG_MAX_PUSH_BYTES", default_value_t = Limits::default().max_push_bytes)]
    pub max_push_bytes: usize,

    /// How long the third party has to answer an upload.
    #[arg(long, env = "BOOMERANG_THIRD_PARTY_TIMEOUT_MS",
          default_value_t = Limits::default().submit_timeout.as_millis() as u64)]
    pub third_party_timeout_ms: u64,

    /// Open WebSocket connections one user may hold; one more is refused with 429.
    #[arg(long, env = "BOOMERANG_MAX_CONNECTIONS_PER_USER", default_value_t = Limits::default().max_connections_per_user)]
    pub max_connections_per_user: usize,

    /// Uploads one user may start in a minute, both forms; the next is 429 with Retry-After.
    #[arg(long, env = "BOOMERANG_MAX_UPLOADS_PER_MINUTE", default_value_t = Limits::default().max_uploads_per_minute,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_uploads_per_minute: u32,

    /// Uploads one user may have waiting for their bytes (JSON declarations); the next is 429.
    #[arg(long, env = "BOOMERANG_MAX_OPEN_UPLOADS", default_value_t = Limits::default().max_open_uploads)]
    pub max_open_uploads: usize,

    /// A job that waited this long for the third party's webhook fails
    /// ("timed out waiting for the third party") and is pushed.
    #[arg(long, env = "BOOMERANG_JOB_TIMEOUT_SECS",
          default_value_t = Limits::default().job_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub job_timeout_secs: u64,

    /// Events older than this may be deleted; GET /events then says `gap`.
    #[arg(long, env = "BOOMERANG_EVENT_RETENTION_SECS",
          default_value_t = Limits::default().event_retention.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub event_retention_secs: u64,

    /// An identity provider: its RS256/ES256 tokens with this `iss` are
    /// accepted, besides HS256 ones with the token key.
    #[arg(long, env = "BOOMERANG_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// The issuer's JWKS (default: {issuer}/.well-known/jwks.json).
    #[arg(long, env = "BOOMERANG_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// Required with an issuer: its tokens' `aud` must be or contain this
    /// (Cognito's access tokens: `client_id`).
    #[arg(long, env = "BOOMERANG_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// How files are handed to the third party: `multipart` (the bytes) or
    /// `url` (JSON with a `file_url` it fetches).
    #[arg(long, env = "BOOMERANG_THIRD_PARTY_MODE", value_enum, default_value_t = Mode::Multipart)]
    pub third_party_mode: Mode,

    /// How long a `file_url` answers, in url mode (S3's presigned URLs: at most 7 days).
    #[arg(long, env = "BOOMERANG_FILE_URL_TTL_SECS",
          default_value_t = Limits::default().file_url_ttl.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=MAX_FILE_URL_TTL.as_secs()))]
    pub file_url_ttl_secs: u64,

    /// Where files are sent [local default: the built-in simulated third party].
    #[arg(long, env = "BOOMERANG_THIRD_PARTY_URL", hide_env_values = true)]
    pub third_party_url: Option<String>,
}

impl Shared {
    /// The limits these settings give, the others at their defaults.
    pub fn limits(&self) -> Limits {
        Limits {
            max_upload_bytes: self.max_upload_bytes,
            max_file_bytes: self.max_file_bytes,
            upload_url_ttl: Duration::from_secs(self.upload_url_ttl_secs),
            max_webhook_bytes: self.max_webhook_bytes,
            max_push_bytes: self.max_push_bytes,
            submit_timeout: Duration::from_millis(self.third_party_timeout_ms),
            max_connections_per_user: self.max_connections_per_user,
            max_uploads_per_minute: self.max_uploads_per_minute,
            max_open_uploads: self.max_open_uploads,
            job_timeout: Duration::from_secs(self.job_timeout_secs),
            event_retention: Duration::from_secs(self.event_retention_secs),
            job_retention: Duration::from_secs(self.job_retention_days.saturating_mul(DAY)),
            third_party_mode: match self.third_party_mode {
                Mode::Multipart => ThirdPartyMode::Multipart,
                Mode::Url => ThirdPartyMode::Url,
            },
            file_url_ttl: Duration::from_secs(self.file_url_ttl_secs),
            ..Limits::default()
        }
        .checked()
    }
}

/// `BOOMERANG_THIRD_PARTY_MODE`'s values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Multipart,
    Url,
}
