//! The API Gateway emulator: sockets and HTTP requests in, the same API
//! Gateway events the Lambdas get, handed to `boomerang-handlers`.

mod http;
mod management;
mod pusher;
mod web;
mod ws;

pub use pusher::{GatewayPusher, Registry};

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use boomerang_core::Boomerang;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Lambda: at most 6 MB of request payload (synchronous invocation).
pub const LAMBDA_MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;
/// API Gateway WebSocket: 128 KB per message, 32 KB per frame.
pub const WS_MAX_MESSAGE_BYTES: usize = 128 * 1024;
pub const WS_MAX_FRAME_BYTES: usize = 32 * 1024;

/// What the gateway needs, shared by every request.
pub struct Gateway {
    pub app: Boomerang,
    pub registry: Registry,
    /// `requestContext.domainName` and `stage`, as API Gateway fills them.
    pub domain_name: String,
    pub stage: String,
    /// API Gateway WebSocket: closed after 10 minutes idle, 2 hours in all.
    pub idle_timeout: Duration,
    pub max_connection_age: Duration,
    /// API Gateway sends `$disconnect` only best-effort; when false, closed
    /// sockets never get theirs, and their rows wait for a push's 410.
    pub deliver_disconnect: bool,
    pub shutdown: CancellationToken,
    /// Open sockets, so a clean stop can wait for their `$disconnect`.
    pub sockets: TaskTracker,
}

pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/uploads", post(http::forward))
        .route("/webhooks/third-party", post(http::forward))
        .route("/jobs", get(http::forward))
        .route("/jobs/{id}", get(http::forward))
        .route("/events", get(http::forward))
        .route("/dev/token", post(http::forward))
        .route("/healthz", get(http::healthz))
        .route("/metrics", get(http::metrics))
        .merge(management_api())
        .merge(web::router())
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .with_state(gw)
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
