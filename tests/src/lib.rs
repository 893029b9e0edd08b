//! Helpers for the end-to-end tests: the real stack on port 0, and clients
//! that talk to it as browsers and a third party would. Tokens and webhook
//! signatures are made here, independently of the code that verifies them.

pub mod conformance;
pub mod idp;
pub mod lambda;
pub mod moto;
pub mod process;
pub mod sign;
pub mod third_party;

use std::sync::Arc;
use std::time::Duration;

use boomerang_local::{Backend, Config, Stack};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use moto::Moto;
pub use third_party::{FakeThirdParty, Mode, Received};

/// Makes the process `command` starts die with the test that starts it,
/// even when the test is killed from outside (Ctrl-C, a CI timeout) and
/// no `Drop` runs: Linux sends it SIGKILL when the thread that started
/// it ends (a test's thread, or its runtime's, lasts as long as the test).
pub fn dies_with_test(command: &mut std::process::Command) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe, and nothing else runs between
    // fork and exec here.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// How long a test waits for something it expects before failing.
pub const DEADLINE: Duration = Duration::from_secs(15);

pub struct TestApp {
    pub stack: Stack,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    /// The aws backend's DynamoDB and S3, kept across restarts.
    pub moto: Option<Arc<Moto>>,
}

/// The backend the suite runs on: `BOOMERANG_TEST_BACKEND=aws` runs it on
/// the AWS adapters against moto and the local Management API; anything
/// else, on the embedded one.
pub fn backend() -> Backend {
    match std::env::var("BOOMERANG_TEST_BACKEND").as_deref() {
        Ok("aws") => Backend::Aws,
        _ => Backend::Embedded,
    }
}

/// The stack with the built-in simulated third party, fast.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    spawn_in(dir, None, configure).await
}

/// A stack on the aws backend, on a moto the test prepared.
pub async fn spawn_on_moto(moto: Arc<Moto>, configure: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    spawn_in(dir, Some(moto), |c| {
        c.backend = Backend::Aws;
        configure(c)
    })
    .await
}

/// The stack with the simulated third party, in a data folder the test made.
pub async fn spawn_in_dir(dir: tempfile::TempDir) -> TestApp {
    spawn_in(dir, None, |_| {}).await
}

/// Starts a stack on the suite's backend in `dir`, on `moto` if given.
async fn spawn_in(
    dir: tempfile::TempDir,
    moto: Option<Arc<Moto>>,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let mut config = Config::with_data_dir(dir.path());
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.sim_delay_ms = 50;
    config.third_party_backoff_ms = 10;
    config.backend = backend();
    // With the aws backend: its tables, bucket and S3's event road (a test
    // whose moto is prepared, and whose functions take S3's events, says no).
    config.create_resources = true;
    configure(&mut config);
    let (stack, moto) = match config.backend {
        Backend::Embedded => (Stack::start(config).await.expect("stack starts"), None),
        Backend::Aws => {
            let moto = match moto {
                Some(m) => m,
                None => Arc::new(Moto::start().await),
            };
            let sdk = moto.sdk_config().await;
            let stack = Stack::start_with_sdk(config, Some(sdk))
                .await
                .expect("stack starts");
            (stack, Some(moto))
        }
    };
    TestApp {
        stack,
        http: reqwest::Client::new(),
        dir,
        moto,
    }
}

impl TestApp {
    /// Stops the stack cleanly and starts it again on the same data: the
    /// same data folder and, on the aws backend, the same tables and bucket.
    pub async fn restart(self, configure: impl FnOnce(&mut Config)) -> TestApp {
        let TestApp {
            stack, dir, moto, ..
        } = self;
        stack.stop().await;
        spawn_in(dir, moto, configure).await
    }

    /// The ids of `user`'s stored connections, as the fan-out sees them.
    pub async fn connection_ids(&self, user: &str) -> Vec<String> {
        let user = boomerang_core::UserId::parse(user).expect("a valid user id");
        let mut ids: Vec<String> = self
            .stack
            .connections
            .for_user(&user)
            .await
            .expect("connections readable")
            .into_iter()
            .map(|c| c.id.to_string())
            .collect();
        ids.sort();
        ids
    }

