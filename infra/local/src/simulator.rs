//! The simulated third party: a real HTTP listener on its own loopback port
//! that speaks the contract. It takes the multipart upload, answers 202,
//! "processes" for `BOOMERANG_SIM_DELAY_MS`, reporting progress at 25, 50
//! and 75 %, then POSTs a Standard Webhooks signed result to the callback
//! URL.
//!
//! It holds the webhook key, so it is careful with it, as the deployable
//! stub is: it takes only this stack's hand-overs (their `Authorization`
//! is a key the stack generates at start and its processor sends), and
//! posts only to this stack's own webhook URL (never to an address a
//! request names). It reads no store: it signs for whatever job id the
//! stack hands it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header::AUTHORIZATION, header::CONTENT_TYPE, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use boomerang_core::auth::Secret;
use boomerang_http::post_signed;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// Deliveries the simulator tries before giving up on a result.
const DELIVERY_ATTEMPTS: u32 = 5;

/// The progress it reports while it "processes", at each quarter of its
/// delay.
const PROGRESS_STEPS: [f64; 3] = [0.25, 0.5, 0.75];

struct Sim {
    key: Secret,
    delay: Duration,
    /// The only URL results go to: this stack's webhook.
    callback_url: String,
    /// What every hand-over's `Authorization` must be.
    authorization: Secret,
    client: reqwest::Client,
    work: TaskTracker,
    shutdown: CancellationToken,
}

/// A running simulator.
pub struct Simulator {
    pub addr: SocketAddr,
    work: TaskTracker,
    server: tokio::task::JoinHandle<()>,
}

/// The simulator's port, taken before the stack's storage is built (the
/// stack hands files to its URL; the simulator checks them against the
/// stack's jobs).
pub struct SimulatorPort(tokio::net::TcpListener);

impl SimulatorPort {
    /// An ephemeral loopback port.
    pub async fn bind() -> std::io::Result<Self> {
        Ok(Self(tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?))
    }

    pub fn url(&self) -> std::io::Result<String> {
        Ok(format!("http://{}/", self.0.local_addr()?))
    }
}

impl Simulator {
    /// Serves on an ephemeral loopback port, taking hand-overs that carry
    /// `authorization`, signing with `key` for `callback_url` alone.
    pub async fn start(
        authorization: Secret,
        key: Secret,
        delay: Duration,
        callback_url: String,
        shutdown: CancellationToken,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let work = TaskTracker::new();
        let sim = Arc::new(Sim {
            key,
            delay,
            callback_url,
            authorization,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(std::io::Error::other)?,
            work: work.clone(),
            shutdown: shutdown.clone(),
        });
        let app = Router::new()
            .route("/", post(accept))
            // Files sent straight to storage come through here too (S3
            // takes at most 5 GiB in one PUT), streamed.
            .layer(axum::extract::DefaultBodyLimit::max(
                boomerang_core::limits::S3_MAX_PUT_BYTES as usize + 64 * 1024,
            ))
            .with_state(sim.clone());
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await });
            if let Err(e) = serve.await {
                warn!(error = %e, "simulated third party stopped");
            }
        });
        Ok(Self { addr, work, server })
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Waits for the server and for the results it still owes.
    pub async fn stopped(self) {
        self.work.close();
        let _ = self.server.await;
        self.work.wait().await;
    }
}

