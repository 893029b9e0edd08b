//! WebSocket API handlers: `$connect`, `$disconnect` and `$default`.
//!
//! API Gateway WebSocket events in, API Gateway proxy responses out. A
//! non-2xx answer to `$connect` refuses the upgrade; the body of the
//! `$default` answer is sent back to the calling tab (a two-way route).

use crate::HttpStatus;
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use boomerang_core::{Authenticator, ConnectionId, Connections, Error};
use chrono::{DateTime, Utc};
use serde_json::json;
use tracing::warn;

use crate::response::error_response;

/// `$connect`: the token in `?token=` decides whose connection this is.
pub async fn connect(
    auth: &Authenticator,
    connections: &Connections,
    event: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let conn = match connection_id(&event) {
        Ok(c) => c,
        Err(e) => return proxy_error(&e),
    };
    let token = event.query_string_parameters.first("token");
    let identity = match auth.identify(token).await {
        Ok(i) => i,
        Err(e) => return proxy_error(&e),
    };
    let connected_at = DateTime::<Utc>::from_timestamp_millis(event.request_context.connected_at)
        .unwrap_or_else(|| auth.now());
    match connections.on_connect(identity, conn, connected_at).await {
        Ok(_) => proxy(200, None),
        Err(e) => proxy_error(&e),
    }
}

/// `$disconnect`: best effort, as API Gateway delivers it.
pub async fn disconnect(
    connections: &Connections,
    event: ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let conn = match connection_id(&event) {
        Ok(c) => c,
        Err(e) => return proxy_error(&e),
    };
    match connections.on_disconnect(&conn).await {
        Ok(()) => proxy(200, None),
        Err(e) => {
            warn!(connection = %conn, error = %e, "disconnect not recorded; the next push will find it gone");
            proxy_error(&e)
        }
    }
}

/// `$default`: every message a tab sends. The answer goes back to that tab.
pub fn default(event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    let reply = match (event.body.as_deref(), event.is_base64_encoded) {
        (Some(body), false) => boomerang_core::usecases::answer(body),
        _ => json!({"type": "error", "message": "send JSON text messages"}).to_string(),
    };
    proxy(200, Some(reply))
}

fn connection_id(event: &ApiGatewayWebsocketProxyRequest) -> Result<ConnectionId, Error> {
    let id = event
        .request_context
        .connection_id
        .clone()
        .unwrap_or_default();
    ConnectionId::parse(id)
}

fn proxy(status: i64, body: Option<String>) -> ApiGatewayProxyResponse {
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = status;
    r.body = body.map(Body::Text);
    r
}

fn proxy_error(err: &Error) -> ApiGatewayProxyResponse {
    // Same JSON and logging as the HTTP API.
    let http = error_response(err);
    let body = match http.body() {
        lambda_http::Body::Text(s) => s.clone(),
        _ => String::new(),
    };
    let mut r = proxy(i64::from(err.status_code()), Some(body));
    r.headers.insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    r
}
