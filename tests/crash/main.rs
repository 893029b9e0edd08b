//! Crash safety under load: the `boomerang-local` binary (embedded
//! backend) is killed with SIGKILL at random moments while uploads and
//! signed webhooks are in flight, and restarted on the same data folder.
//! Then: every webhook answered 200 is there; every upload answered 202 is
//! there with its whole file; each user's seqs run from 1 with no repeat
//! and no hole, and go on after the restarts; a third party's retry of a
//! webhook that got no answer is applied exactly once; no job is half
//! written. Last, SIGTERM drains: the request in flight is answered and
//! the open tab gets a close frame.
//!
//! `make test` builds the binary (`cargo build --workspace --bins`) first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boomerang_e2e::process::LocalProcess;
use boomerang_e2e::{free_port, sign, FakeThirdParty, Mode, DEADLINE};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const JWT_SECRET: &str = "crash-test-token-key-of-at-least-32-bytes";
const WEBHOOK_SECRET: &str = "whsec_Y3Jhc2gtdGVzdC13ZWJob29rLWtleS0zMmJ5dGVz";
const USERS: usize = 5;
const KILLS: usize = 4;

/// `boomerang-local` on a fixed port and data folder, so that a restart is
/// the same stack.
fn start(dir: &Path, port: u16, third_party: &str) -> LocalProcess {
    LocalProcess::start(
        &format!("127.0.0.1:{port}"),
        dir,
        &[
            ("BOOMERANG_JWT_SECRET", JWT_SECRET),
            ("BOOMERANG_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("BOOMERANG_THIRD_PARTY_URL", third_party),
            ("BOOMERANG_THIRD_PARTY_BACKOFF_MS", "10"),
            // Uploads as fast as it can: not what the per-user limit is for.
            ("BOOMERANG_MAX_UPLOADS_PER_MINUTE", "1000000"),
        ],
    )
}

fn token(user: &str) -> String {
    let exp = chrono::Utc::now().timestamp() + 3600;
    sign::jwt(user, exp, JWT_SECRET.as_bytes())
}

/// A small xorshift: the kill moments vary per run, and the seed is printed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the clients were told, across every run.
#[derive(Default)]
struct Ledger {
    /// Uploads answered 202: job id → (user, file bytes).
    uploads: HashMap<String, (String, Vec<u8>)>,
    /// Webhooks sent: webhook id → (job id, body).
    sent: BTreeMap<String, (String, String)>,
    /// Webhooks answered 200.
    acked: HashSet<String>,
}

async fn upload(
    http: &reqwest::Client,
    url: &str,
    user: &str,
    bytes: Vec<u8>,
) -> Option<(u16, Value)> {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("f.txt")
        .mime_str("text/plain")
        .unwrap();
    let res = http
        .post(format!("{url}/uploads"))
        .bearer_auth(token(user))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .ok()?;
    let status = res.status().as_u16();
    Some((status, res.json().await.ok()?))
}

async fn webhook(http: &reqwest::Client, url: &str, id: &str, body: &str) -> Option<u16> {
    let ts = chrono::Utc::now().timestamp();
    let res = http
        .post(format!("{url}/webhooks/third-party"))
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            sign::webhook(WEBHOOK_SECRET, id, ts, body),
        )
        .body(body.to_owned())
        .send()
        .await
        .ok()?;
    // A 200 whose body was cut off by the kill still counts as answered.
    Some(res.status().as_u16())
}

