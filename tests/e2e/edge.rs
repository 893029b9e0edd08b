//! The local stack's doors under abuse: bodies refused before they are
//! read, requests and sockets that stall or say nothing, host names the
//! development endpoints answer, a tab that stops reading, a clean stop.
//! Each attack is tried for real (docs/security.md maps them).

use boomerang_e2e::*;
use serde_json::json;
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

#[tokio::test]
async fn an_upload_without_a_valid_token_is_refused_before_its_body_is_read() {
    let app = spawn_app().await;
    // WHEN a client announces a 6 MB upload without a token and sends
    // nothing of it
    let head = "POST /uploads HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 6000000\r\n\r\n";
    // THEN it is answered 401 at once, not after reading 6 MB
    assert_eq!(status_of(&raw_http(app.stack.addr, head).await), 401);
    let bad = head.replace(
        "Host: localhost\r\n",
        "Host: localhost\r\nAuthorization: Bearer nope\r\n",
    );
    assert_eq!(status_of(&raw_http(app.stack.addr, &bad).await), 401);
}

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

#[tokio::test]
async fn half_sent_requests_are_cut_off_and_cannot_starve_the_others() {
    // GIVEN a stack taking 8 connections at once, each given 300 ms for its headers
    let app = spawn_app_with(|c| {
        c.max_http_connections = 8;
        c.http_header_timeout_ms = 300;
    })
    .await;
    // WHEN 8 clients each send half a request and wait
    let slow = half_requests(app.stack.addr, 8).await;
    // THEN a well-behaved client is still answered
    let health = tokio::time::timeout(DEADLINE, app.http.get(app.url("/healthz")).send())
        .await
        .expect("healthz answers before the deadline")
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    // AND every slow client was cut off
    closed_by_the_server(slow, "a connection whose headers never came").await;
}

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

