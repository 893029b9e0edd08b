//! What every Lambda does: at init, read its environment once, build the
//! use cases it serves from only the adapters and keys they take (reading
//! its keys from Secrets Manager), and warm the HTTPS connection to
//! DynamoDB, so no invocation pays for any of it (a missing variable, an
//! unreadable secret or a short key fails the init with its name); then
//! serve its events, writing each invocation's metrics as it ends
//! ([`serve_http`], [`serve`]). A Lambda's `main.rs` says what it builds
//! and which handler it runs.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use aws_config::SdkConfig;
use boomerang_core::auth::{Keys, Secret};
use boomerang_core::ports::{
    Clock, ConnectionStore, EventLog, FileStore, IdempotencyKeys, JobStore, Pusher, SystemClock,
    UploadQuota,
};
use boomerang_core::{
    auth, webhook, Adapters, Authenticator, Connections, Idempotency, Limits, Queries, Sweeper,
    Uploads, Webhooks, Wiring,
};
use metrics_cloudwatch_embedded::lambda::handler::{run, run_http};
use metrics_cloudwatch_embedded::Collector;
use tracing::info;

use crate::s3::S3FileStore;
use crate::tables::Tables;
use crate::Deployment;
use boomerang_config::Shared;
use boomerang_http::HttpProcessor;

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("{0}")]
    Environment(String),
}

/// A function's environment, as template.yaml sets it: the settings it
/// shares with the local stack, and its deployment's resources. A
/// resource is required by the use cases that take it, not by the parse.
#[derive(clap::Parser, Debug)]
#[command(name = "bootstrap", no_binary_name = true)]
struct Environment {
    #[command(flatten)]
    shared: Shared,
    #[arg(long, env = "BOOMERANG_CONNECTIONS_TABLE")]
    connections_table: Option<String>,
    #[arg(long, env = "BOOMERANG_JOBS_TABLE")]
    jobs_table: Option<String>,
    #[arg(long, env = "BOOMERANG_IDEMPOTENCY_TABLE")]
    idempotency_table: Option<String>,
    #[arg(long, env = "BOOMERANG_QUOTAS_TABLE")]
    quotas_table: Option<String>,
    #[arg(long, env = "BOOMERANG_EVENTS_TABLE")]
    events_table: Option<String>,
    #[arg(long, env = "BOOMERANG_BUCKET")]
    bucket: Option<String>,
    #[arg(long, env = "BOOMERANG_WS_ENDPOINT")]
    ws_endpoint: Option<String>,
    #[arg(long, env = "BOOMERANG_JWT_SECRET_ARN")]
    jwt_secret_arn: Option<String>,
    #[arg(long, env = "BOOMERANG_WEBHOOK_SECRET_ARN")]
    webhook_secret_arn: Option<String>,
    /// The third party's credentials: a secret sent as `Authorization`.
    #[arg(long, env = "BOOMERANG_THIRD_PARTY_AUTH_SECRET_ARN")]
    third_party_auth_secret_arn: Option<String>,
    /// The webhook's public URL (`{PublicUrl}/webhooks/third-party`).
    #[arg(long, env = "BOOMERANG_CALLBACK_URL")]
    callback_url: Option<String>,
}

/// What a function builds its use cases from at init: its environment,
/// the SDK's configuration and the clock. Each use case takes only the
/// adapters it uses (through [`Wiring`], as every door builds them), and
/// each adapter the variables it names; each adapter and SDK client is
/// built once, however many use cases take it.
pub struct Init {
    env: Environment,
    deployment: Deployment,
    sdk: SdkConfig,
    dynamo: aws_sdk_dynamodb::Client,
    secrets: aws_sdk_secretsmanager::Client,
    clock: Arc<dyn Clock>,
    limits: Limits,
    built: Built,
}

/// The adapters an init has built, each once.
#[derive(Default)]
struct Built {
    connections: OnceLock<Arc<dyn ConnectionStore>>,
    jobs: OnceLock<Arc<dyn JobStore>>,
    events: OnceLock<Arc<dyn EventLog>>,
    files: OnceLock<S3FileStore>,
    idempotency: OnceLock<Arc<dyn IdempotencyKeys>>,
    quota: OnceLock<Arc<dyn UploadQuota>>,
    pusher: OnceLock<Arc<dyn Pusher>>,
}

