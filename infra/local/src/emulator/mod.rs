//! The API Gateway emulator: sockets and HTTP requests in, the same API
//! Gateway events the Lambdas get, handed to `boomerang-handlers`.

mod files;
mod http;
mod management;
mod outbox;
mod peer;
pub mod provision;
mod pusher;
pub mod s3_events;
mod serve;
pub mod web;
mod ws;

pub use pusher::{GatewayPusher, Registry};
pub use serve::{serve, ServeLimits, WAITING_PER_SLOT};

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::HOST;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use boomerang_core::App;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Lambda: at most 6 MB of request payload (synchronous invocation).
pub const LAMBDA_MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;
/// API Gateway WebSocket: 128 KB per message, 32 KB per frame.
pub const WS_MAX_MESSAGE_BYTES: usize = 128 * 1024;
pub const WS_MAX_FRAME_BYTES: usize = 32 * 1024;

/// What the gateway needs, shared by every request.
pub struct Gateway {
    pub app: App,
    pub registry: Registry,
    /// `requestContext.domainName` and `stage`, as API Gateway fills them.
    pub domain_name: String,
    pub stage: String,
    /// API Gateway WebSocket: closed after 10 minutes idle, 2 hours in all.
    pub idle_timeout: Duration,
    pub max_connection_age: Duration,
    /// How long one write to a socket may take before the tab is taken
    /// for gone (it stopped reading).
    pub write_timeout: Duration,
    /// How long a client may take to send a request body.
    pub body_timeout: Duration,
    /// `/dev/token` and the Management API exist: the stack listens on a
    /// loopback address only (they still answer only loopback `Host`s).
    pub dev_endpoints: bool,
    /// API Gateway sends `$disconnect` only best-effort: the share of
    /// closed sockets that never get theirs (0 to 1); their rows wait for a
    /// push's 410.
    pub disconnect_drop_ratio: f64,
    pub shutdown: CancellationToken,
    /// Open sockets, so a clean stop can wait for their `$disconnect`.
    pub sockets: TaskTracker,
    /// Embedded: where files are stored, and the signer of their PUT URLs.
    /// (`None` with the aws backend: S3 takes the PUTs.)
    pub files: Option<crate::embedded::files::DiskFileStore>,
    /// Uploads whose PUT is streaming now: one at a time each.
    pub puts_in_flight: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Stored uploads being handed to the third party, which a clean stop
    /// lets finish.
    pub work: TaskTracker,
    /// The demo page's content security policy ([`web::content_security_policy`]).
    pub csp: axum::http::HeaderValue,
}

pub fn router(gw: Arc<Gateway>) -> Router {
    // Development endpoints: a loopback bind and a loopback Host, or 404.
    // (`/metrics` too: BOOMERANG_METRICS_ADDR gives it a listener of its own.)
    let dev = Router::new()
        .route("/dev/token", post(http::forward))
        .route("/metrics", get(http::metrics))
        .route("/local/s3-events", post(files::s3_events))
        .merge(management_api())
        .route_layer(middleware::from_fn_with_state(gw.clone(), dev_only));
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/uploads", post(http::forward))
        .route(
            "/files/uploads/direct/{id}",
            put(files::put).get(files::get),
        )
        .route("/files/uploads/{id}", get(files::get))
        .route("/webhooks/third-party", post(http::forward))
        .route("/jobs", get(http::forward))
        .route("/jobs/{id}", get(http::forward))
        .route("/events", get(http::forward))
        .route("/healthz", get(http::healthz))
        .merge(dev)
        .merge(web::router())
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .with_state(gw)
}

/// The Management API alone, for a listener of the stack's own on
/// loopback, when the public one is not (aws backend): loopback Host only,
/// as on the public listener.
pub fn internal_management(gw: Arc<Gateway>) -> Router {
    management_api()
        .route_layer(middleware::from_fn(loopback_host_only))
        .with_state(gw)
}

/// `GET /metrics` alone, for `BOOMERANG_METRICS_ADDR`'s listener: anyone
/// who can reach that address may scrape it.
pub fn metrics_only(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/metrics", get(http::metrics))
        .fallback(http::not_found)
        .with_state(gw)
}

/// `/dev/token` mints any user's token and the Management API pushes into
/// any tab: they exist only when the stack listens on loopback, and only
/// for requests naming a loopback host, so a page on another site cannot
/// reach them by DNS rebinding (its `Host` is its own name).
async fn dev_only(State(gw): State<Arc<Gateway>>, req: Request, next: Next) -> Response {
    // Tokens for any user only to the stack's own user, where the kernel
    // says who the caller is: another account of a shared machine reaches
    // loopback too. (Only there: it reads the kernel's socket table, which
    // every push through the Management API would pay for.)
    let minting = req.uri().path() == "/dev/token";
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let us = gw.domain_name.parse().ok();
    let ours = !minting
        || peer
            .zip(us)
            .and_then(|(p, u)| peer::is_ours(p, u))
            .unwrap_or(true);
    if gw.dev_endpoints && names_only_loopback(&req) && ours {
        next.run(req).await
    } else {
        http::not_found().await
    }
}

async fn loopback_host_only(req: Request, next: Next) -> Response {
    if names_only_loopback(&req) {
        next.run(req).await
    } else {
        http::not_found().await
    }
}

/// Every host the request names is a loopback one: its `Host` header and,
/// in absolute form (`GET http://host/path`), its target's authority; and
/// it names at least one.
fn names_only_loopback(req: &Request) -> bool {
    let target = req.uri().authority().map(|a| a.as_str());
    let mut headers = req.headers().get_all(HOST).iter();
    let header = match (headers.next(), headers.next()) {
        (None, _) => None,
        (Some(h), None) => match h.to_str() {
            Ok(h) => Some(h),
            Err(_) => return false,
        },
        (Some(_), Some(_)) => return false,
    };
    (target.is_some() || header.is_some())
        && target.is_none_or(is_loopback_host)
        && header.is_none_or(is_loopback_host)
}

/// `localhost`, `127.0.0.1` or `[::1]`, with any port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((name, port)) if port.is_empty() || is_port(port) => name,
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        },
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "::1"
}

fn is_port(s: &str) -> bool {
    let digits = s.strip_prefix(':').unwrap_or(s);
    !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// API Gateway's own Management API for this WebSocket API (not part of
/// Boomerang's HTTP API: AWS serves it on the `execute-api` domain).
fn management_api() -> Router<Arc<Gateway>> {
    let conn = get(management::get)
        .post(management::post)
        .delete(management::delete);
    Router::new()
        .route("/@connections/{id}", conn.clone())
        .route("/{stage}/@connections/{id}", conn)
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn only_loopback_names_are_loopback_hosts() {
        for ok in [
            "localhost",
            "LOCALHOST:3000",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:3000",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "127.0.0.2",
            "0.0.0.0:3000",
            "[::2]:1",
            "localhost:http",
            "127.0.0.1:3000:1",
            "[::1]x",
            "",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