    /// The local Management API's `GET /@connections/{id}` status: 200 for
    /// a socket the gateway holds, 410 for one it does not.
    pub async fn gateway_status(&self, connection_id: &str) -> u16 {
        self.http
            .get(self.url(&format!("/local/@connections/{connection_id}")))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.http_url())
    }

    /// A valid token for `user`, signed by the test with the stack's secret.
    pub fn token(&self, user: &str) -> String {
        sign::jwt(
            user,
            chrono::Utc::now().timestamp() + 3600,
            self.jwt_secret(),
        )
    }

    pub fn jwt_secret(&self) -> &[u8] {
        self.stack.jwt_secret.expose()
    }

    /// A browser tab of `user`.
    pub async fn tab(&self, user: &str) -> Tab {
        self.tab_with_token(&self.token(user))
            .await
            .expect("tab connects")
    }

    pub async fn tab_with_token(
        &self,
        token: &str,
    ) -> Result<Tab, tokio_tungstenite::tungstenite::Error> {
        let url = format!("{}?token={token}", self.stack.ws_url());
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Tab { ws })
    }

    pub async fn upload(&self, user: &str, file_name: &str, bytes: &[u8]) -> reqwest::Response {
        let part = reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name(file_name.to_owned())
            .mime_str("text/plain")
            .unwrap();
        let form = reqwest::multipart::Form::new().part("file", part);
        self.http
            .post(self.url("/uploads"))
            .bearer_auth(self.token(user))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// `POST /uploads` with JSON: declares a file to send straight to storage.
    pub async fn begin_upload(&self, user: &str, declaration: &Value) -> reqwest::Response {
        self.http
            .post(self.url("/uploads"))
            .bearer_auth(self.token(user))
            .json(declaration)
            .send()
            .await
            .unwrap()
    }

    /// PUTs `body` as a browser would to the `upload` a `POST /uploads`
    /// answered with (its URL, method and headers), and answers what the
    /// store said. With the aws backend the store is S3 (moto), whose
    /// `Object Created` reaches the stack as on AWS: through EventBridge
    /// and the template's rule (to a queue the stack reads).
    pub async fn put_upload(&self, created: &Value, body: Vec<u8>) -> reqwest::Response {
        let upload = &created["upload"];
        assert_eq!(upload["method"], "PUT");
        let mut req = self
            .http
            .put(upload["url"].as_str().expect("an upload URL"));
        for (name, value) in upload["headers"].as_object().expect("upload headers") {
            req = req.header(name, value.as_str().expect("a header value"));
        }
        req.body(body).send().await.unwrap()
    }

    pub async fn get(&self, user: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(self.token(user))
            .send()
            .await
            .unwrap()
    }

    /// POSTs `body` to the webhook, signed with the stack's webhook secret.
    pub async fn webhook(&self, id: &str, body: &str) -> reqwest::Response {
        let ts = chrono::Utc::now().timestamp();
        self.webhook_raw(
            id,
            ts,
            body,
            &sign::webhook(&self.stack.webhook_secret, id, ts, body),
        )
        .await
    }

    pub async fn webhook_raw(
        &self,
        id: &str,
        ts: i64,
        body: &str,
        signature: &str,
    ) -> reqwest::Response {
        self.http
            .post(self.url("/webhooks/third-party"))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }
}

/// A stack whose files go to a [`FakeThirdParty`] in `mode`, configured further by `configure`.
pub async fn spawn_app_with_third_party(
    mode: Mode,
    configure: impl FnOnce(&mut Config),
) -> (TestApp, FakeThirdParty) {
    let tp = FakeThirdParty::start(mode).await;
    let url = tp.url();
    let app = spawn_app_with(|c| {
        c.shared.third_party_url = Some(url);
        configure(c);
    })
    .await;
    (app, tp)
}