/// `cell`'s value, built by `build` the first time.
fn once<T: Clone>(
    cell: &OnceLock<T>,
    build: impl FnOnce() -> Result<T, BootError>,
) -> Result<T, BootError> {
    if let Some(v) = cell.get() {
        return Ok(v.clone());
    }
    let v = build()?;
    Ok(cell.get_or_init(|| v).clone())
}

/// The variable `name`'s value is set and not empty.
fn needed(value: &str, name: &'static str) -> Result<(), BootError> {
    match value.trim().is_empty() {
        true => Err(BootError::Missing(name)),
        false => Ok(()),
    }
}

impl Init {
    async fn from_env(clock: Arc<dyn Clock>) -> Result<Self, BootError> {
        let mut env = <Environment as clap::Parser>::try_parse_from(std::iter::empty::<String>())
            .map_err(|e| BootError::Environment(e.to_string()))?;
        let limits = env.shared.limits();
        // A resource left unset is "": the part that needs it says so.
        let deployment = Deployment {
            tables: Tables {
                connections: env.connections_table.take().unwrap_or_default(),
                jobs: env.jobs_table.take().unwrap_or_default(),
                events: env.events_table.take().unwrap_or_default(),
                idempotency: env.idempotency_table.take().unwrap_or_default(),
                quotas: env.quotas_table.take().unwrap_or_default(),
            },
            bucket: env.bucket.take().unwrap_or_default(),
            connections_endpoint: env.ws_endpoint.take().unwrap_or_default(),
            event_retention: limits.event_retention,
            job_retention: limits.job_retention,
        };
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        // Init reads the keys once; a Secrets Manager that does not answer
        // fails the init (and Lambda retries it) rather than hanging it.
        let secrets = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&sdk)
                .timeout_config(crate::deployment::dynamo_timeouts())
                .interceptor(crate::xray::XRayInterceptor)
                .build(),
        );
        Ok(Self {
            dynamo: crate::deployment::dynamo_client(&sdk),
            env,
            deployment,
            sdk,
            secrets,
            clock,
            limits: limits.checked(),
            built: Built::default(),
        })
    }

    fn s3_files(&self) -> Result<S3FileStore, BootError> {
        once(&self.built.files, || {
            needed(&self.deployment.bucket, "BOOMERANG_BUCKET")?;
            Ok(self.deployment.file_store(&self.sdk))
        })
    }

    /// Verifies tokens: HS256 with the secret `BOOMERANG_JWT_SECRET_ARN`
    /// names, and an identity provider's when one is configured (then the
    /// secret is optional).
    pub async fn authenticator(&self) -> Result<Authenticator, BootError> {
        let shared = &self.env.shared;
        let issuer = boomerang_http::jwks::identity_provider(
            shared.jwt_issuer.as_deref().unwrap_or_default(),
            shared.jwt_audience.as_deref(),
            shared.jwks_url.as_deref(),
        )
        .map_err(|reason| BootError::Invalid {
            name: "BOOMERANG_JWT_ISSUER",
            reason,
        })?;
        let name = "BOOMERANG_JWT_SECRET_ARN";
        let secret = match self.env.jwt_secret_arn.as_deref() {
            Some(arn) => Some(
                keys_from(&self.secrets, name, arn, |k| {
                    auth::secret_from_config("the token key", k)
                })
                .await?,
            ),
            None if issuer.is_none() => return Err(BootError::Missing(name)),
            None => None,
        };
        let (issuer, keys) = issuer.unzip();
        Ok(Authenticator::new(secret, issuer, keys, self.clock.clone()))
    }

    /// Who is connected (`$connect`, `$disconnect`), and the fan-out.
    pub fn connections(&self) -> Result<Connections, BootError> {
        Wiring(self).connections()
    }

    /// What a tab reads.
    pub fn queries(&self) -> Result<Queries, BootError> {
        Wiring(self).queries()
    }

    /// Uploads and their hand-over to the third party at
    /// `BOOMERANG_THIRD_PARTY_URL`, with the credentials the secret
    /// `BOOMERANG_THIRD_PARTY_AUTH_SECRET_ARN` names, if set.
    pub async fn uploads(&self) -> Result<Uploads, BootError> {
        let name = "BOOMERANG_THIRD_PARTY_URL";
        let url = self.env.shared.third_party_url.as_deref();
        let url = url.ok_or(BootError::Missing(name))?;
        let mut client =
            HttpProcessor::new(url).map_err(|reason| BootError::Invalid { name, reason })?;
        if let Some(value) = self.third_party_authorization().await? {
            client = client
                .with_authorization(&value)
                .map_err(|reason| BootError::Invalid {
                    name: THIRD_PARTY_AUTH,
                    reason,
                })?;
        }
        info!(third_party = %client.shown_url(), "sends files to the third party");
        let processor = Arc::new(client.recording_with(crate::xray::record));
        Wiring(self).uploads(processor, self.callback_url()?)
    }

    /// The credentials every hand-over carries as `Authorization`: the
    /// secret `BOOMERANG_THIRD_PARTY_AUTH_SECRET_ARN` names, if set.
    pub async fn third_party_authorization(&self) -> Result<Option<String>, BootError> {
        let arn = self.env.third_party_auth_secret_arn.as_deref();
        let Some(arn) = arn.filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        let value = crate::secrets::fetch_string(&self.secrets, arn)
            .await
            .map_err(|reason| BootError::Invalid {
                name: THIRD_PARTY_AUTH,
                reason,
            })?;
        Ok(Some(value))
    }

    /// The webhook's public URL, `BOOMERANG_CALLBACK_URL`.
    pub fn callback_url(&self) -> Result<String, BootError> {
        let url = self.env.callback_url.as_deref();
        // PublicUrl may end in a slash; the template appends "/webhooks/...".
        Ok(normalise_url(
            url.ok_or(BootError::Missing("BOOMERANG_CALLBACK_URL"))?,
        ))
    }

    /// What the stub third party (`ThirdPartyStub`) is built from: the key
    /// webhooks are signed with now, the credentials the stack's
    /// hand-overs carry, and the webhook it calls back.
    pub async fn stub_settings(&self) -> Result<(Secret, String, String), BootError> {
        let keys = self.webhook_keys().await?;
        let authorization = self
            .third_party_authorization()
            .await?
            .ok_or(BootError::Missing(THIRD_PARTY_AUTH))?;
        Ok((keys.current().clone(), authorization, self.callback_url()?))
    }

    /// Requests under an `Idempotency-Key`.
    pub fn idempotency(&self) -> Result<Idempotency, BootError> {
        Wiring(self).idempotency()
    }

    /// The webhook keys in the secret `BOOMERANG_WEBHOOK_SECRET_ARN` names.
    async fn webhook_keys(&self) -> Result<Keys, BootError> {
        let name = "BOOMERANG_WEBHOOK_SECRET_ARN";
        let arn = self.env.webhook_secret_arn.as_deref();
        let arn = arn.ok_or(BootError::Missing(name))?;
        keys_from(&self.secrets, name, arn, webhook::parse_secret).await
    }

    /// The third party's results, verified with the webhook keys.
    pub async fn webhooks(&self) -> Result<Webhooks, BootError> {
        let keys = self.webhook_keys().await?;
        Wiring(self).webhooks(Some(keys))
    }

    /// The sweep.
    pub fn sweeper(&self) -> Result<Sweeper, BootError> {
        Wiring(self).sweeper()
    }
}

