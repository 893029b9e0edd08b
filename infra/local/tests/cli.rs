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

    let exit = terminate(child).expect("exits before the deadline after SIGTERM");
    assert!(exit.success(), "clean exit after SIGTERM, got {exit}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The review's attack: a tab that never reads while messages pile up for
/// it, then SIGTERM. The process must still exit, whatever the tab does.
#[test]
fn sigterm_ends_the_process_even_with_a_tab_that_never_reads() {
    let dir = std::env::temp_dir().join(format!("boomerang-cli-slow-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_boomerang-local"))
        .env("BOOMERANG_ADDR", "127.0.0.1:0")
        .env("BOOMERANG_DATA_DIR", &dir)
        // Longer than the stop deadline: only that can end the stall.
        .env("BOOMERANG_WS_WRITE_TIMEOUT_MS", "120000")
        // The connection id is in the `connected` line.
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("BOOMERANG_THIRD_PARTY_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let mut token = String::new();
    let ready = loop {
        let line = lines.next().expect("a ready line");
        if let Some(url) = line.strip_prefix("ready: ") {
            break url.to_owned();
        }
        if line.starts_with("    ") {
            token = line.trim().to_owned();
        }
    };
    let (log_tx, log_rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = log_tx.send(line);
        }
    });
    let addr: std::net::SocketAddr = ready.trim_start_matches("http://").parse().unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let _stalled = rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // GIVEN alice's tab, with a tiny receive buffer, that never reads
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut tab = socket.connect(addr).await.unwrap();
        let upgrade = format!(
            "GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        tab.write_all(upgrade.as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        tab.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 101", "the tab connected");
        let id = loop {
            let line = log_rx.recv_timeout(DEADLINE).expect("a connected line");
            if let Some(rest) = line.split("connection=").nth(1) {
                if line.contains("connected") {
                    break rest.split_whitespace().next().unwrap().to_owned();
                }
            }
        };
        // WHEN far more than any socket buffer holds is sent to it (the
        // Management API, 120 KB a message, 16 MB in all)
        let http = reqwest::Client::new();
        let message = "x".repeat(120 * 1024);
        for _ in 0..140 {
            let r = http
                .post(format!("{ready}/@connections/{id}"))
                .body(message.clone())
                .send()
                .await
                .unwrap();
            // 200 while it queues; 410 once the gateway gave up on the tab.
            assert!([200, 410].contains(&r.status().as_u16()), "{}", r.status());
        }
        tab
    });

    // THEN SIGTERM still ends the process
    let exit = terminate(child)
        .expect("exits before the deadline after SIGTERM, though a tab never reads");
    assert!(exit.success(), "exit after SIGTERM, got {exit}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Sends SIGTERM and waits for the exit, at most until the deadline.
fn terminate(mut child: std::process::Child) -> Option<std::process::ExitStatus> {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    done_rx.recv_timeout(DEADLINE).ok().map(|r| r.unwrap())
}
