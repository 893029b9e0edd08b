//! The local stack's configuration: environment variables (flags mirror
//! them), read once at start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Parser, ValueEnum};

/// A secret from the environment or a flag: never printed, not even by
/// `{:?}` of the whole configuration.
#[derive(Clone)]
pub struct SecretString(String);

impl SecretString {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for SecretString {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Where the stack keeps things.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite and files in the data folder.
    Embedded,
    /// DynamoDB, S3 and the Management API, as deployed: the AWS adapters,
    /// with endpoints from the SDK's `AWS_ENDPOINT_URL*` variables.
    Aws,
}

#[derive(Parser, Clone, Debug)]
#[command(
    name = "boomerang-local",
    version,
    about = "Boomerang on one machine: API Gateway emulator, embedded storage, simulated third party"
)]
pub struct Config {
    /// HTTP API, WebSocket at /ws.
    #[arg(long, env = "BOOMERANG_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Base of the callback_url sent to the third party [default: http:// + the address].
    #[arg(long, env = "BOOMERANG_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// SQLite database, uploaded files and generated secrets; survives restarts.
    #[arg(long, env = "BOOMERANG_DATA_DIR", default_value = "./.boomerang")]
    pub data_dir: PathBuf,

    /// What the Lambdas are configured with too.
    #[command(flatten)]
    pub shared: boomerang_config::Shared,

    /// Token key, at least 32 bytes [default: random per data folder, kept there].
    #[arg(long, env = "BOOMERANG_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,

    /// Webhook key, whsec_ + base64 of at least 24 bytes [default: random per data folder, kept there].
    #[arg(long, env = "BOOMERANG_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<SecretString>,

    /// The token key before a rotation: still accepted, never used to sign.
    #[arg(long, env = "BOOMERANG_JWT_SECRET_PREVIOUS", hide_env_values = true)]
    pub jwt_secret_previous: Option<SecretString>,

    /// The webhook key before a rotation: still accepted, never used to sign.
    #[arg(
        long,
        env = "BOOMERANG_WEBHOOK_SECRET_PREVIOUS",
        hide_env_values = true
    )]
    pub webhook_secret_previous: Option<SecretString>,

    /// The simulated third party's processing time.
    #[arg(long, env = "BOOMERANG_SIM_DELAY_MS", default_value_t = 2000)]
    pub sim_delay_ms: u64,

    /// First retry delay when the third party does not take a file (doubled per retry).
    #[arg(long, env = "BOOMERANG_THIRD_PARTY_BACKOFF_MS", default_value_t = 500)]
    pub third_party_backoff_ms: u64,

    /// Close a WebSocket that sent nothing for this long (API Gateway: 10 minutes).
    #[arg(long, env = "BOOMERANG_WS_IDLE_TIMEOUT_SECS", default_value_t = 600)]
    pub ws_idle_timeout_secs: u64,

    /// Close any WebSocket after this long (API Gateway: 2 hours).
    #[arg(long, env = "BOOMERANG_WS_MAX_CONNECTION_SECS", default_value_t = 7200)]
    pub ws_max_connection_secs: u64,

    /// A write to a WebSocket that takes longer closes it: the tab stopped reading.
    #[arg(long, env = "BOOMERANG_WS_WRITE_TIMEOUT_MS", default_value_t = 10_000)]
    pub ws_write_timeout_ms: u64,

    /// Origins besides its own that the demo page may connect to: a
    /// deployed stack's HTTP API and WebSocket (`https://...`, `wss://...`),
    /// comma-separated. Its content security policy allows no other.
    #[arg(long, env = "BOOMERANG_DEMO_ORIGINS", value_delimiter = ',')]
    pub demo_origins: Vec<String>,

    /// Serve `GET /metrics` on a listener of its own, to whoever can reach
    /// it (a Prometheus scraper). Unset, only the main address serves it,
    /// as the development endpoints: loopback bind and loopback Host.
    #[arg(long, env = "BOOMERANG_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Sent verbatim as the `Authorization` header of every hand-over to
    /// the third party (e.g. `Bearer sk_...`). Never logged or printed.
    #[arg(long, env = "BOOMERANG_THIRD_PARTY_AUTH", hide_env_values = true)]
    pub third_party_auth: Option<SecretString>,

    /// Open HTTP connections at once (WebSockets not counted); more wait in the backlog.
    #[arg(long, env = "BOOMERANG_MAX_HTTP_CONNECTIONS", default_value_t = 1024)]
    pub max_http_connections: usize,

    /// A client has this long to send a request's headers.
    #[arg(
        long,
        env = "BOOMERANG_HTTP_HEADER_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub http_header_timeout_ms: u64,

    /// A client has this long to send a request's body (API Gateway: 30 s per request).
    #[arg(long, env = "BOOMERANG_HTTP_BODY_TIMEOUT_MS", default_value_t = 30_000)]
    pub http_body_timeout_ms: u64,

    /// Storage: the embedded one, or the AWS adapters (point them at moto or
    /// LocalStack with AWS_ENDPOINT_URL).
    #[arg(
        long,
        env = "BOOMERANG_BACKEND",
        value_enum,
        default_value = "embedded"
    )]
    pub backend: Backend,

    /// With the aws backend: tables are named PREFIX-connections, -jobs, -events.
    #[arg(long, env = "BOOMERANG_TABLE_PREFIX", default_value = "boomerang")]
    pub table_prefix: String,

    /// With the aws backend: the S3 bucket for uploads and large results.
    #[arg(long, env = "BOOMERANG_BUCKET", default_value = "boomerang-files")]
    pub bucket: String,

    /// With the aws backend: create the tables (as template.yaml defines them) and the bucket if missing.
    #[arg(long, env = "BOOMERANG_CREATE_RESOURCES")]
    pub create_resources: bool,

    /// Never run $disconnect when a socket closes (API Gateway delivers it
    /// only best-effort): closed tabs' rows stay until a push gets a 410.
    #[arg(long, env = "BOOMERANG_DROP_DISCONNECT")]
    pub drop_disconnect: bool,

    /// Drop this share (0 to 1) of `$disconnect` events at random, as API
    /// Gateway may: for soak tests. `BOOMERANG_DROP_DISCONNECT` drops all.
    #[arg(long, env = "BOOMERANG_DROP_DISCONNECT_RATIO", default_value_t = 0.0,
          value_parser = ratio)]
    pub drop_disconnect_ratio: f64,

    /// The user whose dev token is printed at start.
    #[arg(long, env = "BOOMERANG_DEV_USER", default_value = "alice")]
    pub dev_user: String,
}

impl Config {
    /// The defaults, with everything in `data_dir`: what tests start from.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let mut c = Config::parse_from(["boomerang-local"]);
        c.data_dir = data_dir.into();
        c
    }
}

fn ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a number from 0 to 1")),
    }
}
