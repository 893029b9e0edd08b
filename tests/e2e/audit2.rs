//! The attacks of the second security review, each tried for real against
//! the stack, with what must hold instead (docs/security.md, "Second
//! review", lists them).

use boomerang_e2e::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `head`, then streams `body_len` bytes the way node's fetch and
/// httpx do (without waiting for an answer), and reads the answer while
/// it writes. Those clients give up on the whole request when a write
/// fails (EPIPE, a reset), answer or not; so this returns the answer only
/// when every byte was written too, else the error that broke it.
async fn streamed(
    addr: std::net::SocketAddr,
    head: &str,
    body_len: usize,
) -> Result<String, String> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rx, mut tx) = stream.into_split();
    tx.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; 16 * 1024];
        let mut sent = 0;
        while sent < body_len {
            let n = chunk.len().min(body_len - sent);
            tx.write_all(&chunk[..n])
                .await
                .map_err(|e| format!("writing the body after {sent} bytes: {e}"))?;
            sent += n;
        }
        tx.flush().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(tx)
    });
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 4096];
    let read = tokio::time::timeout(DEADLINE, async {
        loop {
            match rx.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&answer);
                    // A whole answer: headers and a JSON body's last brace.
                    if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await
    .expect("an answer before the deadline");
    read.map_err(|e| format!("reading the answer: {e}"))?;
    tokio::time::timeout(DEADLINE, writer)
        .await
        .expect("the body is taken before the deadline")
        .unwrap()?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn status_and_error(answer: &str) -> (u16, serde_json::Value) {
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json =
        serde_json::from_str(body.trim()).unwrap_or_else(|_| panic!("no JSON error: {answer:?}"));
    (status, json)
}

// 1: a refusal that never arrives.

#[tokio::test]
async fn an_upload_refused_before_its_body_is_read_still_reaches_a_streaming_client() {
    let app = spawn_app().await;
    let head = |auth: &str, len: usize| {
        format!(
            "POST /uploads HTTP/1.1\r\nHost: localhost\r\n{auth}\
             Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    let token = format!("Authorization: Bearer {}\r\n", app.token("alice"));
    for (what, head, len, want) in [
        ("no token", head("", 4_000_000), 4_000_000, 401),
        (
            "a bad token",
            head("Authorization: Bearer nope\r\n", 4_000_000),
            4_000_000,
            401,
        ),
        ("too large", head(&token, 7_000_000), 7_000_000, 413),
    ] {
        // WHEN a client streams its body without waiting for an answer
        let answer = streamed(app.stack.addr, &head, len)
            .await
            .unwrap_or_else(|e| panic!("{what}: the connection broke before the answer: {e}"));
        // THEN it reads the refusal and its JSON error, not a reset
        let (status, error) = status_and_error(&answer);
        assert_eq!(status, want, "{what}: {answer}");
        assert!(error["error"].is_string(), "{what}: {error}");
    }
}

// 2: silent connections.

#[tokio::test]
async fn connections_that_send_nothing_hold_no_slot_and_are_closed_at_the_header_deadline() {
    // GIVEN a stack serving 8 connections at once, 400 ms for headers
    let app = spawn_app_with(|c| {
        c.max_http_connections = 8;
        c.http_header_timeout_ms = 400;
    })
    .await;
    // WHEN 100 clients connect and send nothing (more than 8 slots, and
    // more than the 64 that may wait for a first byte)
    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(TcpStream::connect(app.stack.addr).await.unwrap());
    }
    // THEN /healthz still answers, while they are all connected
    for _ in 0..3 {
        let health = tokio::time::timeout(DEADLINE, app.http.get(app.url("/healthz")).send())
            .await
            .expect("healthz answers before the deadline")
            .unwrap();
        assert_eq!(health.status().as_u16(), 200);
    }
    // AND each silent one is closed by the server (read sees the end)
    for mut s in silent {
        let mut rest = Vec::new();
        let n = tokio::time::timeout(DEADLINE, s.read_to_end(&mut rest))
            .await
            .expect("the server closes a connection that sent nothing");
        assert!(rest.is_empty(), "{n:?}");
    }
}

// Low: a webhook body read up to 6 MB before its 1 MiB limit.

#[tokio::test]
async fn a_webhook_body_over_its_limit_is_refused_before_the_rest_is_read() {
    let app = spawn_app().await;
    // WHEN a client announces a 3 MB webhook, sends a little over 1 MiB
    // of it, and waits
    let mut s = TcpStream::connect(app.stack.addr).await.unwrap();
    let head = "POST /webhooks/third-party HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/json\r\nContent-Length: 3000000\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&vec![b' '; 1024 * 1024 + 1024]).await.unwrap();
    // THEN it is answered 413 without the server waiting for the rest
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
        .await
        .expect("an answer before the rest of the body")
        .unwrap();
    let (status, error) = status_and_error(&String::from_utf8_lossy(&buf[..n]));
    assert_eq!(status, 413);
    assert!(
        error["error"].as_str().unwrap().contains("webhook"),
        "{error}"
    );
}

// Info: bidi overrides in file names.

#[tokio::test]
async fn file_names_lose_control_and_format_characters_before_they_are_stored_or_sent() {
    let (app, tp) = spawn_app_with_third_party(Mode::Silent, |_| {}).await;
    // A name that shows as "invoice_exe.pdf" with its override kept
    let name = "invoice_\u{202E}fdp.exe\u{200B}";
    let job = json_of(app.upload("alice", name, b"hello").await, 202).await;
    assert_eq!(job["job"]["fileName"], "invoice_fdp.exe");
    assert_eq!(tp.next().await.file_name, "invoice_fdp.exe");
    let declared = serde_json::json!({"fileName": "\u{2066}a\u{2069}.csv\u{FEFF}\u{0007}", "size": 1, "contentType": "text/csv"});
    let created = json_of(app.begin_upload("alice", &declared).await, 201).await;
    assert_eq!(created["job"]["fileName"], "a.csv");
}

// Low: the third party's URL in logs, and no secret-backed credentials.

#[tokio::test]
async fn the_third_partys_credentials_go_in_its_authorization_header_and_its_url_is_never_shown_whole(
) {
    let tp = FakeThirdParty::start(Mode::Silent).await;
    // A URL with credentials in its userinfo and an API key in its query
    let url = tp.url().replace("http://", "http://user:hunter2@") + "?api_key=sk_query_secret";
    let app = spawn_app_with(|c| {
        c.shared.third_party_url = Some(url);
        c.third_party_auth = Some("Bearer sk_live_header_secret".parse().unwrap());
    })
    .await;
    // WHEN a file is handed over
    json_of(app.upload("alice", "a.txt", b"hello").await, 202).await;
    // THEN the third party gets the secret as Authorization
    let got = tp.next().await;
    assert_eq!(
        got.authorization.as_deref(),
        Some("Bearer sk_live_header_secret")
    );
    // AND the URL the stack shows (banner, logs) has none of them
    let shown = &app.stack.third_party_url;
    assert!(shown.ends_with("/process"), "{shown}");
    for secret in ["hunter2", "user:", "sk_query_secret", "api_key"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    let printed = format!("{:?}", app.stack.config);
    assert!(!printed.contains("sk_live_header_secret"), "{printed}");
}

// Info: the Host checks, and /metrics.

/// Raw HTTP/1.1 on a fresh connection; the answer's status.
async fn status_for(addr: std::net::SocketAddr, request: &str) -> u16 {
    status_of(&raw_http(addr, request).await)
}

#[tokio::test]
async fn an_absolute_form_target_is_held_to_the_host_check_too() {
    let app = spawn_app().await;
    let port = app.stack.addr.port();
    let body = r#"{"user":"mallory"}"#;
    let mint = |target: &str, host: &str| {
        format!(
            "POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    // A loopback target with a foreign Host, and the other way round
    let loopback_target = format!("http://127.0.0.1:{port}/dev/token");
    let foreign_target = "http://evil.example/dev/token";
    for (target, host) in [
        (loopback_target.as_str(), "evil.example"),
        (foreign_target, "localhost"),
    ] {
        let status = status_for(app.stack.addr, &mint(target, host)).await;
        assert_eq!(status, 404, "{target} with Host {host}");
    }
    // Both loopback: the endpoint answers
    let status = status_for(app.stack.addr, &mint(&loopback_target, "localhost")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn metrics_answer_only_loopback_names_unless_given_a_listener_of_their_own() {
    let get =
        |host: &str| format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    // GIVEN a stack on loopback: a rebinding page's Host gets nothing
    let app = spawn_app().await;
    assert_eq!(status_for(app.stack.addr, &get("evil.example")).await, 404);
    assert_eq!(status_for(app.stack.addr, &get("localhost")).await, 200);
    // AND on every address, nobody gets it there
    let open = spawn_app_with(|c| c.addr = "0.0.0.0:0".parse().unwrap()).await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], open.stack.addr.port()));
    assert_eq!(status_for(addr, &get("localhost")).await, 404);
    // WHEN BOOMERANG_METRICS_ADDR names a listener
    let scraped = spawn_app_with(|c| {
        c.addr = "0.0.0.0:0".parse().unwrap();
        c.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let metrics = scraped.stack.metrics_addr.expect("a metrics listener");
    // THEN it serves /metrics to any Host, and nothing else
    assert_eq!(status_for(metrics, &get("prometheus.internal")).await, 200);
    let jobs = "GET /jobs HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    assert_eq!(status_for(metrics, jobs).await, 404);
}

#[tokio::test]
async fn the_internal_management_listener_answers_only_loopback_host_names() {
    // Only the aws backend on a non-loopback bind has one.
    if backend() != boomerang_local::Backend::Aws {
        return;
    }
    let app = spawn_app_with(|c| c.addr = "0.0.0.0:0".parse().unwrap()).await;
    let internal = app.stack.internal_addr.expect("an internal listener");
    let get = |host: &str| {
        format!("GET /local/@connections/abc HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
    };
    assert_eq!(status_for(internal, &get("evil.example")).await, 404);
    assert_ne!(status_for(internal, &get("127.0.0.1")).await, 404);
}

// Low: local files outlived their jobs.

#[tokio::test]
async fn a_jobs_uploaded_file_is_deleted_with_the_job() {
    // Only the embedded store keeps files (on AWS, S3's lifecycle rule).
    if backend() != boomerang_local::Backend::Embedded {
        return;
    }
    // GIVEN a retention of one second, and alice's job completed
    let app = spawn_app_with(|c| {
        c.shared.event_retention_secs = 1;
        c.shared.job_retention_days = 0;
    })
    .await;
    let mut tab = app.tab("alice").await;
    let job = json_of(app.upload("alice", "a.txt", b"hello").await, 202).await;
    let id = job["job"]["id"].as_str().unwrap().to_owned();
    tab.until_end("job.completed").await;
    let file = app.dir.path().join("files/uploads").join(&id);
    assert!(file.exists(), "the upload is stored at {}", file.display());
    // WHEN the sweep runs past its retention
    eventually("the job and its file are gone", || async {
        app.stack.app.sweeper.sweep().await.unwrap();
        let gone = app.get("alice", &format!("/jobs/{id}")).await.status() == 404;
        gone && !file.exists()
    })
    .await;
}

// Low: a burst of connects for one user.

#[tokio::test]
async fn a_burst_of_200_connects_for_one_user_leaves_at_most_the_limit_open() {
    // GIVEN a limit of 50 sockets per user (the default)
    let app = spawn_app().await;
    let token = app.token("alice");
    // WHEN 200 of alice's tabs connect at once
    let tries = (0..200).map(|_| app.tab_with_token(&token));
    let tabs: Vec<_> = futures::future::join_all(tries)
        .await
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    // THEN at most 50 are open, and stored
    assert!(tabs.len() <= 50, "{} sockets open", tabs.len());
    assert!(!tabs.is_empty());
    assert!(
        app.stack.open_sockets() <= 50,
        "{}",
        app.stack.open_sockets()
    );
    assert_eq!(app.connection_ids("alice").await.len(), tabs.len());
}

#[tokio::test]
async fn connections_waiting_for_a_slot_are_bounded_and_cut_at_the_header_deadline() {
    // GIVEN a stack serving 8 connections at once, 400 ms for headers, and
    // 8 clients holding every slot with half a request
    let app = spawn_app_with(|c| {
        c.max_http_connections = 8;
        c.http_header_timeout_ms = 400;
    })
    .await;
    let mut all = half_requests(app.stack.addr, 8).await;
    // WHEN 100 more send a byte each and wait for a slot
    for _ in 0..100 {
        let mut s = TcpStream::connect(app.stack.addr).await.unwrap();
        s.write_all(b"G").await.unwrap();
        all.push(s);
    }
    // THEN every one of them is closed by the server
    closed_by_the_server(all, "a connection that never got to a request").await;
    // AND a well-behaved client is answered
    let health = tokio::time::timeout(DEADLINE, app.http.get(app.url("/healthz")).send())
        .await
        .expect("healthz answers before the deadline")
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}
