//! What every Lambda does: at init, read its environment once, read its
//! keys from Secrets Manager, build the SDK clients and the app, and warm
//! the HTTPS connection to DynamoDB, so no invocation pays for any of it
//! (a missing variable, an unreadable secret or a short key fails the init
//! with its name); then serve its events, writing each invocation's
//! metrics as it ends ([`serve_http`], [`serve`]). A Lambda's `main.rs`
//! says only what it needs and which handler it runs.

use std::future::Future;
use std::sync::Arc;

use boomerang_core::auth::{Keys, Secret};
use boomerang_core::ports::{Clock, Processor, SystemClock};
use boomerang_core::{auth, webhook, Boomerang, Settings};
use metrics_cloudwatch_embedded::lambda::handler::{run, run_http};
use metrics_cloudwatch_embedded::Collector;
use tracing::info;

use crate::tables::Tables;
use crate::Deployment;
use boomerang_handlers::config::Shared;
use boomerang_http::HttpProcessor;

/// The settings a function cannot run without, beyond its tables.
#[derive(Clone, Copy, Debug, Default)]
pub struct Needs {
    /// Verifies tokens: the secret `BOOMERANG_JWT_SECRET_ARN` names.
    pub jwt_secret: bool,
    /// Verifies webhooks: the secret `BOOMERANG_WEBHOOK_SECRET_ARN` names.
    pub webhook_secret: bool,
    /// Sends files: `BOOMERANG_THIRD_PARTY_URL` and `BOOMERANG_CALLBACK_URL`.
    pub third_party: bool,
}

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
/// shares with the local stack, and its deployment's resources.
#[derive(clap::Parser, Debug)]
#[command(name = "bootstrap", no_binary_name = true)]
struct Environment {
    #[command(flatten)]
    shared: Shared,
    #[arg(
        long,
        env = "BOOMERANG_CONNECTIONS_TABLE",
        value_name = "BOOMERANG_CONNECTIONS_TABLE"
    )]
    connections_table: String,
    #[arg(
        long,
        env = "BOOMERANG_JOBS_TABLE",
        value_name = "BOOMERANG_JOBS_TABLE"
    )]
    jobs_table: String,
    #[arg(
        long,
        env = "BOOMERANG_EVENTS_TABLE",
        value_name = "BOOMERANG_EVENTS_TABLE"
    )]
    events_table: String,
    #[arg(long, env = "BOOMERANG_BUCKET", value_name = "BOOMERANG_BUCKET")]
    bucket: String,
    #[arg(
        long,
        env = "BOOMERANG_WS_ENDPOINT",
        value_name = "BOOMERANG_WS_ENDPOINT"
    )]
    ws_endpoint: String,
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

