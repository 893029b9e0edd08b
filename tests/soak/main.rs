//! Load held: the `boomerang-local` binary on loopback with many tabs over
//! many users, uploads and signed webhooks throughout, and tabs dropping
//! and reconnecting all the while (a share of their `$disconnect`s dropped,
//! as API Gateway may). Each tab behaves as the browser client does: it
//! starts from the user's last seq, catches up after every (re)connect with
//! `GET /events` from the end of the unbroken run of seqs it has (pushes
//! of concurrent webhooks may arrive out of order), and keeps each event
//! once. At the end:
//!
//! - every user's stored events run from 1 with no hole and no repeat;
//! - every tab saw every event of its user from the time it first
//!   connected, live or by catch-up, and most of them live;
//! - after one push per user, the stored connections are exactly the open
//!   sockets (a stale row outlives its socket by at most one push);
//! - the process's memory is back near where it was with as many sockets.
//!
//! `make test` runs a short version; `make soak` runs 1,000 tabs over 200
//! users for five minutes (SOAK_TABS, SOAK_USERS, SOAK_SECONDS).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use boomerang_e2e::process::LocalProcess;
use boomerang_e2e::{eventually, sign, FakeThirdParty, Mode, DEADLINE};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const JWT_SECRET: &str = "soak-test-token-key-of-at-least-32-bytes!";
const WEBHOOK_SECRET: &str = "whsec_c29hay10ZXN0LXdlYmhvb2sta2V5LTMyLWJ5dGVz";

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The stack, and its data folder (read directly for the stored rows).
struct Stack {
    process: LocalProcess,
    dir: tempfile::TempDir,
}