/// The adapters, each built on first use and once, from the variables it
/// names.
impl Adapters for Init {
    type Error = BootError;

    fn connection_store(&self) -> Result<Arc<dyn ConnectionStore>, BootError> {
        once(&self.built.connections, || {
            let d = &self.deployment;
            needed(&d.tables.connections, "BOOMERANG_CONNECTIONS_TABLE")?;
            Ok(Arc::new(d.connection_store(&self.dynamo)))
        })
    }

    fn job_store(&self) -> Result<Arc<dyn JobStore>, BootError> {
        once(&self.built.jobs, || {
            let d = &self.deployment;
            needed(&d.tables.jobs, "BOOMERANG_JOBS_TABLE")?;
            needed(&d.tables.events, "BOOMERANG_EVENTS_TABLE")?;
            let files = self.s3_files()?;
            Ok(Arc::new(d.job_store(
                &self.dynamo,
                files,
                self.clock.clone(),
            )))
        })
    }

    fn event_log(&self) -> Result<Arc<dyn EventLog>, BootError> {
        once(&self.built.events, || {
            let d = &self.deployment;
            needed(&d.tables.events, "BOOMERANG_EVENTS_TABLE")?;
            Ok(Arc::new(d.event_log(&self.dynamo, self.clock.clone())))
        })
    }