/// Builds the app once, at init.
pub async fn boot(needs: Needs, clock: Arc<dyn Clock>) -> Result<Boomerang, BootError> {
    let env = <Environment as clap::Parser>::try_parse_from(std::iter::empty::<String>())
        .map_err(|e| BootError::Environment(e.to_string()))?;
    let limits = env.shared.limits();
    let deployment = Deployment {
        tables: Tables {
            connections: env.connections_table,
            jobs: env.jobs_table,
            events: env.events_table,
        },
        bucket: env.bucket,
        connections_endpoint: env.ws_endpoint,
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
    let shared = &env.shared;
    let issuer = if needs.jwt_secret {
        boomerang_http::jwks::identity_provider(
            shared.jwt_issuer.as_deref().unwrap_or_default(),
            shared.jwt_audience.as_deref(),
            shared.jwks_url.as_deref(),
        )
        .map_err(|reason| BootError::Invalid {
            name: "BOOMERANG_JWT_ISSUER",
            reason,
        })?
    } else {
        None
    };
    // With an identity provider, HS256 is accepted only if a secret is set.
    let jwt_secret = async {
        match env.jwt_secret_arn.as_deref() {
            Some(arn) if needs.jwt_secret => {
                keys_from(&secrets, "BOOMERANG_JWT_SECRET_ARN", arn, |k| {
                    auth::secret_from_config("the token key", k)
                })
                .await
                .map(Some)
            }
            None if needs.jwt_secret && issuer.is_none() => {
                Err(BootError::Missing("BOOMERANG_JWT_SECRET_ARN"))
            }
            _ => Ok(None),
        }
    };
    let webhook_secret = async {
        match env.webhook_secret_arn.as_deref() {
            Some(arn) if needs.webhook_secret => {
                let name = "BOOMERANG_WEBHOOK_SECRET_ARN";
                keys_from(&secrets, name, arn, webhook::parse_secret)
                    .await
                    .map(Some)
            }
            None if needs.webhook_secret => Err(BootError::Missing("BOOMERANG_WEBHOOK_SECRET_ARN")),
            _ => Ok(None),
        }
    };
    // The keys and the DynamoDB connection, at once: one round trip of init.
    let (jwt_secret, webhook_secret, ()) = futures::join!(jwt_secret, webhook_secret, warm(&sdk));
    let (jwt_secret, webhook_secret) = (jwt_secret?, webhook_secret?);
    let processor: Option<Arc<dyn Processor>> = if needs.third_party {
        let url = shared.third_party_url.as_deref();
        let url = url.ok_or(BootError::Missing("BOOMERANG_THIRD_PARTY_URL"))?;
        let invalid = |reason| BootError::Invalid {
            name: "BOOMERANG_THIRD_PARTY_URL",
            reason,
        };
        let mut client = HttpProcessor::new(url).map_err(invalid)?;
        if let Some(arn) = env
            .third_party_auth_secret_arn
            .as_deref()
            .filter(|a| !a.is_empty())
        {
            let name = "BOOMERANG_THIRD_PARTY_AUTH_SECRET_ARN";
            let invalid = |reason| BootError::Invalid { name, reason };
            let value = crate::secrets::fetch_string(&secrets, arn)
                .await
                .map_err(invalid)?;
            client = client.with_authorization(&value).map_err(invalid)?;
        }
        info!(third_party = %client.shown_url(), "sends files to the third party");
        Some(Arc::new(client.recording_with(crate::xray::record)))
    } else {
        None
    };
    // PublicUrl may end in a slash; the template appends "/webhooks/...".
    let callback_url = match (needs.third_party, env.callback_url) {
        (true, None) => return Err(BootError::Missing("BOOMERANG_CALLBACK_URL")),
        (_, url) => url.map(|u| normalise_url(&u)).unwrap_or_default(),
    };
    let mut ports = deployment.ports(&sdk, processor, clock);
    ports.issuer_keys = issuer.as_ref().map(|(_, keys)| keys.clone());
    let settings = Settings {
        jwt_secret,
        issuer: issuer.map(|(issuer, _)| issuer),
        webhook_secret,
        callback_url,
        limits,
    };
    info!(
        connections = %deployment.tables.connections,
        bucket = %deployment.bucket,
        "initialized"
    );
    Ok(Boomerang::new(ports, settings))
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
/// log level: Lambda filters application lines by it (the template's
/// `LogLevel`) and takes a line with none as INFO, so at WARN every metric
/// would be dropped and the alarms on them would go quiet.
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

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "Boomerang";

/// Boots with `needs`, then answers API Gateway's HTTP requests with
/// `handle`; each invocation's metrics are written when it ends.
pub async fn serve_http<F, Fut>(needs: Needs, handle: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Boomerang, lambda_http::Request) -> Fut + Sync,
    Fut: Future<Output = lambda_http::Response<lambda_http::Body>> + Send,
{
    lambda_runtime::tracing::init_default_subscriber();
    let metrics = cloudwatch_metrics()?;
    let app = boot(needs, Arc::new(SystemClock)).await?;
    let (app, handle) = (&app, &handle);
    run_http(metrics, move |req| async move {
        Ok::<_, lambda_http::Error>(handle(app.clone(), req).await)
    })
    .await
}

/// Boots with `needs`, then handles each event with `handle`; each
/// invocation's metrics are written when it ends (an error included).
pub async fn serve<E, R, F, Fut>(needs: Needs, handle: F) -> Result<(), lambda_runtime::Error>
where
    E: serde::de::DeserializeOwned + Send,
    R: serde::Serialize,
    F: Fn(Boomerang, E) -> Fut + Sync,
    Fut: Future<Output = Result<R, lambda_runtime::Error>> + Send,
{
    lambda_runtime::tracing::init_default_subscriber();
    let metrics = cloudwatch_metrics()?;
    let app = boot(needs, Arc::new(SystemClock)).await?;
    let (app, handle) = (&app, &handle);
    run(
        metrics,
        move |event: lambda_runtime::LambdaEvent<E>| async move {
            handle(app.clone(), event.payload).await
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::normalise_url;

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
