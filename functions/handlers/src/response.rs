//! JSON responses, and the one mapping from core errors to them.

use boomerang_core::Error;
use lambda_http::{Body, Response};
use serde_json::{json, Value};
use tracing::error;

/// The HTTP status each kind of core error is answered with: the one
/// place the core's errors meet HTTP.
pub trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for Error {
    fn status_code(&self) -> u16 {
        match self {
            Error::Invalid(_) => 400,
            Error::Unauthenticated(_) => 401,
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::TooLarge(_) => 413,
            Error::Unsupported(_) => 415,
            Error::Unprocessable(_) => 422,
            Error::RateLimited { .. } => 429,
            Error::Upstream(_) => 502,
            Error::Unavailable(_) => 503,
            Error::Internal(_) => 500,
        }
    }
}

pub fn json_response(status: u16, value: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::Text(value.to_string()))
        .expect("status and headers are valid")
}

/// `{"error": "..."}` with the error's status. Internal details are logged
/// and never sent; each 500 is counted (a rollout alarm watches it).
pub fn error_response(err: &Error) -> Response<Body> {
    if let Error::Internal(detail) = err {
        error!(error = %detail, "internal error");
        boomerang_core::metrics::count(boomerang_core::metrics::INTERNAL_ERRORS);
    }
    let mut response = json_response(err.status_code(), &json!({"error": err.public_message()}));
    let retry_after = match err {
        // Soon: what is missing is fetched again within a second.
        Error::Unavailable(_) => Some(1),
        // Whole seconds, rounded up: never an invitation to come too early.
        Error::RateLimited {
            retry_after: Some(d),
            ..
        } => Some(d.as_secs() + u64::from(d.subsec_nanos() > 0)),
        _ => None,
    };
    if let Some(secs) = retry_after {
        let value = http::HeaderValue::from(secs.max(1));
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, value);
    }
    response
}
