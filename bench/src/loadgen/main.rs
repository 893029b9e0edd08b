//! `make bench`, side by side: Boomerang (`boomerang-local`, release) and
//! the design it replaces (Express + Socket.IO, `bench/reference`), driven
//! by this one load generator with the same scenario, each in its own
//! protocol. Prints a table with ratios and writes it as JSON.
//!
//! Phases, per server: U users x T tabs connect (new connections/s);
//! webhooks at saturation, `inflight` at once (deliveries/s, server CPU per
//! 1,000 deliveries); webhooks paced at half the reference's saturation
//! rate (webhook-to-tab latency, stamped at send, measured at the socket);
//! then `idle` more connections that do nothing (resident memory each).
//! Every delivery is checked: each tab gets each of its user's webhooks
//! exactly once.
//!
//! With `--api/--ws/--token`, a short load run against a stack that is
//! already running instead, deployed or local (`remote`).

mod protocol;
mod remote;
mod servers;
mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::json;

use protocol::{Tab, Target};
use servers::Server;
use stats::{percentile, Proc};

/// The scenario, the same for both servers.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Scenario {
    pub users: usize,
    pub tabs: usize,
    pub webhooks: usize,
    pub inflight: usize,
    pub latency_seconds: u64,
    pub idle: usize,
}

impl Scenario {
    fn from_args() -> Self {
        let mut s = Scenario {
            users: 1000,
            tabs: 3,
            webhooks: 20_000,
            inflight: 64,
            latency_seconds: 10,
            idle: 10_000,
        };
        let args: Vec<String> = std::env::args().collect();
        for pair in args[1..].chunks(2) {
            let value = || {
                pair.get(1)
                    .and_then(|v| v.parse().ok())
                    .expect("a number after each flag")
            };
            match pair[0].as_str() {
                "--users" => s.users = value(),
                "--tabs" => s.tabs = value(),
                "--webhooks" => s.webhooks = value(),
                "--inflight" => s.inflight = value(),
                "--latency-seconds" => s.latency_seconds = value() as u64,
                "--idle" => s.idle = value(),
                "--out" | "--boomerang-only" => {}
                other => panic!("unknown flag {other}"),
            }
        }
        s
    }
}

/// What one server measured.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Figures {
    pub connections_per_s: f64,
    pub webhooks_per_s: f64,
    pub deliveries_per_s: f64,
    pub server_cpu_s_per_1000_deliveries: f64,
    pub loadgen_cpu_share: f64,
    pub latency_rate_per_s: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    pub rss_per_idle_connection_kb: f64,
    pub deliveries_checked: u64,
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(remote) = remote::Remote::from_args(&args) {
        let remote = remote.unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        });
        let clean = rt.block_on(async {
            match remote.run().await {
                Ok((figures, clean)) => {
                    println!("{}", serde_json::to_string_pretty(&figures).unwrap());
                    if let Some(out) = args.iter().skip_while(|a| *a != "--out").nth(1) {
                        std::fs::write(out, figures.to_string()).unwrap();
                    }
                    clean
                }
                Err(e) => {
                    eprintln!("load run failed: {e}");
                    false
                }
            }
        });
        std::process::exit(if clean { 0 } else { 1 });
    }
    let scenario = Scenario::from_args();
    let out = std::env::args()
        .skip_while(|a| a != "--out")
        .nth(1)
        .unwrap_or_else(|| "bench/results/latest.json".into());
    rt.block_on(async move {
        eprintln!("scenario: {scenario:?}");
        // `--boomerang-only RATE`: for profiling, Boomerang alone, its
        // latency measured at RATE webhooks/s.
        if let Some(rate) = flag("--boomerang-only") {
            let b = run(Target::Boomerang, &scenario, Some(rate)).await;
            println!("{b:#?}");
            return;
        }
        let reference = run(Target::Reference, &scenario, None).await;
        let half = reference.webhooks_per_s / 2.0;
        // The reference's own latency run, at half its saturation rate.
        let reference = latency_again(Target::Reference, &scenario, reference, half).await;
        let boomerang = run(Target::Boomerang, &scenario, Some(half)).await;
        let table = stats::table(&scenario, &reference, &boomerang);
        println!("{table}");
        let json = json!({
            "date": chrono::Utc::now().to_rfc3339(),
            "machine": stats::machine(),
            "scenario": scenario,
            "reference": reference,
            "boomerang": boomerang,
        });
        if let Some(dir) = std::path::Path::new(&out).parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
        eprintln!("written: {out}");
    });
}

fn flag(name: &str) -> Option<f64> {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|v| v.parse().ok())
}

