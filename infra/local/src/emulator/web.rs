//! The browser side, served from the binary itself: the demo page at `/`
//! and the client modules at `/boomerang-client.js` and `/client/*.js`
//! (sources in `web/`).
//! Embedded at build time, so the stack works offline with no build step.

use std::sync::Arc;

use axum::extract::State;
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
    asset!("/client/options.js", "client/options.js", JS),
    asset!("/client/session.js", "client/session.js", JS),
    asset!("/client/tabs.js", "client/tabs.js", JS),
    asset!("/client/timers.js", "client/timers.js", JS),
    asset!("/client/tokens.js", "client/tokens.js", JS),
    asset!("/boomerang-client.d.ts", "boomerang-client.d.ts", TS),
];

/// The page runs only its own scripts and styles, is never framed, and
/// connects only to this stack and the origins `BOOMERANG_DEMO_ORIGINS`
/// names (a deployed stack's HTTP API and WebSocket): a link that points
/// the page at another socket (`?ws=`) cannot make it send a token there.
/// ('self' covers this host's `ws:` and `wss:` too, as CSP Level 3 says.)
pub fn content_security_policy(origins: &[String]) -> HeaderValue {
    let connect = std::iter::once("'self'")
        .chain(origins.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    );
    HeaderValue::from_str(&csp).expect("origins are checked at start")
}

/// An origin the demo page may connect to: `scheme://host[:port]` with an
/// `http`, `https`, `ws` or `wss` scheme, and nothing after it.
pub fn demo_origin(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text.trim()).map_err(|e| format!("{text:?}: {e}"))?;
    let plain = url.username().is_empty()
        && url.password().is_none()
        && matches!(url.path(), "" | "/")
        && url.query().is_none()
        && url.fragment().is_none();
    match (url.scheme(), url.host_str()) {
        (scheme @ ("http" | "https" | "ws" | "wss"), Some(host)) if plain => Ok(match url.port() {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        }),
        _ => Err(format!(
            "{text:?} is not an origin such as https://api.example.com or wss://ws.example.com"
        )),
    }
}

pub fn router() -> Router<Arc<Gateway>> {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        router.route(
            asset.path,
            get(move |State(gw): State<Arc<Gateway>>| async move { serve(asset, &gw.csp) }),
        )
    })
}

fn serve(asset: &'static Asset, csp: &HeaderValue) -> Response {
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    // A restarted stack may serve a newer client: always revalidate.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(CONTENT_SECURITY_POLICY, csp.clone());
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

    /// A module the client imports but the stack does not serve breaks
    /// the demo page: every file of `web/client` is an asset.
    #[test]
    fn every_client_module_is_served() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/client");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let path = format!("/client/{name}");
            assert!(
                ASSETS.iter().any(|a| a.path == path),
                "{path} is not served"
            );
        }
    }

    #[test]
    fn every_asset_is_served_with_its_type() {
        for asset in ASSETS {
            let r = serve(asset, &content_security_policy(&[]));
            assert_eq!(
                r.headers()[CONTENT_TYPE],
                asset.content_type,
                "{}",
                asset.path
            );
            assert!(!asset.body.is_empty(), "{}", asset.path);
        }
    }

    #[test]
    fn the_page_connects_only_to_itself_and_the_origins_named() {
        let csp = content_security_policy(&["wss://ws.example.com".into()]);
        let csp = csp.to_str().unwrap();
        assert!(
            csp.contains("connect-src 'self' wss://ws.example.com;"),
            "{csp}"
        );
        assert!(!csp.contains("ws:;") && !csp.contains(" http: "), "{csp}");
        assert_eq!(
            demo_origin("wss://ws.example.com/").unwrap(),
            "wss://ws.example.com"
        );
        assert_eq!(
            demo_origin("https://a.example:8443").unwrap(),
            "https://a.example:8443"
        );
        for bad in [
            "ws:",
            "wss://x.example/path",
            "https://u:p@x.example",
            "ftp://x.example",
            "x; script-src *",
        ] {
            assert!(demo_origin(bad).is_err(), "{bad}");
        }
    }
}
