//! The attacks of the security review, each tried for real against the
//! stack, with what must hold instead (docs/security.md lists them).

use boomerang_e2e::*;
use serde_json::json;

// 1, 2: development endpoints.

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

// 3: a tab that stops reading.

#[tokio::test]
async fn a_tab_that_stops_reading_is_closed_and_forgotten_and_cannot_hold_up_a_stop() {
    // GIVEN alice with a tab that never reads (and a small receive buffer)
    let (app, _third_party) = spawn_app_with_third_party(Mode::Silent, |c| {
        c.ws_write_timeout_ms = 200;
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

// 4: the HTTP listener.

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

// 6: secrets.

#[tokio::test]
async fn empty_and_short_secrets_are_refused_at_start_naming_the_variable() {
    for (jwt, webhook, name) in [
        (Some(""), None, "BOOMERANG_JWT_SECRET"),
        (Some("too-short"), None, "BOOMERANG_JWT_SECRET"),
        (None, Some("whsec_"), "BOOMERANG_WEBHOOK_SECRET"),
        (None, Some("whsec_AQ=="), "BOOMERANG_WEBHOOK_SECRET"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = boomerang_local::Config::with_data_dir(dir.path());
        config.addr = "127.0.0.1:0".parse().unwrap();
        config.jwt_secret = jwt.map(|s| s.parse().unwrap());
        config.webhook_secret = webhook.map(|s| s.parse().unwrap());
        let err = match boomerang_local::Stack::start(config).await {
            Ok(_) => panic!("{name} {jwt:?} {webhook:?} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(name), "{err}");
    }
}

#[tokio::test]
async fn the_configuration_never_prints_its_secrets() {
    let mut config = boomerang_local::Config::with_data_dir("/tmp/x");
    config.jwt_secret = Some("a-very-secret-key-of-at-least-32-bytes".parse().unwrap());
    config.webhook_secret = Some(
        "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
            .parse()
            .unwrap(),
    );
    let printed = format!("{config:?}");
    assert!(!printed.contains("a-very-secret"), "{printed}");
    assert!(!printed.contains("c2VjcmV0"), "{printed}");
}

// 7: the simulated third party.

#[tokio::test]
async fn the_simulator_takes_only_this_stacks_hand_overs_and_posts_only_to_its_webhook() {
    // GIVEN a job of alice's that the simulator is still working on
    let app = spawn_app_with(|c| c.sim_delay_ms = 60_000).await;
    let job = json_of(app.upload("alice", "a.txt", b"hello").await, 202).await;
    let id = job["job"]["id"].as_str().unwrap().to_owned();
    let sim = format!(
        "http://{}/",
        app.stack.simulator_addr.expect("the simulator runs")
    );
    let stacks = app.stack.hand_over_authorization.as_ref().unwrap().expose();
    let stacks = String::from_utf8(stacks.to_vec()).unwrap();
    let submit = |authorization: Option<&str>, callback: String| {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(b"forged".to_vec()).file_name("f"),
            )
            .text("job_id", id.clone())
            .text("callback_url", callback);
        let mut post = app.http.post(&sim).multipart(form);
        if let Some(a) = authorization {
            post = post.header("authorization", a);
        }
        post.send()
    };
    // WHEN someone without the stack's credentials asks it to sign a result
    // for that job, even to the stack's own webhook
    for forged in [
        None,
        Some("Bearer guess"),
        Some(&stacks[..stacks.len() - 1]),
    ] {
        let r = submit(forged, app.stack.callback_url.clone())
            .await
            .unwrap();
        // THEN it refuses
        assert_eq!(r.status().as_u16(), 401, "{forged:?}");
    }
    // AND with them, it still refuses to send a result anywhere else
    let elsewhere = submit(Some(&stacks), "http://127.0.0.1:9/steal".into())
        .await
        .unwrap();
    assert_eq!(elsewhere.status().as_u16(), 400);
    // AND the job is untouched
    let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert_eq!(job["job"]["status"], "submitted");
}

// 8: parsing to the letter.

#[tokio::test]
async fn a_webhook_timestamp_that_is_not_plain_digits_is_401_never_a_crash() {
    let app = spawn_app().await;
    let body = r#"{"job_id":"x","status":"failed","error":"e"}"#;
    for ts in [
        "-9223372036854775808",
        "+1700000000",
        "01700000000",
        "99999999999999999999",
        "1e9",
    ] {
        let r = app
            .http
            .post(app.url("/webhooks/third-party"))
            .header("webhook-id", "msg_1")
            .header("webhook-timestamp", ts)
            .header("webhook-signature", "v1,AAAA")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_error(r, 401).await;
    }
    // The stack is still up.
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

// 9, 11: sockets and their owners.

#[tokio::test]
async fn a_socket_is_closed_when_its_token_expires() {
    // GIVEN alice's tab, connected with a token that expires in 2 seconds
    let app = spawn_app().await;
    let exp = chrono::Utc::now().timestamp() + 2;
    let token = sign::jwt("alice", exp, app.jwt_secret());
    let tab = app.tab_with_token(&token).await.expect("tab connects");
    // WHEN the token expires, THEN the gateway closes the socket (going away)
    assert_eq!(tab.closed_with().await, Some(1001));
    // AND the connection is forgotten: pushes no longer reach it
    eventually("the expired connection is forgotten", || async {
        app.connection_ids("alice").await.is_empty()
    })
    .await;
}

#[tokio::test]
async fn one_connection_more_than_a_user_may_hold_is_refused_with_429() {
    // GIVEN alice holding the most connections allowed
    let app = spawn_app_with(|c| c.shared.max_connections_per_user = 3).await;
    let mut tabs = Vec::new();
    for _ in 0..3 {
        tabs.push(app.tab("alice").await);
    }
    // WHEN she opens one more, THEN the upgrade is refused with 429
    match app.tab_with_token(&app.token("alice")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 429),
        Err(e) => panic!("refused the wrong way: {e}"),
        Ok(_) => panic!("a fourth connection was accepted"),
    }
    // AND bob is not affected
    let _bob = app.tab("bob").await;
    // AND once she closes one, she may open another
    tabs.pop().unwrap().close().await;
    eventually("a slot frees up", || async {
        app.tab_with_token(&app.token("alice")).await.is_ok()
    })
    .await;
}

// 10: files at rest.

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_and_everything_in_it_are_private_to_this_user() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // GIVEN a data folder someone made readable to all
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = spawn_in_dir(dir).await;
    // WHEN the stack has run and stored a file
    let job = json_of(app.upload("alice", "secret.txt", b"payroll").await, 202).await;
    let id = job["job"]["id"].as_str().unwrap();
    // THEN the folders are 0700 and every file 0600
    let root = app.dir.path();
    assert_eq!(mode(root), 0o700);
    for f in ["jwt-secret", "webhook-secret"] {
        assert_eq!(mode(&root.join(f)), 0o600, "{f}");
    }
    if backend() == boomerang_local::Backend::Embedded {
        assert_eq!(mode(&root.join("files")), 0o700);
        for f in [
            "boomerang.sqlite3",
            "boomerang.sqlite3-wal",
            "boomerang.sqlite3-shm",
        ] {
            assert_eq!(mode(&root.join(f)), 0o600, "{f}");
        }
        let stored = root.join("files").join("uploads").join(id);
        assert_eq!(mode(&stored), 0o600);
        assert_eq!(mode(stored.parent().unwrap()), 0o700);
    }
}

#[tokio::test]
async fn a_clean_stop_closes_sockets_with_a_close_frame() {
    let app = spawn_app().await;
    let tab = app.tab("alice").await;
    let stop = tokio::spawn(async move { app.stack.stop().await });
    assert_eq!(tab.closed_with().await, Some(1001));
    tokio::time::timeout(DEADLINE, stop).await.unwrap().unwrap();
}
