//! What each fuzz target does with its input, shared by the libFuzzer entry
//! points (`fuzz_targets/`, `make fuzz`) and the corpus replay that runs in
//! `make test` (`tests/corpus.rs`).
//!
//! Every target feeds untrusted bytes to code that faces the outside world
//! and checks what a caller would notice: no panic (libFuzzer reports one
//! as a crash), and a refusal is a 4xx, never a 5xx (the in-memory
//! adapters behind the app never fail, so a 5xx is our bug).

use boomerang_handlers::HttpStatus;
use std::cell::RefCell;
use std::future::Future;

use boomerang_core::auth::{self, Keys, Secret};
use boomerang_core::memory::TestApp;
use boomerang_core::webhook::{self, SignatureHeaders};
use bytes::Bytes;
use chrono::Utc;

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    /// One app per thread: a fresh one per input would cost more than the
    /// input does. Its state only grows (jobs, connections), which is what
    /// a long-running deployment sees too.
    static APP: RefCell<TestApp> = RefCell::new(TestApp::new());
}

fn block_on<F: Future>(f: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(f))
}

fn with_app<T>(f: impl FnOnce(&TestApp) -> T) -> T {
    APP.with(|app| f(&app.borrow()))
}

fn assert_client_error(status: u16, what: &str) {
    assert!(status < 500, "{what} answered {status}");
}

/// A bearer token, verified: any bytes, never a panic; a token that passes
/// names a valid user.
pub fn token(data: &[u8]) {
    let keys: Keys = Secret::new(b"a token key of thirty-two bytes!!".to_vec()).into();
    let token = String::from_utf8_lossy(data);
    if let Ok(user) = auth::verify(&token, &keys, Utc::now()) {
        assert!(!user.as_str().is_empty());
    }
    let _ = auth::key_needed(&token, None);
    let _ = auth::unverified_expiry(&token);
}

/// Standard Webhooks headers and a body, verified: the input is
/// `id \n timestamp \n signature \n body`.
pub fn webhook_signature(data: &[u8]) {
    let keys: Keys = Secret::new(b"a webhook key, 24+ bytes".to_vec()).into();
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let mut header = || {
        parts
            .next()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    };
    let headers = SignatureHeaders {
        id: header(),
        timestamp: header(),
        signature: header(),
    };
    let body = parts.next().unwrap_or_default();
    let tolerance = std::time::Duration::from_secs(300);
    if let Ok(v) = webhook::verify(&keys, &headers, body, Utc::now(), tolerance) {
        assert_eq!(Some(v.id), headers.id, "a verified id is the header's");
    }
}

/// A webhook body, correctly signed, through the whole use case: parsing,
/// the job lookup, the transition. Anything refused is a 4xx.
pub fn webhook_body(data: &[u8]) {
    with_app(|t| {
        let ts = Utc::now().timestamp();
        let id = format!("msg_fuzz_{}", data.len());
        let headers = SignatureHeaders {
            id: Some(id.clone()),
            timestamp: Some(ts.to_string()),
            signature: Some(webhook::sign(
                &boomerang_core::auth::Secret::new(boomerang_core::memory::WEBHOOK_KEY.to_vec()),
                &id,
                ts,
                data,
            )),
        };
        if let Err(e) = block_on(t.app.webhooks.receive(&headers, data)) {
            assert_client_error(e.status_code(), "a signed webhook");
        }
    })
}

