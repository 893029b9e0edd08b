//! A short load run against a stack that is already running, deployed or
//! local, through its public doors only: one user's token, `tabs` sockets,
//! `uploads` files paced at `rate` per second. The stack's third party
//! does the work and calls the webhook; each tab must get each job's end
//! (`job.completed` or `job.failed`) exactly once.
//!
//! ```sh
//! loadgen --api <HttpApiUrl> --ws <WebSocketUrl> --token <JWT> \
//!     [--tabs 2] [--uploads 100] [--rate 5] [--timeout-secs 300]
//! ```
//!
//! Reports latency (the upload's answer; upload to tab), deliveries and
//! losses as JSON on stdout; exits 1 when a delivery was lost. The token
//! may come from `BOOMERANG_LOADGEN_TOKEN` instead, and is never printed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::stats::percentile;

pub struct Remote {
    api: String,
    ws: String,
    token: String,
    tabs: usize,
    uploads: usize,
    rate: f64,
    timeout: Duration,
}

impl Remote {
    /// The remote run's flags, if `--api` is among them.
    pub fn from_args(args: &[String]) -> Option<Result<Remote, String>> {
        args.iter().any(|a| a == "--api").then(|| Self::parse(args))
    }

    fn parse(args: &[String]) -> Result<Remote, String> {
        let mut r = Remote {
            api: String::new(),
            ws: String::new(),
            token: std::env::var("BOOMERANG_LOADGEN_TOKEN").unwrap_or_default(),
            tabs: 2,
            uploads: 100,
            // Under the HTTP API's default 20/s on POST /uploads.
            rate: 5.0,
            timeout: Duration::from_secs(300),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().ok_or(format!("{flag} needs a value"))?;
            let number = || -> Result<f64, String> {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|n| *n > 0.0)
                    .ok_or(format!("{flag} takes a positive number"))
            };
            match flag.as_str() {
                "--api" => r.api = value.trim_end_matches('/').to_owned(),
                "--ws" => r.ws = value.trim_end_matches('/').to_owned(),
                "--token" => r.token = value.clone(),
                "--tabs" => r.tabs = number()? as usize,
                "--uploads" => r.uploads = number()? as usize,
                "--rate" => r.rate = number()?,
                "--timeout-secs" => r.timeout = Duration::from_secs_f64(number()?),
                "--out" => {}
                other => return Err(format!("unknown flag {other} for a run against --api")),
            }
        }
        if r.ws.is_empty() || r.token.is_empty() {
            return Err("--api needs --ws and --token (or BOOMERANG_LOADGEN_TOKEN)".into());
        }
        Ok(r)
    }

    /// The run: JSON figures, and whether nothing was lost.
    pub async fn run(&self) -> Result<(Value, bool), String> {
        let arrived: Arc<Mutex<Arrivals>> = Arc::default();
        // The tabs, open before the first upload so none misses an event.
        let mut readers = Vec::new();
        for tab in 0..self.tabs {
            let url = format!("{}?token={}", self.ws, self.token);
            let (ws, _) = tokio_tungstenite::connect_async(url).await.map_err(|e| {
                format!(
                    "tab {tab}: the WebSocket did not open: {}",
                    e.to_string().replace(&self.token, "<token>")
                )
            })?;
            readers.push(tokio::spawn(read(tab, ws, arrived.clone())));
        }
        let http = reqwest::Client::new();
        let started = Instant::now();
        let interval = Duration::from_secs_f64(1.0 / self.rate);
        let mut sends = Vec::new();
        for n in 0..self.uploads {
            tokio::time::sleep_until((started + interval.mul_f64(n as f64)).into()).await;
            let (http, api, token) = (http.clone(), self.api.clone(), self.token.clone());
            sends.push(tokio::spawn(
                async move { upload(&http, &api, &token, n).await },
            ));
        }
        let mut jobs: HashMap<String, Instant> = HashMap::new();
        // Microseconds, as `percentile` takes them (it gives milliseconds).
        let mut upload_ms = Vec::new();
        let mut refused: HashMap<String, usize> = HashMap::new();
        for s in sends {
            match s.await.map_err(|e| e.to_string())? {
                Ok((id, sent, answered)) => {
                    upload_ms.push((answered - sent).as_micros() as u64);
                    jobs.insert(id, sent);
                }
                Err(why) => *refused.entry(why).or_default() += 1,
            }
        }
        // Every accepted job's end at every tab, or the deadline.
        let expected = jobs.len() * self.tabs;
        let deadline = Instant::now() + self.timeout;
        loop {
            let got = arrived.lock().unwrap().ends_of(&jobs);
            if got >= expected || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for r in readers {
            r.abort();
        }
        let a = arrived.lock().unwrap();
        let mut to_tab_ms: Vec<u64> = Vec::new();
        let (mut delivered, mut failed) = (0, 0);
        for (id, sent) in &jobs {
            for tab in 0..self.tabs {
                if let Some(end) = a.ends.get(&(id.clone(), tab)) {
                    delivered += 1;
                    to_tab_ms.push(end.at.saturating_duration_since(*sent).as_micros() as u64);
                    failed += usize::from(!end.completed && tab == 0);
                }
            }
        }
        upload_ms.sort_unstable();
        to_tab_ms.sort_unstable();
        let lost = expected - delivered;
        let figures = json!({
            "uploads": self.uploads,
            "accepted": jobs.len(),
            "refused": refused,
            "jobsFailed": failed,
            "tabs": self.tabs,
            "deliveriesExpected": expected,
            "deliveries": delivered,
            "lost": lost,
            "duplicates": a.duplicates,
            "uploadMs": {"p50": percentile(&upload_ms, 0.5), "p99": percentile(&upload_ms, 0.99)},
            "uploadToTabMs": {
                "p50": percentile(&to_tab_ms, 0.5),
                "p99": percentile(&to_tab_ms, 0.99),
                "max": percentile(&to_tab_ms, 1.0),
            },
            "seconds": started.elapsed().as_secs_f64(),
        });
        Ok((
            figures,
            lost == 0 && a.duplicates == 0 && refused.is_empty(),
        ))
    }
}

