//! Starting each server, and speaking to it: tabs, jobs, webhooks.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::post;
use futures::stream::{self, StreamExt};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::protocol::{Tab, Target};
use crate::stats::Proc;

const JWT_KEY: &str = "bench-jwt-key-bench-jwt-key-bench-jwt-key";
const WEBHOOK_SECRET: &str = "whsec_YmVuY2gtd2ViaG9vay1rZXktYmVuY2gtd2ViaG9vaw==";

/// A running server, shared by the generator's tasks.
#[derive(Clone)]
pub struct Server(Arc<Inner>);

pub struct Inner {
    target: Target,
    url: String,
    users: usize,
    child: tokio::sync::Mutex<Child>,
    pid: u32,
    http: reqwest::Client,
    _data: Option<tempfile::TempDir>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A third party that takes every file and never calls back: the bench
/// sends the webhooks itself.
async fn null_third_party() -> String {
    let app = axum::Router::new()
        .route("/", post(|| async { StatusCode::ACCEPTED }))
        .layer(axum::extract::DefaultBodyLimit::max(8 * 1024 * 1024));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

impl Server {
    pub async fn start(target: Target, users: usize) -> Server {
        let (mut cmd, data) = match target {
            Target::Boomerang => {
                let bin = std::env::var("BOOMERANG_LOCAL_BIN")
                    .map(PathBuf::from)
                    .unwrap_or_else(|_| root().join("target/release/boomerang-local"));
                let data = tempfile::tempdir().unwrap();
                let mut cmd = Command::new(bin);
                cmd.env("BOOMERANG_ADDR", "127.0.0.1:0")
                    .env("BOOMERANG_DATA_DIR", data.path())
                    .env("BOOMERANG_JWT_SECRET", JWT_KEY)
                    .env("BOOMERANG_WEBHOOK_SECRET", WEBHOOK_SECRET)
                    .env("BOOMERANG_THIRD_PARTY_URL", null_third_party().await)
                    .env("RUST_LOG", "warn")
                    // A benchmark of delivery, not of the per-user limit.
                    .env("BOOMERANG_MAX_UPLOADS_PER_MINUTE", "1000000");
                (cmd, Some(data))
            }
            Target::Reference => {
                let mut cmd = Command::new("node");
                cmd.arg(root().join("bench/reference/server.js"))
                    .env("PORT", "0");
                (cmd, None)
            }
        };
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {target:?}: {e}"));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{target:?} exited before its ready line"));
            if let Some(u) = line.strip_prefix("ready: ") {
                break u.trim().to_owned();
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let pid = child.id().unwrap();
        Server(Arc::new(Inner {
            target,
            url,
            users,
            child: tokio::sync::Mutex::new(child),
            pid,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .unwrap(),
            _data: data,
        }))
    }

    pub fn proc(&self) -> Proc {
        Proc { pid: self.0.pid }
    }

    fn user(&self, index: usize) -> String {
        format!("user{index}")
    }

    fn token(&self, user: &str) -> String {
        boomerang_e2e::sign::jwt(
            user,
            chrono::Utc::now().timestamp() + 6 * 3600,
            JWT_KEY.as_bytes(),
        )
    }

    pub async fn tab(&self, user: usize) -> Tab {
        self.tab_for(&self.user(user)).await
    }

    pub async fn tab_for(&self, user: &str) -> Tab {
        let ws = self.0.url.replacen("http", "ws", 1);
        let url = match self.0.target {
            Target::Boomerang => format!("{ws}/ws?token={}", self.token(user)),
            Target::Reference => format!("{ws}/socket.io/?EIO=4&transport=websocket&id={user}"),
        };
        Tab::open(self.0.target, &url).await
    }

    /// One job per webhook to come, job `n` owned by user `n % users`:
    /// real uploads for Boomerang (its third party takes them and stays
    /// silent); nothing to create for the reference.
    pub async fn prepare_jobs(&self, count: usize) -> Vec<String> {
        if self.0.target == Target::Reference {
            return vec![String::new(); count];
        }
        stream::iter(0..count)
            .map(|n| async move {
                let form = reqwest::multipart::Form::new().part(
                    "file",
                    reqwest::multipart::Part::bytes(b"bench".to_vec()).file_name("bench.txt"),
                );
                let r = self
                    .0
                    .http
                    .post(format!("{}/uploads", self.0.url))
                    .bearer_auth(self.token(&self.user(n % self.0.users)))
                    .multipart(form)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202, "upload {n}");
                let v: serde_json::Value = r.json().await.unwrap();
                v["job"]["id"].as_str().unwrap().to_owned()
            })
            .buffered(32)
            .collect()
            .await
    }

    /// Webhook `n`: its result reaches user `n % users`'s tabs.
    pub async fn webhook(&self, n: usize, job: &str, sent_at: u64) {
        let result = json!({"n": n, "sentAt": sent_at});
        let request = match self.0.target {
            Target::Boomerang => {
                let body =
                    json!({"job_id": job, "status": "completed", "result": result}).to_string();
                let id = format!("msg_{n}");
                let ts = chrono::Utc::now().timestamp();
                self.0
                    .http
                    .post(format!("{}/webhooks/third-party", self.0.url))
                    .header("content-type", "application/json")
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", ts.to_string())
                    .header(
                        "webhook-signature",
                        boomerang_e2e::sign::webhook(WEBHOOK_SECRET, &id, ts, &body),
                    )
                    .body(body)
            }
            Target::Reference => self
                .0
                .http
                .post(format!("{}/webhook", self.0.url))
                .json(&json!({"user": self.user(n % self.0.users), "result": result})),
        };
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 200, "webhook {n}");
    }

    pub async fn stop(self) {
        let mut child = self.0.child.lock().await;
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}
