//! Each server's tab, in its own protocol, and the record of what every
//! tab received: Boomerang's JSON events, and Engine.IO/Socket.IO v4
//! framing over WebSocket for the reference.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Boomerang,
    Reference,
}

pub struct Tab {
    pub target: Target,
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Tab {
    /// Opens a tab at `url`; for Socket.IO, also joins the default
    /// namespace, so nothing emitted after this returns is missed.
    pub async fn open(target: Target, url: &str) -> Tab {
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        if target == Target::Reference {
            // Engine.IO "0" (open), then Socket.IO CONNECT "40" and its ack.
            expect_prefix(&mut ws, "0").await;
            ws.send(Message::Text("40".into())).await.unwrap();
            expect_prefix(&mut ws, "40").await;
        }
        Tab { target, ws }
    }

    /// Reads until the socket ends, recording each result.
    pub async fn read(mut self, user: usize, tab: usize, received: std::sync::Arc<Received>) {
        while let Some(Ok(msg)) = self.ws.next().await {
            let Message::Text(text) = msg else { continue };
            let result = match self.target {
                Target::Boomerang => serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(|v| v["type"] == "job.completed")
                    .map(|v| v["job"]["result"].clone()),
                Target::Reference => {
                    if text.as_str() == "2" {
                        // Engine.IO ping: answer pong or be dropped.
                        let _ = self.ws.send(Message::Text("3".into())).await;
                        continue;
                    }
                    text.strip_prefix("42")
                        .and_then(|rest| serde_json::from_str::<Value>(rest).ok())
                        .map(|v| v[1].clone())
                }
            };
            if let Some(r) = result {
                let (Some(n), Some(sent)) = (r["n"].as_u64(), r["sentAt"].as_u64()) else {
                    continue;
                };
                received.record(
                    user,
                    tab,
                    n,
                    crate::stats::now_micros().saturating_sub(sent),
                );
            }
        }
    }
}

async fn expect_prefix(ws: &mut WebSocketStream<MaybeTlsStream<TcpStream>>, prefix: &str) {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.starts_with(prefix) => return,
            Some(Ok(_)) => continue,
            other => panic!("expected {prefix}..., got {other:?}"),
        }
    }
}

/// What every tab got: each webhook `n` must reach each tab of user
/// `n % users` exactly once.
pub struct Received {
    users: usize,
    tabs: usize,
    per_tab: Vec<Mutex<HashSet<u64>>>,
    duplicates: AtomicU64,
    total: AtomicU64,
    sent: Mutex<Vec<u64>>,
    measuring: AtomicBool,
    latencies: Mutex<Vec<u64>>,
}

impl Received {
    pub fn new(users: usize, tabs: usize) -> Self {
        Self {
            users,
            tabs,
            per_tab: (0..users * tabs)
                .map(|_| Mutex::new(HashSet::new()))
                .collect(),
            duplicates: AtomicU64::new(0),
            total: AtomicU64::new(0),
            sent: Mutex::new(Vec::new()),
            measuring: AtomicBool::new(false),
            latencies: Mutex::new(Vec::new()),
        }
    }

    pub fn sent(&self, n: u64) {
        self.sent.lock().unwrap().push(n);
    }

    fn record(&self, user: usize, tab: usize, n: u64, latency_us: u64) {
        if !self.per_tab[tab * self.users + user]
            .lock()
            .unwrap()
            .insert(n)
        {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        if self.measuring.load(Ordering::Relaxed) {
            self.latencies.lock().unwrap().push(latency_us);
        }
        self.total.fetch_add(1, Ordering::Release);
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Acquire)
    }

    /// Waits until `count` deliveries arrived; panics after `limit`.
    pub async fn wait_for(&self, count: u64, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.total() < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {count} deliveries arrived",
                self.total()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn start_latencies(&self) {
        self.latencies.lock().unwrap().clear();
        self.measuring.store(true, Ordering::Relaxed);
    }

    /// Latencies in milliseconds.
    pub fn latencies(&self) -> Vec<u64> {
        self.measuring.store(false, Ordering::Relaxed);
        self.latencies.lock().unwrap().clone()
    }

    /// Every webhook sent reached every tab of its user once, and nothing
    /// else arrived.
    pub fn check_exactly_once(&self) {
        assert_eq!(
            self.duplicates.load(Ordering::Relaxed),
            0,
            "a delivery arrived twice"
        );
        let sent = self.sent.lock().unwrap();
        for &n in sent.iter() {
            let user = n as usize % self.users;
            for tab in 0..self.tabs {
                assert!(
                    self.per_tab[tab * self.users + user]
                        .lock()
                        .unwrap()
                        .contains(&n),
                    "webhook {n} never reached tab {tab} of user {user}"
                );
            }
        }
        assert_eq!(
            self.total(),
            (sent.len() * self.tabs) as u64,
            "deliveries beyond those sent"
        );
    }
}
