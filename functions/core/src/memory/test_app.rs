//! An app wired to the in-memory adapters, with a helper per use case,
//! and stores that misbehave as real ones can.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::auth::Secret;
use crate::ports::*;
use crate::webhook::{self, SignatureHeaders};
use crate::*;

use super::{Memory, ThirdParty};

/// The webhook key of every test app.
pub const WEBHOOK_KEY: &[u8] = b"whk";

/// An app wired to one in-memory state, with helpers for tests.
pub struct TestApp {
    pub app: App,
    ports: Ports,
    settings: Settings,
    mem: Memory,
    pub files: FilesView,
}

impl Default for TestApp {
    fn default() -> Self {
        Self::new()
    }
}

pub struct FilesView(Memory);

impl FilesView {
    pub fn get(&self, key: &str) -> Option<Bytes> {
        self.0.state.lock().unwrap().files.get(key).cloned()
    }
    /// Stores a file, as a client's PUT would.
    pub fn put(&self, key: &str, body: &str) {
        self.0
            .state
            .lock()
            .unwrap()
            .files
            .insert(key.to_owned(), Bytes::from(body.to_owned()));
    }
}

impl TestApp {
    pub fn new() -> Self {
        Self::with_third_party(ThirdParty::Accepts)
    }

    pub fn with_third_party(third_party: ThirdParty) -> Self {
        let mem = Memory {
            state: Arc::default(),
            third_party,
            webhooks: Arc::default(),
        };
        let m = Arc::new(mem.clone());
        let ports = Ports {
            connections: m.clone(),
            jobs: m.clone(),
            events: m.clone(),
            files: m.clone(),
            idempotency: m.clone(),
            quota: m.clone(),
            pusher: m.clone(),
            processor: m.clone(),
            clock: m,
            issuer_keys: None,
        };
        let settings = Settings {
            jwt_secret: Some(Secret::new(b"jwt".to_vec()).into()),
            webhook_secret: Some(Secret::new(WEBHOOK_KEY.to_vec()).into()),
            callback_url: "http://localhost/webhooks/third-party".into(),
            issuer: None,
            // Unit tests make many uploads on a clock that barely moves;
            // the per-minute limit has tests of its own.
            limits: Limits {
                max_uploads_per_minute: u32::MAX,
                ..Limits::default()
            },
        };
        let app = App::new(ports.clone(), settings.clone());
        let _ = mem.webhooks.set(app.webhooks.clone());
        Self {
            app,
            ports,
            settings,
            files: FilesView(mem.clone()),
            mem,
        }
    }

    pub fn set_max_upload(&mut self, n: usize) {
        self.set_limits(|l| l.max_upload_bytes = n);
    }

    /// The same app over another job store, given the memory one (to
    /// wrap it).
    pub fn wrap_jobs(&mut self, wrap: impl FnOnce(Arc<dyn JobStore>) -> Arc<dyn JobStore>) {
        self.ports.jobs = wrap(self.ports.jobs.clone());
        self.app = App::new(self.ports.clone(), self.settings.clone());
    }

    pub fn set_limits(&mut self, f: impl FnOnce(&mut Limits)) {
        f(&mut self.settings.limits);
        self.app = App::new(self.ports.clone(), self.settings.clone());
    }

    /// The job store, as the use cases see it.
    pub fn jobs(&self) -> &Arc<dyn JobStore> {
        &self.ports.jobs
    }

    /// How many times the gateway was asked whether a connection is open.
    pub fn probes(&self) -> usize {
        self.mem.state.lock().unwrap().probes
    }

    pub fn limits(&self) -> &Limits {
        &self.settings.limits
    }

    /// A small file uploaded by `user`: its job, whatever became of it.
    pub async fn upload(&self, user: &str) -> Job {
        let file = UploadedFile {
            file_name: "a.txt".into(),
            content_type: "text/plain".into(),
            bytes: Bytes::from_static(b"hi\n"),
        };
        match self
            .app
            .uploads
            .upload(&self.user(user), file)
            .await
            .unwrap()
        {
            UploadOutcome::Accepted(job) | UploadOutcome::Refused(job) => job,
        }
    }

