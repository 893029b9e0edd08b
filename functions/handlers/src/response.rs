//! JSON responses, and the one mapping from core errors to them.

use boomerang_core::Error;
use lambda_http::{Body, Response};
use serde_json::{json, Value};
use tracing::error;

pub fn json_response(status: u16, value: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::Text(value.to_string()))
        .expect("status and headers are valid")
}

/// `{"error": "..."}` with the error's status. Internal details are logged
/// and never sent.
pub fn error_response(err: &Error) -> Response<Body> {
    if let Error::Internal(detail) = err {
        error!(error = %detail, "internal error");
    }
    json_response(err.status_code(), &json!({"error": err.public_message()}))
}