    fn file_store(&self) -> Result<Arc<dyn FileStore>, BootError> {
        Ok(Arc::new(self.s3_files()?))
    }

    fn idempotency_keys(&self) -> Result<Arc<dyn IdempotencyKeys>, BootError> {
        once(&self.built.idempotency, || {
            let d = &self.deployment;
            needed(&d.tables.idempotency, "BOOMERANG_IDEMPOTENCY_TABLE")?;
            Ok(Arc::new(d.idempotency_keys(&self.dynamo)))
        })
    }

    fn upload_quota(&self) -> Result<Arc<dyn UploadQuota>, BootError> {
        once(&self.built.quota, || {
            let d = &self.deployment;
            needed(&d.tables.quotas, "BOOMERANG_QUOTAS_TABLE")?;
            Ok(Arc::new(d.upload_quota(&self.dynamo)))
        })
    }

    fn pusher(&self) -> Result<Arc<dyn Pusher>, BootError> {
        once(&self.built.pusher, || {
            let d = &self.deployment;
            needed(&d.connections_endpoint, "BOOMERANG_WS_ENDPOINT")?;
            Ok(Arc::new(d.pusher(&self.sdk)))
        })
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    fn limits(&self) -> &Limits {
        &self.limits
    }
}

const THIRD_PARTY_AUTH: &str = "BOOMERANG_THIRD_PARTY_AUTH_SECRET_ARN";

/// The keys in the secret `arn` (from the variable `name`) names, each
/// checked by `check` (which refuses empty and short keys).
async fn keys_from(
    client: &aws_sdk_secretsmanager::Client,
    name: &'static str,
    arn: &str,
    check: impl Fn(&str) -> Result<Secret, String>,
) -> Result<Keys, BootError> {
    let invalid = |reason| BootError::Invalid { name, reason };
    let stored = crate::secrets::fetch(client, arn).await.map_err(invalid)?;
    let current = check(&stored.current).map_err(invalid)?;
    let previous = stored
        .previous
        .as_deref()
        .map(|p| check(p).map_err(|e| invalid(format!("previous key: {e}"))))
        .transpose()?;
    Ok(Keys::new(current, previous))
}

/// A URL with each run of slashes in its path made one: a base given
/// with a trailing slash, joined to a path, names the same route.
pub fn normalise_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let mut path = String::with_capacity(rest.len());
    for c in rest.chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    if scheme.is_empty() {
        path
    } else {
        format!("{scheme}://{path}")
    }
}

/// Opens the HTTPS connection to DynamoDB during init, so that the first
/// invocation does not wait for DNS and a TLS handshake. Only the
/// connection matters: any answer, an error from the service included,
/// leaves it open in the client's pool.
async fn warm(sdk: &aws_config::SdkConfig) {
    let client = crate::deployment::dynamo_client(sdk);
    let Err(e) = client.describe_endpoints().send().await else {
        return;
    };
    // Any answer from the service leaves the connection open, but a 403
    // is a policy that lacks the action: an AccessDenied in CloudTrail on
    // every cold start.
    match e.raw_response().map(|r| r.status().as_u16()) {
        Some(403) => tracing::warn!("the warm-up call is not allowed by this function's policy"),
        Some(_) => {}
        None => info!(
            error = %aws_sdk_dynamodb::error::DisplayErrorContext(e),
            "could not reach DynamoDB at init; the first invocation connects instead"
        ),
    }
}

/// CloudWatch metrics in the embedded metric format: namespace
/// `Boomerang`, dimension `Stack` (`BOOMERANG_STACK`), flushed to stdout
/// after every invocation by the runner. Each line carries the function's
/// log level and, stamped as the invocation ends ([`stamp`]), an RFC 3339
/// `timestamp`: Lambda filters JSON application lines by their `level`
/// (the template's `LogLevel`), and takes a line without a valid
/// `timestamp` as INFO whatever its level, so at WARN every metric would
/// be dropped and the alarms on them would go quiet.
fn cloudwatch_metrics() -> Result<&'static Collector, lambda_runtime::Error> {
    let stack = std::env::var("BOOMERANG_STACK").unwrap_or_else(|_| "boomerang".into());
    let level = match std::env::var("AWS_LAMBDA_LOG_LEVEL") {
        Ok(l) if !l.trim().is_empty() => l.trim().to_ascii_uppercase(),
        _ => "INFO".to_owned(),
    };
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension("Stack", stack)
        .init()?;
    collector.set_property("level", level);
    boomerang_core::metrics::describe();
    Ok(collector)
}