#[tokio::test]
async fn dev_token_and_the_management_api_answer_only_loopback_host_names() {
    // GIVEN a stack on loopback
    let app = spawn_app().await;
    let addr = app.stack.addr;
    let body = r#"{"user":"mallory"}"#;
    let mint = |host: &str| {
        format!(
            "POST /dev/token HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    // WHEN a page reached through DNS rebinding asks (its Host is its own name)
    // THEN there is no such route
    for host in [
        "evil.example",
        "evil.example:3000",
        "127.0.0.1.evil.example",
    ] {
        assert_eq!(status_of(&raw_http(addr, &mint(host)).await), 404, "{host}");
        let get = format!(
            "GET /local/@connections/abc HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(status_of(&raw_http(addr, &get).await), 404, "{host}");
        let event = format!(
            "POST /local/s3-events HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        );
        assert_eq!(status_of(&raw_http(addr, &event).await), 404, "{host}");
    }
    // AND for localhost names it works
    for host in [
        "localhost",
        &format!("127.0.0.1:{}", addr.port()),
        "[::1]:1",
    ] {
        assert_eq!(status_of(&raw_http(addr, &mint(host)).await), 200, "{host}");
    }
    // AND a body that is not declared JSON (a simple, preflight-free
    // cross-site form post) is refused
    let plain = format!(
        "POST /dev/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(status_of(&raw_http(addr, &plain).await), 415);
    let plain_event =
        "POST /local/s3-events HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n\
         Content-Length: 2\r\nConnection: close\r\n\r\n{}";
    assert_eq!(status_of(&raw_http(addr, plain_event).await), 415);
}

#[tokio::test]
async fn on_a_non_loopback_bind_there_is_no_dev_token_and_no_management_api_and_pushes_still_work()
{
    // GIVEN a stack listening on every address
    let app = spawn_app_with(|c| c.addr = "0.0.0.0:0".parse().unwrap()).await;
    let local = format!("http://127.0.0.1:{}", app.stack.addr.port());
    // WHEN anyone asks for a token or a connection, even from this machine
    let minted = app
        .http
        .post(format!("{local}/dev/token"))
        .json(&json!({"user": "mallory"}))
        .send()
        .await
        .unwrap();
    // THEN neither exists
    assert_error(minted, 404).await;
    let mut tab = app
        .tab_with_token(&app.token("alice"))
        .await
        .expect("tab connects");
    for path in ["/@connections/abc", "/local/@connections/abc"] {
        let r = app.http.get(format!("{local}{path}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404, "{path}");
    }
    // AND the stack still pushes (the aws backend through a loopback
    // Management API of its own)
    assert_eq!(app.upload("alice", "a.txt", b"hi").await.status(), 202);
    tab.until_end("job.completed").await;
}

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

#[tokio::test]
async fn a_tab_that_stops_reading_is_closed_and_forgotten_and_cannot_hold_up_a_stop() {
    // GIVEN alice with a tab that never reads (and a small receive buffer)
    let (app, _third_party) = spawn_app_with_third_party(Mode::Silent, |c| {
        c.ws_write_timeout_ms = 200;
        // Its pushes come from many uploads at once.
        c.shared.max_uploads_per_minute = 10_000;
    })
    .await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(app.stack.addr).await.unwrap();
    let url = format!("{}?token={}", app.stack.ws_url(), app.token("alice"));
    let (stalled, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert_eq!(app.connection_ids("alice").await.len(), 1);
    // WHEN large results keep coming for her
    let big = json!({"blob": "x".repeat(48 * 1024)});
    let mut pushed = 0;
    while !app.connection_ids("alice").await.is_empty() {
        assert!(pushed < 500, "the stalled tab was never closed");
        let job = json_of(app.upload("alice", "big.txt", b"x").await, 202).await;
        let id = job["job"]["id"].as_str().unwrap().to_owned();
        let body = json!({"job_id": id, "status": "completed", "result": big}).to_string();
        assert_eq!(app.webhook(&format!("msg_{id}"), &body).await.status(), 200);
        pushed += 1;
    }
    // THEN the tab was closed and its row forgotten (above), and a stop
    // finishes although the tab still never reads
    tokio::time::timeout(DEADLINE, app.stack.stop())
        .await
        .expect("a stop is not held up by a tab that does not read");
    drop(stalled);
}

#[tokio::test]
async fn a_clean_stop_closes_sockets_with_a_close_frame() {
    let app = spawn_app().await;
    let tab = app.tab("alice").await;
    let stop = tokio::spawn(async move { app.stack.stop().await });
    assert_eq!(tab.closed_with().await, Some(1001));
    tokio::time::timeout(DEADLINE, stop).await.unwrap().unwrap();
}

#[tokio::test]
async fn another_account_of_the_machine_cannot_mint_a_dev_token() {
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 || !std::path::Path::new("/proc/net/tcp").exists() {
        eprintln!("needs root (to run a client as another user) and /proc/net/tcp: skipped");
        return;
    }
    // GIVEN the stack, on loopback, run by this user
    let app = spawn_app().await;
    let addr = app.stack.addr;
    let ask = move |uid: Option<u32>| {
        let script = format!(
            "import http.client; c = http.client.HTTPConnection('{}', timeout=10); \
             c.request('POST', '/dev/token', '{{\"user\": \"alice\"}}', {{'content-type': 'application/json'}}); \
             print(c.getresponse().status)",
            addr
        );
        let mut command = std::process::Command::new("python3");
        command.arg("-c").arg(script);
        if let Some(uid) = uid {
            // SAFETY: setgid and setuid are async-signal-safe; nothing
            // else runs between fork and exec here.
            unsafe {
                command.pre_exec(move || {
                    if libc::setgid(uid) != 0 || libc::setuid(uid) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let out = command.output().expect("python3 runs");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    // WHEN another account of the machine asks for a token THEN there is no
    // such route for it; this user still gets one
    let (theirs, ours) = tokio::task::spawn_blocking(move || (ask(Some(65534)), ask(None)))
        .await
        .unwrap();
    assert_eq!(theirs, "404");
    assert_eq!(ours, "200");
}

#[tokio::test]
async fn a_body_that_stops_coming_is_408_not_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // GIVEN a stack giving request bodies 300 ms (and their pace)
    let app = spawn_app_with(|c| c.http_body_timeout_ms = 300).await;
    // WHEN a webhook declares 100 bytes, sends 10 and stops
    let mut s = tokio::net::TcpStream::connect(app.stack.addr)
        .await
        .unwrap();
    s.write_all(
        b"POST /webhooks/third-party HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"job_id\":",
    )
    .await
    .unwrap();
    // THEN it is told the body did not arrive in time
    let mut head = [0u8; 12];
    tokio::time::timeout(DEADLINE, s.read_exact(&mut head))
        .await
        .expect("an answer before the deadline")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 408");
}
