//! The HTTP side: each request becomes an API Gateway HTTP API (payload
//! 2.0) event, parsed by `lambda_http` exactly as in a Lambda, and handed
//! to the handler the deployed route points at.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use boomerang_handlers::http as handlers;
use bytes::Bytes;
use chrono::Utc;
use serde_json::{json, Map, Value};

use super::{Gateway, LAMBDA_MAX_REQUEST_BYTES};

/// The route the third party posts its results to.
const WEBHOOK_ROUTE: &str = "/webhooks/third-party";

pub async fn forward(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    matched: MatchedPath,
    params: Result<RawPathParams, RawPathParamsRejection>,
    req: Request,
) -> Response {
    let route = matched.as_str();
    let (parts, body) = req.into_parts();
    // As API Gateway's JWT authorizer does: a route that needs a token is
    // refused before a byte of its body is read.
    if needs_token(route) {
        let token = handlers::bearer_token(&parts.headers);
        if let Err(e) = gw.app.auth.authenticate(token).await {
            // As the handler would answer it: 401, or 503 while an
            // identity provider's keys are unavailable.
            return into_axum(boomerang_handlers::error_response(&e));
        }
    }
    // A path parameter that does not decode to text (`/jobs/%FF`) names
    // nothing we ever issued.
    let Ok(params) = params else {
        return json_error(StatusCode::NOT_FOUND, "no such job");
    };
    let body = match read_body(&gw, route, body).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let event = http_event(&gw, &parts, route, &params, &body, peer);
    // What a Lambda behind this route deserialises its event into, from the
    // value itself: straight to the payload 2.0 type, not through
    // lambda_http's untagged guess at which of its event types it is.
    let request = match serde_json::from_value::<ApiGatewayV2httpRequest>(event) {
        Ok(r) => lambda_http::Request::from(lambda_http::request::LambdaRequest::ApiGatewayV2(r)),
        Err(e) => {
            tracing::error!(error = %e, "gateway built an event lambda_http cannot read");
            return json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let app = &gw.app;
    let response = match route {
        "/uploads" => handlers::upload(&app.auth, &app.uploads, &app.idempotency, request).await,
        WEBHOOK_ROUTE => handlers::webhook(&app.webhooks, request).await,
        "/dev/token" => handlers::dev_token(&app.auth, request).await,
        _ => handlers::api(&app.auth, &app.queries, request).await,
    };
    into_axum(response)
}

/// The request's body, read within the body timeout and Lambda's 6 MB
/// payload limit (the webhook's own, far lower, on its route); or the
/// answer that refuses it. A larger body is refused without reading (or
/// holding) the rest; the handler would refuse it with the same answer.
async fn read_body(gw: &Gateway, route: &str, body: axum::body::Body) -> Result<Bytes, Response> {
    let webhook_limit = gw.app.webhooks.max_body_bytes();
    let limit = match route {
        WEBHOOK_ROUTE => webhook_limit.min(LAMBDA_MAX_REQUEST_BYTES),
        _ => LAMBDA_MAX_REQUEST_BYTES,
    };
    let read = axum::body::to_bytes(body, limit);
    let too_slow = || {
        json_error(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time",
        )
    };
    match tokio::time::timeout(gw.body_timeout, read).await {
        Ok(Ok(b)) => Ok(b),
        // The listener's pace ended it (`serve::Paced`), not its size.
        Ok(Err(e)) if !over_the_limit(&e) => Err(too_slow()),
        Ok(Err(_)) if limit < LAMBDA_MAX_REQUEST_BYTES => Err(json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("webhook body is larger than the limit of {webhook_limit} bytes"),
        )),
        Ok(Err(_)) => Err(json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request is larger than Lambda's 6 MB payload limit",
        )),
        Err(_) => Err(too_slow()),
    }
}

/// Whether reading a body failed for its size (`to_bytes`'s limit).
fn over_the_limit(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The HTTP API (payload 2.0) event API Gateway would send for the request.
fn http_event(
    gw: &Gateway,
    parts: &axum::http::request::Parts,
    route: &str,
    params: &RawPathParams,
    body: &[u8],
    peer: SocketAddr,
) -> Value {
    let method = parts.method.as_str();
    let route_key = format!("{method} {route}");
    let path = parts.uri.path();
    let raw_query = parts.uri.query().unwrap_or_default();
    let now = Utc::now();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let content_type = header("content-type").unwrap_or_default();
    // API Gateway passes text as is and base64-encodes everything else.
    let textual = content_type.starts_with("text/") || content_type.starts_with("application/json");
    let (body_field, is_base64) = match (body.is_empty(), textual, std::str::from_utf8(body)) {
        (true, _, _) => (Value::Null, false),
        (false, true, Ok(s)) => (json!(s), false),
        _ => (
            json!(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        ),
    };
    let path_params: Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": event_headers(&parts.headers, &gw.domain_name),
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": gw.domain_name,
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": format!("{:?}", parts.version),
                "sourceIp": peer.ip().to_string(),
                "userAgent": header("user-agent").unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "body": body_field,
        "isBase64Encoded": is_base64,
    });
    if !raw_query.is_empty() {
        event["queryStringParameters"] = query_json(Some(raw_query));
    }
    if !path_params.is_empty() {
        event["pathParameters"] = Value::Object(path_params);
    }
    event
}

/// Every route but the webhook (signed instead) and `/dev/token`.
fn needs_token(route: &str) -> bool {
    matches!(route, "/uploads" | "/jobs" | "/jobs/{id}" | "/events")
}

pub async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
}

/// Prometheus text format. On AWS the same figures are CloudWatch metrics.
pub async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    let body = crate::metrics::render(gw.registry.len());
    (
        StatusCode::OK,
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}

pub async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "no such route")
}

pub async fn method_not_allowed() -> Response {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}

/// The headers of an HTTP API event. `host` is the API's own domain, as
/// API Gateway's is (a request with another Host never reaches a route
/// there), and `x-forwarded-proto` the scheme this listener speaks (API
/// Gateway sets it too, whatever the client sent): lambda_http builds the
/// request URI from both and panics on one that does not make a URL,
/// which the fuzzer found.
fn event_headers(headers: &HeaderMap, domain_name: &str) -> Value {
    let mut v = headers_json(headers);
    v["host"] = json!(domain_name);
    v["x-forwarded-proto"] = json!("http");
    v
}

/// Headers as API Gateway sends them: lower-case names, repeated values
/// joined with commas.
pub fn headers_json(headers: &HeaderMap) -> Value {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let Ok(v) = value.to_str() else { continue };
        out.entry(name.as_str().to_owned())
            .and_modify(|e| {
                e.push(',');
                e.push_str(v)
            })
            .or_insert_with(|| v.to_owned());
    }
    json!(out)
}

/// Query parameters as API Gateway sends them: decoded, repeated values
/// joined with commas.
pub fn query_json(raw: Option<&str>) -> Value {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        out.entry(k.into_owned())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v)
            })
            .or_insert_with(|| v.into_owned());
    }
    json!(out)
}

fn into_axum(response: lambda_http::Response<lambda_http::Body>) -> Response {
    let (parts, body) = response.into_parts();
    let body = match body {
        lambda_http::Body::Text(s) => axum::body::Body::from(s),
        lambda_http::Body::Binary(b) => axum::body::Body::from(b),
        _ => axum::body::Body::empty(),
    };
    Response::from_parts(parts, body)
}

pub fn json_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}