/// Sends raw bytes on a fresh connection and reads until the server
/// closes it or answers, within the deadline.
pub async fn raw_http(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
        .await
        .expect("an answer before the deadline")
        .unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// The status of a raw HTTP answer.
pub fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

/// `n` clients that each send half a request's headers and wait
/// (slowloris), holding as many of the listener's slots.
pub async fn half_requests(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    use tokio::io::AsyncWriteExt;
    let mut slow = Vec::new();
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    slow
}

/// Waits until the server closes each of `conns` (reading whatever it
/// sends), within the deadline.
pub async fn closed_by_the_server(conns: Vec<TcpStream>, what: &str) {
    use tokio::io::AsyncReadExt;
    for mut s in conns {
        let mut rest = Vec::new();
        tokio::time::timeout(DEADLINE, s.read_to_end(&mut rest))
            .await
            .unwrap_or_else(|_| panic!("the server closes {what}"))
            .ok();
    }
}

/// A port nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits until something accepts connections on `port`.
pub async fn wait_for_port(port: u16, what: &str) {
    let started = tokio::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(started.elapsed() < DEADLINE, "{what} did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `check` holds, polling, and fails at the deadline.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    while !check().await {
        assert!(started.elapsed() < DEADLINE, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `type` of each event in a `GET /events` answer.
pub fn event_types(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .expect("an events array")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Reads a JSON body, asserting the status first.
pub async fn json_of(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts an error answer: the status and a `{"error": "..."}` body.
pub async fn assert_error(res: reqwest::Response, status: u16) -> String {
    let v = json_of(res, status).await;
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error text in {v}"))
        .to_owned()
}

/// One browser tab's WebSocket.
pub struct Tab {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Tab {
    /// The next JSON message that is not a `job.progress` (the simulated
    /// third party reports progress before every result), within the
    /// deadline.
    pub async fn next(&mut self) -> Value {
        loop {
            let v = self.next_any().await;
            if v["type"] != "job.progress" {
                return v;
            }
        }
    }

    /// The next JSON message, whatever it is, within the deadline.
    pub async fn next_any(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(DEADLINE, self.ws.next())
                .await
                .expect("a message before the deadline")
                .expect("socket open")
                .expect("no socket error");
            match msg {
                Message::Text(t) => return serde_json::from_str(&t).expect("JSON message"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next event, skipping nothing: asserts its type.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let v = self.next().await;
        assert_eq!(v["type"], kind, "got {v}");
        v
    }

    /// One job's events up to its end, in an order the contract allows:
    /// `job.submitted`, unless the webhook beat the third party's 2xx (then
    /// there is none), and `end` (`job.completed` or `job.failed`) for the
    /// same job, with consecutive seqs. Returns them, the end last.
    pub async fn until_end(&mut self, end: &str) -> Vec<Value> {
        let first = self.next().await;
        if first["type"] == end {
            return vec![first];
        }
        assert_eq!(first["type"], "job.submitted", "got {first}");
        let last = self.expect(end).await;
        assert_eq!(last["job"]["id"], first["job"]["id"], "{first} then {last}");
        assert_eq!(last["seq"].as_u64(), first["seq"].as_u64().map(|s| s + 1));
        vec![first, last]
    }

    /// The socket itself, for frames `send` does not make.
    pub fn ws_mut(&mut self) -> &mut WebSocketStream<MaybeTlsStream<TcpStream>> {
        &mut self.ws
    }

    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next message, asserted to be `job.progress`.
    pub async fn expect_progress(&mut self) -> Value {
        let v = self.next_any().await;
        assert_eq!(v["type"], "job.progress", "got {v}");
        v
    }

    /// Pings and asserts the very next message is the pong: nothing was
    /// pushed to this tab before it, progress included.
    pub async fn assert_nothing_pending(&mut self) {
        self.send(r#"{"action":"ping"}"#).await;
        let v = self.next_any().await;
        assert_eq!(
            v["type"], "pong",
            "expected nothing before the pong, got {v}"
        );
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        // Drain until the server's close arrives. (`$disconnect` may still
        // be running: like API Gateway's, it is asynchronous.)
        while let Ok(Some(Ok(_))) = tokio::time::timeout(DEADLINE, self.ws.next()).await {}
    }

    /// The close frame's code, once the server closes the socket.
    pub async fn closed_with(mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(DEADLINE, self.ws.next())
                .await
                .expect("closed before the deadline")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    }
}
