//! `POST /dev/token`: tokens for trying things out. The local stack routes
//! it; no Lambda does.

use boomerang_core::{Authenticator, Error, UserId};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;

use super::body_bytes;
use crate::response::{error_response, json_response};

/// How long a dev token lives.
const DEV_TOKEN_HOURS: i64 = 12;

#[derive(Deserialize)]
struct TokenRequest {
    user: String,
}

pub async fn dev_token(auth: &Authenticator, req: Request) -> Response<Body> {
    // JSON only: a page elsewhere cannot send that cross-origin without a
    // CORS preflight, which this route never grants.
    let json = super::header(&req, "content-type").is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json {
        return error_response(&Error::Unsupported(
            "send the request as application/json".into(),
        ));
    }
    let parsed = serde_json::from_slice::<TokenRequest>(&body_bytes(&req))
        .map_err(|_| Error::Invalid(r#"expected {"user": "<1 to 128 characters>"}"#.into()))
        .and_then(|r| UserId::parse(r.user));
    match parsed {
        Ok(user) => {
            let exp = auth.now() + chrono::Duration::hours(DEV_TOKEN_HOURS);
            let Some(token) = auth.issue_token(&user, exp) else {
                return error_response(&Error::NotFound("no HS256 key is configured".into()));
            };
            json_response(
                200,
                &json!({"token": token, "user": user.as_str(), "expiresAt": exp.timestamp()}),
            )
        }
        Err(e) => error_response(&e),
    }
}