/// A small file through `POST /uploads`: the job's id, when it was sent
/// and when it was answered; or why it was refused.
async fn upload(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    n: usize,
) -> Result<(String, Instant, Instant), String> {
    let body = format!("loadgen upload {n}\n{}\n", uuid::Uuid::new_v4());
    let part = reqwest::multipart::Part::bytes(body.into_bytes())
        .file_name(format!("load-{n}.txt"))
        .mime_str("text/plain")
        .map_err(|e| e.to_string())?;
    let sent = Instant::now();
    let res = http
        .post(format!("{api}/uploads"))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .map_err(|e| format!("transport: {}", e.without_url()))?;
    let answered = Instant::now();
    let status = res.status();
    let answer: Value = res.json().await.unwrap_or(Value::Null);
    match answer["job"]["id"].as_str() {
        Some(id) if status == 202 => Ok((id.to_owned(), sent, answered)),
        _ => Err(format!("HTTP {}", status.as_u16())),
    }
}

struct End {
    at: Instant,
    completed: bool,
}

#[derive(Default)]
struct Arrivals {
    /// (job, tab) -> the first end that arrived.
    ends: HashMap<(String, usize), End>,
    duplicates: usize,
}

impl Arrivals {
    fn ends_of(&self, jobs: &HashMap<String, Instant>) -> usize {
        self.ends
            .keys()
            .filter(|(id, _)| jobs.contains_key(id))
            .count()
    }
}

async fn read<S>(tab: usize, mut ws: S, arrived: Arc<Mutex<Arrivals>>)
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else { continue };
        let Ok(event) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let completed = match event["type"].as_str() {
            Some("job.completed") => true,
            Some("job.failed") => false,
            _ => continue,
        };
        let Some(id) = event["job"]["id"].as_str() else {
            continue;
        };
        let mut a = arrived.lock().unwrap();
        let key = (id.to_owned(), tab);
        match a.ends.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => a.duplicates += 1,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(End {
                    at: Instant::now(),
                    completed,
                });
            }
        }
    }
}