async fn accept(State(sim): State<Arc<Sim>>, request: Request) -> Response {
    let headers = request.headers().clone();
    // Before the body is read: a stranger's hand-over costs nothing.
    let given = headers.get(AUTHORIZATION).map(|v| v.as_bytes());
    let expected = sim.authorization.expose();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        given.unwrap_or_default(),
        expected,
    )) {
        warn!("simulated third party refused a hand-over without this stack's credentials");
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "not a hand-over of this stack's"})),
        )
            .into_response();
    }
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if json {
        return accept_url(sim, request).await;
    }
    let Ok(mut form) = Multipart::from_request(request, &()).await else {
        return bad("expected multipart/form-data or JSON");
    };
    let (mut file, mut job_id, mut callback) = (None, None, None);
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return bad("expected multipart/form-data"),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name != "file" {
            let Some(text) = small_text(&mut field).await else {
                return bad("a part other than the file is unreadable or over 4 KiB");
            };
            match name.as_str() {
                "job_id" => job_id = Some(text),
                "callback_url" => callback = Some(text),
                _ => {}
            }
            continue;
        }
        // The file is read only once its job and this stack's webhook are
        // known (the stack sends them first).
        if job_id.is_none() || callback.as_deref() != Some(sim.callback_url.as_str()) {
            warn!(
                "simulated third party refused a file before this stack's job_id and callback_url"
            );
            return bad("job_id and this stack's callback_url must come before the file");
        }
        // Read as it comes: a large file is never held whole.
        let mut analysis = Analysis::default();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => analysis.feed(&chunk),
                Ok(None) => break,
                Err(_) => return bad("unreadable part"),
            }
        }
        file = Some(analysis);
    }
    let (Some(file), Some(job_id), Some(callback)) = (file, job_id, callback) else {
        return bad("parts file, job_id and callback_url are required");
    };
    info!(job_id = %job_id, bytes = file.bytes, "simulated third party accepted a file");
    let result = file.result();
    let sim2 = sim.clone();
    sim.work
        .spawn(async move { sim2.process(&callback, &job_id, result).await });
    (StatusCode::ACCEPTED, Json(json!({"accepted": true}))).into_response()
}

/// Url mode's hand-over: JSON naming the file's URL. Answered 202 at
/// once; the file is fetched (streamed) as the work starts, and a URL
/// that does not answer its bytes fails the job by webhook.
async fn accept_url(sim: Arc<Sim>, request: Request) -> Response {
    #[derive(serde::Deserialize)]
    struct Handover {
        job_id: String,
        file_url: String,
        callback_url: String,
    }
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), 16 * 1024).await else {
        return bad("a hand-over is JSON of at most 16 KiB");
    };
    let Ok(h) = serde_json::from_slice::<Handover>(&bytes) else {
        return bad("job_id, file_url and callback_url are required");
    };
    if h.callback_url != sim.callback_url {
        return bad("callback_url must be this stack's");
    }
    info!(job_id = %h.job_id, "simulated third party accepted a file URL");
    let sim2 = sim.clone();
    sim.work.spawn(async move {
        let job_id = h.job_id.as_str();
        match fetch(&sim2.client, &h.file_url).await {
            Ok(file) => sim2.process(&h.callback_url, job_id, file.result()).await,
            Err(why) => {
                warn!(job_id, why, "simulated third party could not fetch the file");
                let body = json!({"job_id": job_id, "status": "failed", "error": format!("could not fetch the file: {why}")});
                sim2.deliver(&h.callback_url, job_id, &body, DELIVERY_ATTEMPTS).await;
            }
        }
    });
    (StatusCode::ACCEPTED, Json(json!({"accepted": true}))).into_response()
}

/// The file at `url`, analysed as it streams.
async fn fetch(client: &reqwest::Client, url: &str) -> Result<Analysis, String> {
    // A large file takes longer than a webhook's 10 s.
    let get = client.get(url).timeout(Duration::from_secs(3600));
    let mut res = get.send().await.map_err(|e| e.without_url().to_string())?;
    if !res.status().is_success() {
        return Err(format!("the file URL answered {}", res.status().as_u16()));
    }
    let mut analysis = Analysis::default();
    while let Some(chunk) = res.chunk().await.map_err(|e| e.without_url().to_string())? {
        analysis.feed(&chunk);
    }
    Ok(analysis)
}

/// The simulated processing: `{"bytes", "sha256", "lines", "words"}`.
pub fn analyse(file: &[u8]) -> Value {
    let mut a = Analysis::default();
    a.feed(file);
    a.result()
}

/// The simulated processing, a chunk at a time: the same figures as
/// reading the whole file as lossy UTF-8 (`str::lines`, `split_whitespace`).
#[derive(Default)]
pub struct Analysis {
    bytes: u64,
    sha256: Sha256,
    newlines: u64,
    last: Option<u8>,
    words: u64,
    in_word: bool,
    /// The start of a character the chunk cut in two.
    carry: Vec<u8>,
}