/// Sets the `timestamp` the next flush writes on every line: now.
fn stamp(metrics: &Collector) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    metrics.set_property("timestamp", now);
}

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "Boomerang";

/// Boots: parses the environment, then builds the function's use cases
/// with `build` while the DynamoDB connection warms.
async fn boot<T, B, BFut>(build: B) -> Result<T, BootError>
where
    B: FnOnce(Init) -> BFut,
    BFut: Future<Output = Result<T, BootError>>,
{
    let init = Init::from_env(Arc::new(SystemClock)).await?;
    let sdk = init.sdk.clone();
    let (built, ()) = futures::join!(build(init), warm(&sdk));
    match &built {
        Ok(_) => info!("initialized"),
        Err(e) => tracing::error!(error = %e, "init failed"),
    }
    built
}

/// Builds its use cases with `build`, then answers API Gateway's HTTP
/// requests with `handle`; each invocation's metrics are written when it
/// ends.
pub async fn serve_http<T, B, BFut, F, Fut>(build: B, handle: F) -> Result<(), lambda_http::Error>
where
    T: Send + Sync,
    B: FnOnce(Init) -> BFut,
    BFut: Future<Output = Result<T, BootError>>,
    F: Fn(Arc<T>, lambda_http::Request) -> Fut + Sync,
    Fut: Future<Output = lambda_http::Response<lambda_http::Body>> + Send,
{
    lambda_runtime::tracing::init_default_subscriber();
    let metrics = cloudwatch_metrics()?;
    let built = Arc::new(boot(build).await?);
    let (built, handle) = (&built, &handle);
    run_http(metrics, move |req| async move {
        let response = handle(built.clone(), req).await;
        stamp(metrics);
        Ok::<_, lambda_http::Error>(response)
    })
    .await
}

/// Builds its use cases with `build`, then handles each event with
/// `handle`; each invocation's metrics are written when it ends (an error
/// included).
pub async fn serve<T, B, BFut, E, R, F, Fut>(
    build: B,
    handle: F,
) -> Result<(), lambda_runtime::Error>
where
    T: Send + Sync,
    B: FnOnce(Init) -> BFut,
    BFut: Future<Output = Result<T, BootError>>,
    E: serde::de::DeserializeOwned + Send,
    R: serde::Serialize,
    F: Fn(Arc<T>, E) -> Fut + Sync,
    Fut: Future<Output = Result<R, lambda_runtime::Error>> + Send,
{
    lambda_runtime::tracing::init_default_subscriber();
    let metrics = cloudwatch_metrics()?;
    let built = Arc::new(boot(build).await?);
    let (built, handle) = (&built, &handle);
    run(
        metrics,
        move |event: lambda_runtime::LambdaEvent<E>| async move {
            let outcome = handle(built.clone(), event.payload).await;
            stamp(metrics);
            outcome
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::{normalise_url, stamp};

    #[test]
    fn every_metric_line_has_a_level_and_an_rfc3339_timestamp_lambda_can_filter_by() {
        // GIVEN a collector like the functions' (the level set at start)
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace("Test")
            .with_dimension("Stack", "s")
            .init()
            .unwrap();
        collector.set_property("level", "WARN");
        // WHEN a counter moves and the invocation ends
        boomerang_core::metrics::count(boomerang_core::metrics::INTERNAL_ERRORS);
        stamp(collector);
        let mut out = Vec::new();
        collector.flush(&mut out).unwrap();
        // THEN every line says its level and when, as Lambda reads them
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().count() >= 1, "{text}");
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["level"], "WARN", "{line}");
            let at = v["timestamp"].as_str().expect("a timestamp");
            chrono::DateTime::parse_from_rfc3339(at).expect("RFC 3339");
            assert_eq!(v["boomerang_internal_errors_total"], 1, "{line}");
        }
    }

    #[test]
    fn a_base_url_with_a_trailing_slash_names_the_same_webhook() {
        for given in [
            "https://api.example.com//webhooks/third-party",
            "https://api.example.com/webhooks/third-party",
            "https://api.example.com///webhooks//third-party",
        ] {
            assert_eq!(
                normalise_url(given),
                "https://api.example.com/webhooks/third-party"
            );
        }
    }
}
