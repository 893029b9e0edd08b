//! API Gateway's Management API for the local WebSocket API:
//! `POST`/`GET`/`DELETE /@connections/{id}`, also under the stage
//! (`/local/@connections/{id}`), as `execute-api` serves it. The AWS
//! backend's `ApiGatewayPusher` talks to this exactly as it talks to AWS.
//!
//! Requests are not checked for a SigV4 signature: only what listens on
//! this machine's loopback reaches it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use boomerang_core::ConnectionId;
use chrono::SecondsFormat;
use serde_json::json;

use super::outbox::Outbound;
use super::pusher::SendError;
use super::{Gateway, WS_MAX_MESSAGE_BYTES};

/// `PostToConnection`: the body goes to the socket as one text message.
pub async fn post(State(gw): State<Arc<Gateway>>, Target(id): Target, body: Bytes) -> Response {
    // API Gateway WebSocket: 128 KB per message, in either direction.
    if body.len() > WS_MAX_MESSAGE_BYTES {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            "Message too long",
        );
    }
    let text = match String::from_utf8(body.to_vec()) {
        Ok(t) => t,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequestException",
                "the local gateway sends text frames only; data must be UTF-8",
            )
        }
    };
    match gw.registry.send(&id, Outbound::Text(text)) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => send_error(e),
    }
}

/// `GetConnection`.
pub async fn get(State(gw): State<Arc<Gateway>>, Target(id): Target) -> Response {
    match gw.registry.info(&id) {
        Some(i) => axum::Json(json!({
            "ConnectedAt": i.connected_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "LastActiveAt": i.last_active_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "Identity": {"SourceIp": i.source_ip, "UserAgent": i.user_agent},
        }))
        .into_response(),
        None => send_error(SendError::Gone),
    }
}

/// `DeleteConnection`: the socket is closed and gets its `$disconnect`.
pub async fn delete(State(gw): State<Arc<Gateway>>, Target(id): Target) -> Response {
    match gw.registry.send(&id, Outbound::Close) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => send_error(e),
    }
}

/// The connection a request names. A stage other than ours is refused as
/// API Gateway refuses an unknown path; an id that could never have been
/// issued is a connection that is not there.
pub struct Target(ConnectionId);

impl FromRequestParts<Arc<Gateway>> for Target {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        gw: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, gw)
            .await
            .map_err(IntoResponse::into_response)?;
        if params.get("stage").is_some_and(|s| *s != gw.stage) {
            return Err(error(
                StatusCode::FORBIDDEN,
                "ForbiddenException",
                "Forbidden",
            ));
        }
        let raw = params.get("id").map(String::as_str).unwrap_or_default();
        ConnectionId::parse(raw)
            .map(Target)
            .map_err(|_| send_error(SendError::Gone))
    }
}

/// A socket that is not there, or was just closed for not keeping up.
fn send_error(e: SendError) -> Response {
    match e {
        SendError::Gone => error(StatusCode::GONE, "GoneException", "Gone"),
    }
}

/// An error as `execute-api` sends it: the type in `x-amzn-ErrorType`
/// (where the SDK reads it) and a JSON `message`.
fn error(status: StatusCode, kind: &'static str, message: &str) -> Response {
    (
        status,
        [("x-amzn-ErrorType", kind)],
        axum::Json(json!({ "message": message })),
    )
        .into_response()
}
