//! A third party written for the tests: a real HTTP listener that takes the
//! contract's multipart upload and behaves as each test needs.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tokio::sync::{mpsc, Mutex};

use crate::{sign, DEADLINE};

#[derive(Clone)]
pub enum Mode {
    /// Answers 202 and never calls back: the test delivers the webhooks.
    Silent,
    /// Answers 503 to everything.
    Refuses,
    /// Never answers (until the client gives up).
    Hangs,
    /// POSTs a signed `completed` result to the callback first, with this
    /// `whsec_` secret, and only then answers 202.
    CallsBackFirst(String),
    /// Takes the file, then works this long before answering 202 (a third
    /// party that accepts in 2 s: the caller is billed for the wait).
    AcceptsAfter(std::time::Duration),
}

/// What one upload to the third party carried.
#[derive(Debug, Clone)]
pub struct Received {
    pub job_id: String,
    pub callback_url: String,
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// The request's size on the wire (its Content-Length), when given.
    pub request_bytes: Option<u64>,
    /// Its `Authorization` header, when sent.
    pub authorization: Option<String>,
    /// A url-mode hand-over's JSON body (then `bytes` is empty: the file
    /// is at its `file_url`).
    pub json: Option<serde_json::Value>,
    /// From the request's headers to the answer: how long the caller
    /// waited for this third party.
    pub held: std::time::Duration,
}

struct Shared {
    mode: Mode,
    attempts: AtomicUsize,
    tx: mpsc::UnboundedSender<Received>,
}

pub struct FakeThirdParty {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    rx: Mutex<mpsc::UnboundedReceiver<Received>>,
}

impl FakeThirdParty {
    pub async fn start(mode: Mode) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            mode,
            attempts: AtomicUsize::new(0),
            tx,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/process", post(accept))
            // Files sent straight to storage come this way too.
            .layer(axum::extract::DefaultBodyLimit::max(256 * 1024 * 1024))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            shared,
            rx: Mutex::new(rx),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/process", self.addr)
    }

    /// Requests received, retries included.
    pub fn attempts(&self) -> usize {
        self.shared.attempts.load(Ordering::SeqCst)
    }

    /// The next upload it received, within the deadline.
    pub async fn next(&self) -> Received {
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(DEADLINE, rx.recv())
            .await
            .expect("an upload before the deadline")
            .unwrap()
    }

    /// The next upload it received, if one comes within `wait`.
    pub async fn try_next(&self, wait: std::time::Duration) -> Option<Received> {
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(wait, rx.recv()).await.ok().flatten()
    }
}

async fn accept(State(shared): State<Arc<Shared>>, request: axum::extract::Request) -> StatusCode {
    use axum::extract::FromRequest;
    let headers = request.headers().clone();
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let began = std::time::Instant::now();
    shared.attempts.fetch_add(1, Ordering::SeqCst);
    let mut r = Received {
        job_id: String::new(),
        callback_url: String::new(),
        file_name: String::new(),
        content_type: String::new(),
        bytes: vec![],
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        request_bytes: headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok()),
        held: std::time::Duration::ZERO,
        json: None,
    };
    let mut form = None;
    if !is_json {
        form = Multipart::from_request(request, &()).await.ok();
    } else {
        let body = axum::body::to_bytes(request.into_body(), 1 << 20)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        r.job_id = v["job_id"].as_str().unwrap_or_default().to_owned();
        r.callback_url = v["callback_url"].as_str().unwrap_or_default().to_owned();
        r.file_name = v["file_name"].as_str().unwrap_or_default().to_owned();
        r.content_type = v["content_type"].as_str().unwrap_or_default().to_owned();
        r.json = Some(v);
    }
    while let Some(Ok(Some(field))) = match form.as_mut() {
        Some(f) => Some(f.next_field().await),
        None => None,
    } {
        match field.name().unwrap_or_default() {
            "file" => {
                r.file_name = field.file_name().unwrap_or_default().to_owned();
                r.content_type = field.content_type().unwrap_or_default().to_owned();
                r.bytes = field.bytes().await.unwrap().to_vec();
            }
            "job_id" => r.job_id = field.text().await.unwrap(),
            "callback_url" => r.callback_url = field.text().await.unwrap(),
            _ => {}
        }
    }
    if let Mode::AcceptsAfter(work) = &shared.mode {
        tokio::time::sleep(*work).await;
        r.held = began.elapsed();
        let _ = shared.tx.send(r);
        return StatusCode::ACCEPTED;
    }
    let _ = shared.tx.send(r.clone());
    match &shared.mode {
        Mode::Silent | Mode::AcceptsAfter(_) => StatusCode::ACCEPTED,
        Mode::Refuses => StatusCode::SERVICE_UNAVAILABLE,
        Mode::Hangs => {
            std::future::pending::<()>().await;
            StatusCode::ACCEPTED
        }
        Mode::CallsBackFirst(secret) => {
            let body = serde_json::json!({"job_id": r.job_id, "status": "completed", "result": {"fast": true}}).to_string();
            let ts = chrono::Utc::now().timestamp();
            let res = reqwest::Client::new()
                .post(&r.callback_url)
                .header("webhook-id", "msg_fast")
                .header("webhook-timestamp", ts.to_string())
                .header(
                    "webhook-signature",
                    sign::webhook(secret, "msg_fast", ts, &body),
                )
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            StatusCode::ACCEPTED
        }
    }
}
