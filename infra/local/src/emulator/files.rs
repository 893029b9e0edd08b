//! What S3 and EventBridge do on AWS, for files sent straight to storage:
//! the signed, expiring PUT URL the stack hands out (`PUT /files/{key}`),
//! and, once the bytes are stored, EventBridge's `Object Created` event
//! that invokes the `submit` handler, in its real shape.
//!
//! `POST /local/s3-events` (development only) takes such an event from
//! outside, for an S3 endpoint that cannot route its events to EventBridge
//! (with moto, `s3_events` reads them from a queue instead).

use boomerang_handlers::HttpStatus;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use boomerang_handlers::submit;
use futures::StreamExt;
use serde_json::{json, Value};
use tracing::{info, warn};

use super::http::json_error;
use super::Gateway;
use crate::embedded::files::{PutClaim, PUT_ROUTE};

/// The event `POST /local/s3-events` takes: EventBridge's are a few KB.
const MAX_EVENT_BYTES: usize = 256 * 1024;

/// An upload's key while its PUT streams: taken once, given back on drop.
struct InFlight<'a> {
    keys: &'a std::sync::Mutex<std::collections::HashSet<String>>,
    key: String,
}

impl<'a> InFlight<'a> {
    fn take(
        keys: &'a std::sync::Mutex<std::collections::HashSet<String>>,
        key: &str,
    ) -> Option<Self> {
        let fresh = keys.lock().expect("puts in flight").insert(key.to_owned());
        fresh.then(|| Self {
            keys,
            key: key.to_owned(),
        })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.keys.lock().expect("puts in flight").remove(&self.key);
    }
}

pub async fn put(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(disk) = &gw.files else {
        // The aws backend: uploads go to S3, never here.
        return json_error(StatusCode::NOT_FOUND, "no such route");
    };
    let (key, query) = signed_url(&uri);
    let param = |name: &str| query.get(name).map(String::as_str);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(size), Some(expires), Some(signature)) = (
        param("size").and_then(|s| s.parse::<u64>().ok()),
        param("expires").and_then(|s| s.parse::<i64>().ok()),
        param("signature"),
    ) else {
        return json_error(StatusCode::FORBIDDEN, "not a signed upload URL");
    };
    let claim = PutClaim {
        key,
        size,
        content_type: header("content-type").unwrap_or_default(),
        expires,
        signature,
    };
    // As S3 answers a presigned PUT: 403 for a signature that does not
    // hold for this request (another type or length), or one expired.
    if !disk.signer().verify(&claim) {
        return json_error(
            StatusCode::FORBIDDEN,
            "the URL's signature does not match this request: send the content-type it was made for",
        );
    }
    // Expired at the start of its second: the URL names whole seconds,
    // rounded down, so it is dead by the time the sweep fails its job.
    if chrono::Utc::now().timestamp_millis() >= expires.saturating_mul(1000) {
        return json_error(StatusCode::FORBIDDEN, "the upload URL has expired");
    }
    let length = match header("content-length").map(str::parse::<u64>) {
        Some(Ok(n)) => n,
        _ => {
            return json_error(
                StatusCode::LENGTH_REQUIRED,
                "send the file with a content-length",
            )
        }
    };
    if length != size {
        return json_error(
            StatusCode::FORBIDDEN,
            &format!("this URL takes exactly {size} bytes, not {length}"),
        );
    }
    // Once its job has moved on (the bytes came), the file never changes.
    if let Err(e) = gw.app.uploads.accepts_bytes(key).await {
        let status = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::CONFLICT);
        return json_error(status, &e.public_message());
    }
    // One PUT at a time per upload: a second one while the first streams
    // is refused at once instead of streaming the same bytes twice.
    let Some(_in_flight) = InFlight::take(&gw.puts_in_flight, key) else {
        return json_error(
            StatusCode::CONFLICT,
            "this upload's bytes are already being sent",
        );
    };
    // A client that stops sending for `body_timeout` is cut off; a slow
    // one that keeps going may take as long as it needs.
    let stall = gw.body_timeout;
    let chunks = futures::stream::unfold(body.into_data_stream(), move |mut s| async move {
        match tokio::time::timeout(stall, s.next()).await {
            Ok(Some(chunk)) => Some((chunk.map_err(|e| e.to_string()), s)),
            Ok(None) => None,
            Err(_) => Some((Err("no bytes for too long".to_owned()), s)),
        }
    });
    if let Err(e) = disk.put_stream(key, size, chunks).await {
        warn!(error = %e, "signed upload not stored");
        let status = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
        return json_error(status, &e.public_message());
    }
    info!(key, size, "signed upload stored");
    // S3 answers the PUT at once; EventBridge's event comes on its own.
    let event = submit::object_created(&gw.stage, key, size, &peer.ip().to_string());
    let uploads = gw.app.uploads.clone();
    gw.work.spawn(async move {
        if let Err(e) = submit::handle(&uploads, event).await {
            warn!(error = %e, "handing a stored upload over failed; the sweep will fail its job");
        }
    });
    (StatusCode::OK, Json(json!({"stored": true, "size": size}))).into_response()
}