/// All phases against a fresh server. `latency_rate`: None measures it later.
async fn run(target: Target, s: &Scenario, latency_rate: Option<f64>) -> Figures {
    let server = Server::start(target, s.users).await;
    let mut f = Figures::default();
    let jobs = server
        .prepare_jobs(s.webhooks + latency_jobs(s, latency_rate))
        .await;

    // Connect U x T tabs.
    let started = Instant::now();
    let (received, readers) = connect_tabs(&server, s).await;
    f.connections_per_s = (s.users * s.tabs) as f64 / started.elapsed().as_secs_f64();

    // Saturation: every webhook, `inflight` at once. The line on stderr
    // tells a profiler when to attach (`perf record -g -p PID`).
    eprintln!("phase: saturation, {target:?} pid {}", server.proc().pid);
    let cpu0 = server.proc().cpu_seconds();
    let me0 = Proc::me().cpu_seconds();
    let started = Instant::now();
    stream::iter(0..s.webhooks)
        .for_each_concurrent(s.inflight, |n| {
            let (server, received, jobs) = (&server, &received, &jobs);
            async move {
                received.sent(n as u64);
                server.webhook(n, &jobs[n], stats::now_micros()).await;
            }
        })
        .await;
    let expected = (s.webhooks * s.tabs) as u64;
    received.wait_for(expected, Duration::from_secs(120)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let server_cpu = server.proc().cpu_seconds() - cpu0;
    f.webhooks_per_s = s.webhooks as f64 / elapsed;
    f.deliveries_per_s = expected as f64 / elapsed;
    f.server_cpu_s_per_1000_deliveries = server_cpu / (expected as f64 / 1000.0);
    f.loadgen_cpu_share = (Proc::me().cpu_seconds() - me0) / elapsed / stats::cores();
    eprintln!("phase: saturation done");

    // Latency at a fixed rate.
    if let Some(rate) = latency_rate {
        latency(&server, s, s.webhooks, &jobs, rate, &received, &mut f).await;
    }
    received.check_exactly_once();
    f.deliveries_checked = received.total();

    for r in readers {
        r.abort();
    }
    server.stop().await;

    // Resident memory per idle connection, on a fresh server.
    let server = Server::start(target, s.users).await;
    f.rss_per_idle_connection_kb = idle_memory(&server, s).await;
    server.stop().await;
    f
}

/// U x T tabs, each read by its own task into one record.
async fn connect_tabs(
    server: &Server,
    s: &Scenario,
) -> (Arc<protocol::Received>, Vec<tokio::task::JoinHandle<()>>) {
    let tabs: Vec<(usize, Tab)> = stream::iter(0..s.users * s.tabs)
        .map(|i| {
            let server = server.clone();
            async move { (i, server.tab(i % s.users).await) }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let received = Arc::new(protocol::Received::new(s.users, s.tabs));
    let readers = tabs
        .into_iter()
        .map(|(i, tab)| tokio::spawn(tab.read(i % s.users, i / s.users, received.clone())))
        .collect();
    (received, readers)
}

fn latency_jobs(s: &Scenario, rate: Option<f64>) -> usize {
    rate.map_or(0, |r| (r * s.latency_seconds as f64).ceil() as usize + 1)
}

/// The reference's latency, on a fresh server, at `rate`.
async fn latency_again(target: Target, s: &Scenario, mut f: Figures, rate: f64) -> Figures {
    let server = Server::start(target, s.users).await;
    let jobs = server.prepare_jobs(latency_jobs(s, Some(rate))).await;
    let (received, readers) = connect_tabs(&server, s).await;
    latency(&server, s, 0, &jobs, rate, &received, &mut f).await;
    received.check_exactly_once();
    f.deliveries_checked += received.total();
    for r in readers {
        r.abort();
    }
    server.stop().await;
    f
}

/// Webhooks `first..` paced at `rate` per second for the scenario's
/// latency seconds; each delivery's latency is measured at its socket.
async fn latency(
    server: &Server,
    s: &Scenario,
    first: usize,
    jobs: &[String],
    rate: f64,
    received: &protocol::Received,
    f: &mut Figures,
) {
    let before = received.total();
    received.start_latencies();
    let count = (rate * s.latency_seconds as f64) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = tokio::time::Instant::now();
    let mut inflight = Vec::new();
    for k in 0..count {
        tokio::time::sleep_until(started + interval.mul_f64(k as f64)).await;
        let server = server.clone();
        let n = first + k;
        let job = jobs[n].clone();
        received.sent(n as u64);
        inflight.push(tokio::spawn(async move {
            server.webhook(n, &job, stats::now_micros()).await
        }));
    }
    for t in inflight {
        t.await.unwrap();
    }
    received
        .wait_for(before + (count * s.tabs) as u64, Duration::from_secs(60))
        .await;
    let mut l = received.latencies();
    l.sort_unstable();
    f.latency_rate_per_s = rate;
    f.latency_p50_ms = percentile(&l, 0.50);
    f.latency_p99_ms = percentile(&l, 0.99);
    f.latency_max_ms = percentile(&l, 1.0);
}

/// Opens `idle` more connections that do nothing and reads the server's
/// resident memory before and after.
async fn idle_memory(server: &Server, s: &Scenario) -> f64 {
    let before = server.proc().rss_kb();
    // Spread over users so that no per-user limit is reached.
    let users = s.idle.div_ceil(3).max(1);
    let idle: Vec<Tab> = stream::iter(0..s.idle)
        .map(|i| {
            let server = server.clone();
            async move { server.tab_for(&format!("idle{}", i % users)).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    // Let the allocator settle into the steady state of idle sockets.
    let settle = Instant::now();
    let mut last = server.proc().rss_kb();
    while settle.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = server.proc().rss_kb();
        if now == last {
            break;
        }
        last = now;
    }
    let after = server.proc().rss_kb();
    drop(idle);
    (after.saturating_sub(before)) as f64 / s.idle as f64
}