async fn get(http: &reqwest::Client, url: &str, user: &str, path: &str) -> (u16, Value) {
    let res = http
        .get(format!("{url}{path}"))
        .bearer_auth(token(user))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// Every event of `user`, paged.
async fn all_events(http: &reqwest::Client, url: &str, user: &str) -> (Vec<Value>, u64) {
    let (mut events, mut since) = (Vec::new(), 0);
    loop {
        let (status, page) =
            get(http, url, user, &format!("/events?since={since}&limit=500")).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["gap"], false);
        let got = page["events"].as_array().unwrap().clone();
        let last = page["lastSeq"].as_u64().unwrap();
        let Some(newest) = got.last().map(|e| e["seq"].as_u64().unwrap()) else {
            return (events, last);
        };
        events.extend(got);
        since = newest;
        if since >= last {
            return (events, last);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_under_load_and_restarted_it_keeps_every_acknowledged_write_and_numbers_on() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let tp = Arc::new(FakeThirdParty::start(Mode::Silent).await);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));

    for round in 0..KILLS {
        // GIVEN the stack on the same data folder, under uploads from every
        // user and the third party's webhooks for what it received
        let stack = start(dir.path(), port, &tp.url());
        let mut load = Vec::new();
        for w in 0..6 {
            let (http, url, ledger, counter) = (
                http.clone(),
                stack.url.clone(),
                ledger.clone(),
                counter.clone(),
            );
            load.push(tokio::spawn(async move {
                loop {
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let user = format!("user{}", (n + w) % USERS);
                    let bytes = format!("file {n} of {user}\n")
                        .repeat(1 + n % 50)
                        .into_bytes();
                    match upload(&http, &url, &user, bytes.clone()).await {
                        Some((202, v)) => {
                            let id = v["job"]["id"].as_str().unwrap().to_owned();
                            ledger.lock().unwrap().uploads.insert(id, (user, bytes));
                        }
                        Some((status, v)) => panic!("upload answered {status}: {v}"),
                        None => return, // the stack is gone
                    }
                }
            }));
        }
        for _ in 0..4 {
            let (http, url, ledger, tp) =
                (http.clone(), stack.url.clone(), ledger.clone(), tp.clone());
            load.push(tokio::spawn(async move {
                while let Some(got) = tp.try_next(Duration::from_secs(2)).await {
                    let id = format!("msg_{}", got.job_id);
                    let body = json!({"job_id": got.job_id, "status": "completed",
                                      "result": {"bytes": got.bytes.len()}})
                    .to_string();
                    ledger
                        .lock()
                        .unwrap()
                        .sent
                        .insert(id.clone(), (got.job_id.clone(), body.clone()));
                    match webhook(&http, &url, &id, &body).await {
                        Some(200) => {
                            ledger.lock().unwrap().acked.insert(id);
                        }
                        Some(other) => panic!("webhook answered {other}"),
                        None => return,
                    }
                }
            }));
        }
        // WHEN it is killed at a random moment
        tokio::time::sleep(Duration::from_millis(300 + rng.below(900))).await;
        stack.kill();
        for l in load {
            l.await.unwrap();
        }
        let l = ledger.lock().unwrap();
        eprintln!(
            "round {round}: {} uploads acknowledged, {} webhooks sent, {} answered",
            l.uploads.len(),
            l.sent.len(),
            l.acked.len()
        );
    }

    // THEN, restarted on the same folder:
    let stack = start(dir.path(), port, &tp.url());
    let url = &stack.url;
    let (uploads, sent, acked) = {
        let l = ledger.lock().unwrap();
        (l.uploads.clone(), l.sent.clone(), l.acked.clone())
    };
    assert!(!acked.is_empty(), "the load never got a webhook through");
    let owner_of: HashMap<String, String> = uploads
        .iter()
        .map(|(id, (u, _))| (id.clone(), u.clone()))
        .collect();
    // every upload answered 202 is there, with its whole file
    for (id, (user, bytes)) in &uploads {
        let (status, job) = get(&http, url, user, &format!("/jobs/{id}")).await;
        assert_eq!(status, 200, "acknowledged upload {id} lost: {job}");
        assert_eq!(job["job"]["size"], bytes.len());
        let stored = std::fs::read(dir.path().join("files/uploads").join(id)).unwrap();
        assert_eq!(&stored, bytes, "file of {id}");
    }
    // every webhook answered 200 is applied
    for id in &acked {
        let (job_id, _) = &sent[id];
        let Some(user) = owner_of.get(job_id) else {
            continue;
        };
        let (_, job) = get(&http, url, user, &format!("/jobs/{job_id}")).await;
        assert_eq!(
            job["job"]["status"], "completed",
            "acknowledged webhook {id} lost"
        );
    }
    // AND the third party's retries of the unanswered ones apply, once
    for (id, (_, body)) in &sent {
        assert_eq!(
            webhook(&http, url, id, body).await,
            Some(200),
            "retry of {id}"
        );
    }
    let mut users_seen = 0;
    for u in 0..USERS {
        let user = format!("user{u}");
        let (events, last) = all_events(&http, url, &user).await;
        if events.is_empty() {
            continue;
        }
        users_seen += 1;
        // seqs from 1, no repeat, no hole
        let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "{user}'s seqs");
        // one terminal event per job at most, and the job agrees with it
        let mut terminal: HashMap<&str, u32> = HashMap::new();
        for e in &events {
            if e["type"] != "job.submitted" {
                *terminal
                    .entry(e["job"]["id"].as_str().unwrap())
                    .or_default() += 1;
            }
        }
        for (job_id, n) in &terminal {
            assert_eq!(*n, 1, "{job_id} ended {n} times");
        }
        for (job_id, _) in sent.values() {
            if owner_of.get(job_id) == Some(&user) {
                assert_eq!(
                    terminal.get(job_id.as_str()),
                    Some(&1),
                    "{job_id} never ended"
                );
            }
        }
        // no half-written job: every listed job is whole
        let (_, list) = get(&http, url, &user, "/jobs?limit=200").await;
        for job in list["jobs"].as_array().unwrap() {
            for field in ["id", "status", "fileName", "size", "createdAt", "updatedAt"] {
                assert!(!job[field].is_null(), "{job} lacks {field}");
            }
            if job["status"] == "completed" {
                assert!(job["result"].is_object(), "{job}");
            }
        }
        // AND the next event goes on from the last seq
        let mut tab = tab(url, &user).await;
        assert_eq!(
            upload(&http, url, &user, b"after".to_vec())
                .await
                .unwrap()
                .0,
            202
        );
        let next = next_message(&mut tab).await;
        assert_eq!(next["seq"].as_u64().unwrap(), last + 1, "{user}: {next}");
    }
    assert!(users_seen > 0);

    // AND a SIGTERM drains: an upload in flight is answered, an open tab
    // gets a close frame
    let mut tab = tab(url, "user0").await;
    while tp.try_next(Duration::ZERO).await.is_some() {}
    let slow = tokio::spawn({
        let (http, url) = (http.clone(), url.clone());
        async move { upload(&http, &url, "user0", vec![b'x'; 1 << 20]).await }
    });
    tp.next().await; // the file is at the third party: the upload is in flight
    stack.terminate();
    let close = tokio::time::timeout(DEADLINE, async {
        loop {
            match tab.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("closed before the deadline");
    assert_eq!(close, Some(1001), "a close frame, going away");
    assert_eq!(slow.await.unwrap().map(|(s, _)| s), Some(202));
    let status = stack.wait();
    assert!(status.success(), "a clean exit: {status}");
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn tab(url: &str, user: &str) -> Ws {
    let ws = url.replacen("http", "ws", 1);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{ws}/ws?token={}", token(user)))
        .await
        .unwrap();
    // The connection is stored once a ping is answered.
    ws.send(Message::Text(r#"{"action":"ping"}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_message(&mut ws).await["type"], "pong");
    ws
}

async fn next_message(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("a message before the deadline")
            .expect("open")
            .expect("no error");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}
