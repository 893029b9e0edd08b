//! HTTP API handlers: `lambda_http::Request` in, `lambda_http::Response` out.
//! One function per Lambda (`upload`, `webhook`, `api`), plus the local
//! stack's `/dev/token`.

mod api;
mod dev;
mod params;
mod upload;
mod webhook;

pub use api::api;
pub use dev::dev_token;
pub use upload::upload;
pub use webhook::webhook;

use boomerang_core::{Authenticator, Result, UserId};
use lambda_http::ext::RequestExt;
use lambda_http::{Body, Request};

/// The user behind `Authorization: Bearer <token>`.
async fn bearer_user(auth: &Authenticator, req: &Request) -> Result<UserId> {
    auth.authenticate(bearer_token(req.headers())).await
}

/// The token of `Authorization: Bearer <token>` (scheme in any case).
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
}

/// A query string parameter as API Gateway delivered it.
fn query(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}

/// The request body's bytes, whatever encoding API Gateway used.
fn body_bytes(req: &Request) -> bytes::Bytes {
    match req.body() {
        Body::Empty => bytes::Bytes::new(),
        Body::Text(s) => bytes::Bytes::copy_from_slice(s.as_bytes()),
        Body::Binary(b) => bytes::Bytes::copy_from_slice(b),
        _ => bytes::Bytes::new(),
    }
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}