impl Analysis {
    pub fn feed(&mut self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        self.bytes += chunk.len() as u64;
        self.sha256.update(chunk);
        self.newlines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        self.last = chunk.last().copied();
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(chunk);
        let mut rest = &buf[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    self.text(text);
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    self.text(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        // Invalid bytes read as U+FFFD: not whitespace.
                        Some(n) => {
                            self.text("\u{FFFD}");
                            rest = &after[n..];
                        }
                        None => {
                            self.carry = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
    }

    fn text(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_whitespace() {
                self.in_word = false;
            } else if !self.in_word {
                self.words += 1;
                self.in_word = true;
            }
        }
    }

    pub fn result(mut self) -> Value {
        if !self.carry.is_empty() {
            // A character cut off by the end of the file: U+FFFD too.
            self.carry.clear();
            self.text("\u{FFFD}");
        }
        let lines = match self.last {
            None => 0,
            Some(b'\n') => self.newlines,
            Some(_) => self.newlines + 1,
        };
        json!({
            "bytes": self.bytes,
            "sha256": hex::encode(self.sha256.finalize()),
            "lines": lines,
            "words": self.words,
        })
    }
}

impl Sim {
    /// "Processes" for the delay, reporting progress at each quarter of
    /// it, then delivers the result. On a clean stop, progress is skipped
    /// and an owed result delivered at once.
    async fn process(&self, callback: &str, job_id: &str, result: Value) {
        for p in PROGRESS_STEPS {
            if !self.wait(self.delay / 4).await {
                break;
            }
            let message = format!("{:.0} % analysed", p * 100.0);
            let body = json!({"job_id": job_id, "status": "processing", "progress": p, "message": message});
            // Progress is news, not record: one attempt.
            self.deliver(callback, job_id, &body, 1).await;
        }
        self.wait(self.delay / 4).await;
        let body = json!({"job_id": job_id, "status": "completed", "result": result});
        self.deliver(callback, job_id, &body, DELIVERY_ATTEMPTS)
            .await;
    }

    /// Waits `d`, or less on a clean stop: whether it waited all of it.
    async fn wait(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.shutdown.cancelled() => false,
        }
    }

    async fn deliver(&self, callback: &str, job_id: &str, body: &Value, attempts: u32) {
        let sim = self;
        let body = body.to_string();
        let msg_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let mut backoff = Duration::from_millis(200);
        for attempt in 1..=attempts {
            let sent = post_signed(&sim.client, callback, &sim.key, &msg_id, &body).await;
            match sent {
                Ok(status) if status.is_success() || status.is_client_error() => {
                    info!(
                        job_id,
                        status = status.as_u16(),
                        "simulated third party delivered a webhook"
                    );
                    return;
                }
                Ok(status) => warn!(
                    job_id,
                    attempt,
                    status = status.as_u16(),
                    "result delivery refused"
                ),
                Err(e) => {
                    warn!(job_id, attempt, error = %e.without_url(), "result delivery failed")
                }
            }
            if attempt < attempts {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
    }
}

/// A part's text, if it is UTF-8 and at most 4 KiB.
async fn small_text(field: &mut axum::extract::multipart::Field<'_>) -> Option<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.ok()? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > 4096 {
            return None;
        }
    }
    String::from_utf8(bytes).ok()
}

fn bad(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_in_chunks_the_result_is_that_of_the_whole_file() {
        let mut text = "héllo wörld\nsecond\u{2003}line\n".as_bytes().to_vec();
        text.extend_from_slice(b"\xFFtail");
        let mut with_bad = text.clone();
        with_bad.extend_from_slice(&[0xF0, 0x9F]); // a cut-off emoji
        for file in [&text, &with_bad] {
            let whole = {
                let t = String::from_utf8_lossy(file);
                json!({
                    "bytes": file.len(),
                    "sha256": hex::encode(Sha256::digest(file)),
                    "lines": t.lines().count(),
                    "words": t.split_whitespace().count(),
                })
            };
            for size in 1..=5 {
                let mut a = Analysis::default();
                for chunk in file.chunks(size) {
                    a.feed(chunk);
                }
                assert_eq!(a.result(), whole, "chunks of {size}");
            }
        }
    }

    #[test]
    fn the_result_counts_bytes_lines_and_words_and_hashes_the_file() {
        let r = analyse(b"hello world\nsecond line\n");
        assert_eq!(r["bytes"], 24);
        assert_eq!(r["lines"], 2);
        assert_eq!(r["words"], 4);
        assert_eq!(
            r["sha256"],
            hex::encode(Sha256::digest(b"hello world\nsecond line\n"))
        );
    }
}