/// A multipart upload body: the first line is the content type, the rest
/// the body.
pub fn multipart(data: &[u8]) {
    let (ct, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let ct = String::from_utf8_lossy(ct);
    let body = Bytes::copy_from_slice(body);
    match block_on(boomerang_handlers::multipart::file_part(
        Some(&ct),
        body.clone(),
        64 * 1024,
    )) {
        Ok(file) => assert!(file.bytes.len() <= 64 * 1024),
        Err(e) => assert_client_error(e.status_code(), "the multipart parser"),
    }
}

/// An HTTP API (payload 2.0) event as our HTTP Lambdas get it from
/// lambda_http, or `None`. lambda_http 1.3.2 panics on events API Gateway
/// never sends, which this target found: a Host header or `domainName`
/// that is not a host name, an `x-forwarded-proto` that is not a scheme, a
/// stage, path or query that does not make a URI with them (an `unwrap` and an `expect` while building the request),
/// and `isBase64Encoded` with a body that is not base64 (aws_lambda_events'
/// `Body::from_maybe_encoded`, documented to panic). The Lambda runtime
/// would turn such a panic into one failed invocation, and the local
/// gateway builds its events itself (it sets `host` and encodes bodies);
/// so these events are stepped over here rather than reported as ours
/// (libFuzzer treats even a caught panic as a crash).
fn lambda_request(text: &str) -> Option<lambda_http::Request> {
    use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
    use lambda_http::request::LambdaRequest;
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let field = |p: &str| v.pointer(p).and_then(|x| x.as_str()).unwrap_or_default();
    let path = field("/rawPath");
    let stage = field("/requestContext/stage");
    let query = field("/rawQueryString");
    // Header names in any case (HeaderMap folds them), every value.
    let header = |name: &str| -> Vec<&str> {
        v.get("headers")
            .and_then(|h| h.as_object())
            .map(|h| {
                h.iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .filter_map(|(_, v)| v.as_str())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut schemes = header("x-forwarded-proto");
    schemes.push("https");
    let mut hosts = header("host");
    hosts.extend([field("/requestContext/domainName"), "localhost"]);
    for scheme in &schemes {
        for host in hosts.iter().filter(|h| !h.is_empty()) {
            for p in [path.to_owned(), format!("/{stage}{path}")] {
                let uri = format!("{scheme}://{host}{p}");
                url::Url::parse(&uri).ok()?;
                url::Url::parse(&format!("http://localhost{p}")).ok()?;
                lambda_http::http::Uri::try_from(format!("{uri}?{query}")).ok()?;
            }
        }
    }
    if v.get("isBase64Encoded") == Some(&serde_json::Value::Bool(true)) {
        if let Some(body) = v.get("body").and_then(|b| b.as_str()) {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .ok()?;
        }
    }
    let event: ApiGatewayV2httpRequest = serde_json::from_value(v).ok()?;
    Some(lambda_http::Request::from(LambdaRequest::ApiGatewayV2(
        event,
    )))
}

/// An API Gateway event as JSON: an HTTP API (payload 2.0) request to each
/// HTTP handler, or a WebSocket event to each route's handler.
pub fn apigw_event(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    with_app(|t| {
        let app = &t.app;
        if let Some(req) = lambda_request(text) {
            let res = block_on(boomerang_handlers::http::api(&app.auth, &app.queries, req));
            assert_client_error(res.status().as_u16(), "GET /jobs, /events");
        }
        if let Some(req) = lambda_request(text) {
            let res = block_on(boomerang_handlers::http::webhook(&app.webhooks, req));
            assert_client_error(res.status().as_u16(), "the webhook");
        }
        if let Some(req) = lambda_request(text) {
            let res = block_on(boomerang_handlers::http::upload(
                &app.auth,
                &app.uploads,
                &app.idempotency,
                req,
            ));
            assert_client_error(res.status().as_u16(), "an upload");
        }
        type Ws = aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
        if let Ok(event) = serde_json::from_str::<Ws>(text) {
            let res = block_on(boomerang_handlers::ws::connect(
                &app.auth,
                &app.connections,
                event.clone(),
            ));
            assert_client_error(res.status_code as u16, "$connect");
            let res = boomerang_handlers::ws::default(event.clone());
            assert_client_error(res.status_code as u16, "$default");
            let res = block_on(boomerang_handlers::ws::disconnect(&app.connections, event));
            assert_client_error(res.status_code as u16, "$disconnect");
        }
    })
}