    /// `user`'s job `id`, as stored.
    pub async fn stored(&self, user: &str, id: &JobId) -> Job {
        self.app
            .queries
            .get_job(&self.user(user), id.as_str())
            .await
            .unwrap()
    }

    /// Moves the test clock forward.
    /// Makes a stored job unreadable, as a damaged item is.
    pub fn damage(&self, id: &JobId) {
        self.mem.state.lock().unwrap().unreadable.push(id.clone());
    }

    pub fn advance(&self, d: Duration) {
        self.mem.state.lock().unwrap().skew += d;
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    pub fn user(&self, name: &str) -> UserId {
        UserId::parse(name).unwrap()
    }

    pub async fn connect(&self, conn: &str, user: &str) {
        self.connect_until(conn, user, Utc::now() + chrono::Duration::hours(1))
            .await
            .unwrap();
    }

    /// Connects `conn` as `user` with a token valid until `exp`.
    pub async fn connect_until(
        &self,
        conn: &str,
        user: &str,
        exp: DateTime<Utc>,
    ) -> Result<Connection> {
        let token = self.app.auth.issue_token(&self.user(user), exp).unwrap();
        let identity = self.app.auth.identify(Some(&token)).await?;
        self.app
            .connections
            .on_connect(identity, ConnectionId::parse(conn).unwrap(), Utc::now())
            .await
    }

    /// The socket of `conn` goes away, and its `$disconnect` never comes.
    pub fn vanish(&self, conn: &str) {
        let id = ConnectionId::parse(conn).unwrap();
        self.mem.state.lock().unwrap().gone.push(id);
    }

    /// The connections the core closed, in order.
    pub fn closed(&self) -> Vec<String> {
        let s = self.mem.state.lock().unwrap();
        s.closed.iter().map(|c| c.to_string()).collect()
    }

    pub async fn connections_of(&self, user: &str) -> Vec<Connection> {
        self.mem.for_user(&self.user(user)).await.unwrap()
    }

    pub fn pushed(&self, conn: &str) -> Vec<serde_json::Value> {
        let s = self.mem.state.lock().unwrap();
        let msgs = s
            .pushed
            .get(&ConnectionId::parse(conn).unwrap())
            .cloned()
            .unwrap_or_default();
        msgs.iter()
            .map(|m| serde_json::from_str(m).unwrap())
            .collect()
    }

    /// The timeout each submission got, in order.
    pub fn submission_timeouts(&self) -> Vec<Duration> {
        self.mem.state.lock().unwrap().timeouts.clone()
    }

    pub fn submissions(&self) -> usize {
        self.mem.state.lock().unwrap().submissions
    }

    /// Makes storing a file take `d` (on the test clock).
    pub fn set_store_delay(&mut self, d: Duration) {
        self.mem.state.lock().unwrap().store_delay = d;
    }

    /// The bytes each submission sent the third party.
    pub fn submitted_bytes(&self) -> Vec<Vec<u8>> {
        self.mem.state.lock().unwrap().submitted.clone()
    }

    pub async fn deliver(&self, id: &str, body: &serde_json::Value) -> Result<WebhookOutcome> {
        self.deliver_sent(id, Utc::now().timestamp(), body).await
    }

    /// A webhook signed as sent at `ts` (Unix seconds).
    pub async fn deliver_sent(
        &self,
        id: &str,
        ts: i64,
        body: &serde_json::Value,
    ) -> Result<WebhookOutcome> {
        let body = body.to_string();
        let headers = SignatureHeaders {
            id: Some(id.into()),
            timestamp: Some(ts.to_string()),
            signature: Some(webhook::sign(
                &Secret::new(WEBHOOK_KEY.to_vec()),
                id,
                ts,
                body.as_bytes(),
            )),
        };
        self.app.webhooks.receive(&headers, body.as_bytes()).await
    }
}