/// A signed file URL's key and query parameters.
fn signed_url(uri: &Uri) -> (&str, std::collections::HashMap<String, String>) {
    let key = uri.path().strip_prefix(PUT_ROUTE).unwrap_or_default();
    let query = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    (key, query)
}

/// `GET /files/{key}` (and `HEAD`, which axum answers from it without the
/// body): a `file_url` of url mode, what a presigned S3 `GET` is on AWS.
/// The stored bytes, as the signed type, until the URL expires; 403 for
/// a changed or expired URL, never the bytes.
pub async fn get(State(gw): State<Arc<Gateway>>, uri: Uri) -> Response {
    let Some(disk) = &gw.files else {
        return json_error(StatusCode::NOT_FOUND, "no such route");
    };
    let (key, query) = signed_url(&uri);
    let param = |name: &str| query.get(name).map(String::as_str);
    let (Some(content_type), Some(expires), Some(signature)) = (
        param("type"),
        param("expires").and_then(|s| s.parse::<i64>().ok()),
        param("signature"),
    ) else {
        return json_error(StatusCode::FORBIDDEN, "not a signed file URL");
    };
    if !disk
        .signer()
        .verify_get(key, content_type, expires, signature)
    {
        return json_error(StatusCode::FORBIDDEN, "the URL's signature does not hold");
    }
    if chrono::Utc::now().timestamp_millis() >= expires.saturating_mul(1000) {
        return json_error(StatusCode::FORBIDDEN, "the file URL has expired");
    }
    use boomerang_core::ports::FileStore;
    let (Some(size), Ok(body)) = (disk.stored_size(key).await, disk.open(key).await) else {
        // A job's file goes with the job (retention).
        return json_error(StatusCode::NOT_FOUND, "no such file");
    };
    let content_type = axum::http::HeaderValue::from_str(content_type).unwrap_or(
        axum::http::HeaderValue::from_static("application/octet-stream"),
    );
    (
        [
            (axum::http::header::CONTENT_TYPE, content_type),
            (axum::http::header::CONTENT_LENGTH, size.into()),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// `POST /local/s3-events`: EventBridge's `Object Created`, as the
/// `submit` Lambda gets it; answered when it has been handled.
pub async fn s3_events(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Body) -> Response {
    // As /dev/token: a body declared JSON, which a page on another site
    // cannot send to this machine without a preflight that is never granted.
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the event as application/json",
        );
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_EVENT_BYTES).await else {
        return json_error(StatusCode::PAYLOAD_TOO_LARGE, "event too large");
    };
    let event = match serde_json::from_slice::<Value>(&bytes) {
        Ok(event @ Value::Object(_)) => event,
        _ => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "expected an S3 event: a JSON object",
            )
        }
    };
    match submit::handle(&gw.app.uploads, event).await {
        Ok(summary) => (StatusCode::OK, Json(summary)).into_response(),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json_error(status, &e.public_message())
        }
    }
}
