//! The browser side, served from the binary itself: the demo page at `/`
//! and the client modules at `/boomerang-client.js` and `/client/*.js`
//! (sources in `web/`).
//! Embedded at build time, so the stack works offline with no build step.

use std::sync::Arc;

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::Gateway;

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// A file of `web/`, embedded at build time.
macro_rules! asset {
    ($path:literal, $file:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_str!(concat!("../../../../web/", $file)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TS: &str = "application/typescript; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("/", "index.html", HTML),
    asset!("/demo.js", "demo.js", JS),
    asset!("/demo.css", "demo.css", CSS),
    asset!("/boomerang-client.js", "boomerang-client.js", JS),
    asset!("/client/socket.js", "client/socket.js", JS),
    asset!("/client/sequencing.js", "client/sequencing.js", JS),
    asset!("/client/uploads.js", "client/uploads.js", JS),
    asset!("/client/election.js", "client/election.js", JS),
    asset!("/boomerang-client.d.ts", "boomerang-client.d.ts", TS),
];

/// The page may talk to any Boomerang stack (its URLs are parameters), but
/// runs only its own scripts and styles and is never framed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self' http: https: ws: wss:; frame-ancestors 'none'; base-uri 'none'; \
                   form-action 'none'";

pub fn router() -> Router<Arc<Gateway>> {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        router.route(asset.path, get(move || async move { serve(asset) }))
    })
}

fn serve(asset: &'static Asset) -> Response {
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    // A restarted stack may serve a newer client: always revalidate.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_served_with_its_type() {
        for asset in ASSETS {
            let r = serve(asset);
            assert_eq!(
                r.headers()[CONTENT_TYPE],
                asset.content_type,
                "{}",
                asset.path
            );
            assert!(!asset.body.is_empty(), "{}", asset.path);
        }
    }
}
