//! The `boomerang-local` binary as a user runs it: it prints where it
//! serves and a ready line, answers `/healthz`, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn it_prints_its_urls_serves_and_stops_cleanly_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("boomerang-cli-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_boomerang-local"))
        .env("BOOMERANG_ADDR", "127.0.0.1:0")
        .env("BOOMERANG_DATA_DIR", &dir)
        .env_remove("BOOMERANG_THIRD_PARTY_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");

    // Read the banner up to the ready line (the reader ends if the process dies).
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = Vec::new();
    let started = Instant::now();
    let ready = loop {
        let line = rx
            .recv_timeout(DEADLINE.saturating_sub(started.elapsed()))
            .expect("a ready line before the deadline");
        if let Some(url) = line.strip_prefix("ready: ") {
            break url.to_owned();
        }
        banner.push(line);
    };
    let banner = banner.join("\n");
    for expected in [
        "demo page",
        "HTTP API",
        "WebSocket",
        "/ws?token=",
        "webhook",
        "/webhooks/third-party",
        "third party",
        "simulated",
        "data folder",
        "dev token",
    ] {
        assert!(
            banner.contains(expected),
            "banner lacks {expected:?}:\n{banner}"
        );
    }
    // The printed token is a JWT: three dot-separated parts.
    let token = banner.lines().last().unwrap().trim();
    assert_eq!(
        token.split('.').count(),
        3,
        "last banner line should be the token: {token}"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let health = reqwest::get(format!("{ready}/healthz")).await.unwrap();
        assert_eq!(health.status(), 200);
        let jobs = reqwest::Client::new()
            .get(format!("{ready}/jobs"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(jobs.status(), 200, "the printed token is accepted");
    });

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let exit = done_rx
        .recv_timeout(DEADLINE)
        .expect("exits before the deadline after SIGTERM")
        .unwrap();
    assert!(exit.success(), "clean exit after SIGTERM, got {exit}");
    let _ = std::fs::remove_dir_all(dir);
}