fn start(third_party: &str, per_user: usize) -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let limit = (per_user * 4).to_string();
    let process = LocalProcess::start(
        "127.0.0.1:0",
        dir.path(),
        &[
            ("BOOMERANG_JWT_SECRET", JWT_SECRET),
            ("BOOMERANG_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("BOOMERANG_THIRD_PARTY_URL", third_party),
            ("BOOMERANG_DROP_DISCONNECT_RATIO", "0.3"),
            ("BOOMERANG_MAX_CONNECTIONS_PER_USER", &limit),
            ("BOOMERANG_MAX_UPLOADS_PER_MINUTE", "1000000"),
        ],
    );
    Stack { process, dir }
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn token(user: &str) -> String {
    sign::jwt(
        user,
        chrono::Utc::now().timestamp() + 3600,
        JWT_SECRET.as_bytes(),
    )
}

/// The stored connections per user, read from the database itself.
fn stored_connections(dir: &Path) -> HashMap<String, usize> {
    let db = rusqlite::Connection::open_with_flags(
        dir.join("boomerang.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut st = db
        .prepare("SELECT user, count(*) FROM connections GROUP BY user")
        .unwrap();
    let rows = st
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as usize))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    async fn events(&self, user: &str, since: u64) -> (Vec<Value>, u64) {
        let res = self
            .http
            .get(format!("{}/events?since={since}&limit=500", self.url))
            .bearer_auth(token(user))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let page: Value = res.json().await.unwrap();
        assert_eq!(page["gap"], false);
        (
            page["events"].as_array().unwrap().clone(),
            page["lastSeq"].as_u64().unwrap(),
        )
    }

    /// Every event after `since`, paged.
    async fn all_after(&self, user: &str, mut since: u64) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let (page, last) = self.events(user, since).await;
            if let Some(newest) = page.last() {
                since = newest["seq"].as_u64().unwrap();
            }
            all.extend(page);
            if since >= last {
                return all;
            }
        }
    }

    async fn upload(&self, user: &str, n: usize) -> u16 {
        let part = reqwest::multipart::Part::bytes(format!("file {n}\n").into_bytes())
            .file_name("f.txt")
            .mime_str("text/plain")
            .unwrap();
        self.http
            .post(format!("{}/uploads", self.url))
            .bearer_auth(token(user))
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// What one tab saw over its whole life, across reconnects.
#[derive(Default)]
struct Seen {
    /// Its user's last seq when it first opened: it owes everything after.
    start: u64,
    seqs: BTreeSet<u64>,
    live: usize,
    /// Whether its last socket is still open at the end.
    open: bool,
}

impl Seen {
    /// Where it has every event up to, as the browser client keeps its
    /// `lastSeq`: the end of the unbroken run from `start`. Pushes of
    /// concurrent webhooks may arrive out of order (27 before 26), so the
    /// highest seq seen is not it.
    fn position(&self) -> u64 {
        let mut at = self.start;
        while self.seqs.contains(&(at + 1)) {
            at += 1;
        }
        at
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_socket(url: &str, user: &str) -> Ws {
    let ws = url.replacen("http", "ws", 1);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{ws}/ws?token={}", token(user)))
        .await
        .expect("the socket opens");
    // Answered once the connection is stored: from here, pushes reach it.
    ws.send(Message::Text(r#"{"action":"ping"}"#.into()))
        .await
        .unwrap();
    loop {
        let msg = tokio::time::timeout(DEADLINE, ws.next()).await.unwrap();
        if let Some(Ok(Message::Text(t))) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "pong" {
                return ws;
            }
        }
    }
}

/// One tab: open, catch up, take pushes, drop (cleanly or not), reopen.
async fn tab(
    api: Arc<Api>,
    user: String,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    seed: u64,
) {
    let mut rng = seed | 1;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let (_, start) = api.events(&user, u64::MAX).await;
    seen.lock().unwrap().start = start;
    loop {
        let mut ws = open_socket(&api.url, &user).await;
        let from = seen.lock().unwrap().position();
        for e in api.all_after(&user, from).await {
            seen.lock().unwrap().seqs.insert(e["seq"].as_u64().unwrap());
        }
        let life = Instant::now() + Duration::from_millis(500 + next(2500));
        let mut live_here = BTreeSet::new();
        loop {
            let until = tokio::time::Instant::from_std(life);
            match tokio::time::timeout_at(until, ws.next()).await {
                Err(_) => break,
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if let Some(seq) = v["seq"].as_u64() {
                        assert!(
                            live_here.insert(seq),
                            "{user}: seq {seq} pushed twice to one socket"
                        );
                        let mut s = seen.lock().unwrap();
                        s.seqs.insert(seq);
                        s.live += 1;
                    }
                }
                Ok(Some(Ok(_))) => {}
                Ok(_) => panic!("{user}: the socket ended under the tab"),
            }
        }
        if stop.load(Ordering::SeqCst) {
            // The end: half the tabs stay open, the others go.
            if next(2) == 0 {
                seen.lock().unwrap().open = true;
                // Keep the socket alive (and reading) until the test ends.
                tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
                return;
            }
        }
        // Gone: with a close frame, or the network just drops it.
        if next(2) == 0 {
            let _ = ws.close(None).await;
        }
        drop(ws);
        if stop.load(Ordering::SeqCst) {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tabs_dropping_and_reconnecting_under_load_miss_nothing_and_leave_nothing() {
    let tabs = setting("SOAK_TABS", 150);
    let users = setting("SOAK_USERS", 30);
    let seconds = setting("SOAK_SECONDS", 8) as u64;
    let tp = Arc::new(FakeThirdParty::start(Mode::Silent).await);
    let stack = start(&tp.url(), tabs.div_ceil(users));
    let api = Arc::new(Api {
        // Idle connections are dropped before the stack's 10 s header
        // timeout closes them, so a request never races that close (as a
        // browser's pool, which also retries such a request, would).
        http: reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        url: stack.process.url.clone(),
    });
    let user = |i: usize| format!("user{}", i % users);

    // GIVEN every tab open once, and the stack's memory with them
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Vec<Arc<Mutex<Seen>>> = (0..tabs).map(|_| Arc::default()).collect();
    let mut tasks = Vec::new();
    for (i, s) in seen.iter().enumerate() {
        tasks.push(tokio::spawn(tab(
            api.clone(),
            user(i),
            stop.clone(),
            s.clone(),
            i as u64 * 7919 + 1,
        )));
    }
    let pid = stack.process.pid();

    // WHEN uploads and the third party's webhooks go on for the whole run
    let uploads = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut load = Vec::new();
    for w in 0..4 {
        let (api, uploads) = (api.clone(), uploads.clone());
        load.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let n = uploads.fetch_add(1, Ordering::SeqCst);
                assert_eq!(
                    api.upload(&format!("user{}", (n * 4 + w) % users), n).await,
                    202
                );
            }
        }));
    }
    let webhooks = {
        let (api, tp) = (api.clone(), tp.clone());
        tokio::spawn(async move {
            let mut sent = 0;
            while let Some(got) = tp.try_next(Duration::from_secs(1)).await {
                let id = format!("msg_{}", got.job_id);
                let body =
                    json!({"job_id": got.job_id, "status": "completed", "result": {"n": sent}})
                        .to_string();
                let ts = chrono::Utc::now().timestamp();
                let res = api
                    .http
                    .post(format!("{}/webhooks/third-party", api.url))
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", ts.to_string())
                    .header(
                        "webhook-signature",
                        sign::webhook(WEBHOOK_SECRET, &id, ts, &body),
                    )
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
                sent += 1;
            }
            sent
        })
    };
    tokio::time::sleep(Duration::from_secs(seconds / 4)).await;
    let rss_early = rss_kb(pid);
    for l in load {
        l.await.unwrap();
    }
    let webhooks = webhooks.await.unwrap();
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let uploads = uploads.load(Ordering::SeqCst);
    eprintln!(
        "{tabs} tabs over {users} users, {seconds} s: {uploads} uploads, {webhooks} webhooks"
    );

    // THEN every user's events run from 1 without a hole or a repeat
    let mut last = HashMap::new();
    for u in 0..users {
        let user = user(u);
        let all = api.all_after(&user, 0).await;
        let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "{user}");
        last.insert(user, seqs.len() as u64);
    }
    // AND every tab got every event of its user since it first opened,
    // once a tab that is gone catches up as it would on reopening
    let (mut live, mut total) = (0, 0);
    for (i, s) in seen.iter().enumerate() {
        let user = user(i);
        let from = s.lock().unwrap().position();
        let rest = api.all_after(&user, from).await;
        let mut s = s.lock().unwrap();
        s.seqs
            .extend(rest.iter().map(|e| e["seq"].as_u64().unwrap()));
        let owed: BTreeSet<u64> = (s.start + 1..=last[&user]).collect();
        let missed: Vec<_> = owed.difference(&s.seqs).collect();
        assert!(missed.is_empty(), "tab {i} of {user} missed {missed:?}");
        live += s.live;
        total += owed.len();
    }
    eprintln!("{live} of {total} events reached their tabs live");
    assert!(
        live * 2 > total,
        "most events arrive live: {live} of {total}"
    );

    // AND after one push per user, the stored rows are the open sockets
    let open: HashMap<String, usize> =
        seen.iter()
            .enumerate()
            .fold(HashMap::new(), |mut m, (i, s)| {
                if s.lock().unwrap().open {
                    *m.entry(user(i)).or_default() += 1;
                }
                m
            });
    let stale: usize =
        stored_connections(stack.dir.path()).values().sum::<usize>() - open.values().sum::<usize>();
    eprintln!("{stale} stale rows before the last pushes");
    assert!(
        stale > 0,
        "some $disconnects were dropped, so some rows are stale"
    );
    for u in 0..users {
        assert_eq!(api.upload(&user(u), u).await, 202);
    }
    eventually("stale rows go with one push", || async {
        let stored = stored_connections(stack.dir.path());
        (0..users).all(|u| {
            stored.get(&user(u)).copied().unwrap_or(0) == open.get(&user(u)).copied().unwrap_or(0)
        })
    })
    .await;

    // AND the memory is back near where it was with every tab open
    let rss_end = rss_kb(pid);
    eprintln!("resident: {rss_early} KB early, {rss_end} KB at the end");
    assert!(
        rss_end <= rss_early + rss_early / 4 + 16 * 1024,
        "memory grew from {rss_early} KB to {rss_end} KB"
    );
}
