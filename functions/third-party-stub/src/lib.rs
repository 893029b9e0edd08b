//! A stand-in third party for a development stack (the template's
//! `ThirdPartyStub`, off by default), so that a new account can pass
//! `make smoke` with nothing else. It takes a hand-over as the contract's
//! third party does (multipart `file`, `job_id`, `callback_url`, or, in
//! url mode, JSON with a `file_url` it fetches), reports progress once,
//! and calls the webhook back, signed the Standard Webhooks way, with the
//! file's figures, as the local stack's simulated third party does.
//!
//! A Lambda cannot work after it answers, so it calls back *before* its
//! 202: the contract's race (the job goes straight to `completed`), which
//! every client must take anyway. It sits on the public HTTP API, and it
//! holds the webhook key, so it is careful: it takes only the stack's own
//! hand-overs (their `Authorization` is a secret of the stack's, which the
//! upload and submit functions send) and posts only to the stack's webhook.

use std::time::Duration;

use boomerang_core::auth::Secret;
use boomerang_http::post_signed;
use bytes::Bytes;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

/// Deliveries tried before giving up, within the hand-over's own timeout
/// (the contract's 10 s): the upload would send the file again.
const DELIVERY_ATTEMPTS: u32 = 3;
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest file it fetches in url mode (it holds the file whole, as
/// it does a multipart one; a development stub, not a processor).
const MAX_FETCHED_BYTES: usize = 64 * 1024 * 1024;

/// What the stub is built from at init.
pub struct StubSettings {
    /// The webhook key it signs with (the current one).
    pub key: Secret,
    /// What every hand-over's `Authorization` must be.
    pub authorization: Secret,
    /// The stack's webhook: the only URL it posts to.
    pub callback_url: String,
}

pub struct ThirdPartyStub {
    settings: StubSettings,
    client: reqwest::Client,
}

/// An answer: its status and JSON body.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer { status, body }
}

fn refused(status: u16, error: &str) -> Answer {
    answer(status, json!({ "error": error }))
}

/// One hand-over's parts.
struct HandOver {
    job_id: String,
    callback_url: String,
    file: Bytes,
}

impl ThirdPartyStub {
    /// Builds its client once; call at init.
    pub fn new(settings: StubSettings) -> Self {
        let client = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .build()
            .expect("a client with a timeout builds");
        Self { settings, client }
    }

    /// Takes one hand-over: 202 once its result was delivered, 401 when it
    /// is not the stack's, 400 when it is malformed or names another
    /// callback, 502 when the webhook could not be reached.
    pub async fn take(
        &self,
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Answer {
        let expected = self.settings.authorization.expose();
        let given = authorization.unwrap_or_default().as_bytes();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(given, expected)) {
            warn!("the stub refused a hand-over without the stack's credentials");
            return refused(401, "not a hand-over of this stack's");
        }
        let json = content_type.is_some_and(|t| t.starts_with("application/json"));
        let handed = match json {
            true => self.fetched(&body).await,
            false => parts(content_type, body).await,
        };
        let handed = match handed {
            Ok(h) => h,
            Err(e) => return refused(400, &e),
        };
        if handed.callback_url != self.settings.callback_url {
            warn!("the stub refused a callback_url that is not this stack's webhook");
            return refused(400, "callback_url must be this stack's webhook URL");
        }
        // Progress first (news: one attempt, its failure no failure).
        let progress = json!({"job_id": handed.job_id, "status": "processing", "progress": 0.5, "message": "half analysed"});
        let _ = self.post(&handed.job_id, &progress, 1).await;
        let result = json!({"job_id": handed.job_id, "status": "completed", "result": analyse(&handed.file)});
        match self.post(&handed.job_id, &result, DELIVERY_ATTEMPTS).await {
            Ok(status) => {
                info!(job_id = %handed.job_id, status, "the stub delivered its result");
                answer(202, json!({ "accepted": true }))
            }
            Err(e) => refused(502, &e),
        }
    }

    /// A url-mode hand-over, its file fetched from its `file_url`.
    async fn fetched(&self, body: &[u8]) -> Result<HandOver, String> {
        let h: Value = serde_json::from_slice(body).map_err(|e| format!("malformed JSON: {e}"))?;
        let field = |name: &str| h[name].as_str().map(str::to_owned);
        let (Some(job_id), Some(callback_url), Some(file_url)) =
            (field("job_id"), field("callback_url"), field("file_url"))
        else {
            return Err("job_id, file_url and callback_url are required".into());
        };
        let res = self
            .client
            .get(&file_url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| format!("the file URL could not be read: {}", e.without_url()))?;
        if !res.status().is_success() {
            return Err(format!("the file URL answered {}", res.status().as_u16()));
        }
        let too_large = || format!("the stub takes files of at most {MAX_FETCHED_BYTES} bytes");
        if res
            .content_length()
            .is_some_and(|n| n > MAX_FETCHED_BYTES as u64)
        {
            return Err(too_large());
        }
        let file = res
            .bytes()
            .await
            .map_err(|e| format!("the file could not be read: {}", e.without_url()))?;
        if file.len() > MAX_FETCHED_BYTES {
            return Err(too_large());
        }
        Ok(HandOver {
            job_id,
            callback_url,
            file,
        })
    }

    /// Posts `body` to the webhook, signed afresh per attempt, as the local
    /// simulated third party does (`boomerang_http::post_signed`).
    async fn post(&self, job_id: &str, body: &Value, attempts: u32) -> Result<u16, String> {
        let body = body.to_string();
        let msg_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let mut last = String::new();
        let (key, url) = (&self.settings.key, &self.settings.callback_url);
        for attempt in 1..=attempts {
            match post_signed(&self.client, url, key, &msg_id, &body).await {
                // A 4xx will not change on a retry: the webhook has spoken.
                Ok(status) if status.is_success() || status.is_client_error() => {
                    return Ok(status.as_u16())
                }
                Ok(status) => last = format!("the webhook answered {}", status.as_u16()),
                Err(e) => last = format!("the webhook could not be reached: {}", e.without_url()),
            }
            warn!(job_id, attempt, error = %last, "the stub's delivery failed");
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        }
        Err(last)
    }
}

/// The hand-over's parts, or why it is malformed.
async fn parts(content_type: Option<&str>, body: Bytes) -> Result<HandOver, String> {
    let boundary = content_type
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or("expected multipart/form-data with a boundary")?;
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let (mut job_id, mut callback_url, mut file) = (None, None, None);
    let bad = |e: multer::Error| format!("malformed multipart body: {e}");
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(bad)?;
        match name.as_str() {
            "job_id" => job_id = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "callback_url" => callback_url = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "file" => file = Some(bytes),
            _ => {}
        }
    }
    match (job_id, callback_url, file) {
        (Some(job_id), Some(callback_url), Some(file)) => Ok(HandOver {
            job_id,
            callback_url,
            file,
        }),
        _ => Err("parts file, job_id and callback_url are required".into()),
    }
}

/// The simulated processing, as the local stack's simulated third party
/// reports it: `{"bytes", "sha256", "lines", "words"}` of the file read as
/// UTF-8 (lossily).
pub fn analyse(file: &[u8]) -> Value {
    let text = String::from_utf8_lossy(file);
    json!({
        "bytes": file.len(),
        "sha256": hex::encode(Sha256::digest(file)),
        "lines": text.lines().count(),
        "words": text.split_whitespace().count(),
    })
}
