//! What one user may hold: connections, under a burst too.

use boomerang_e2e::*;

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

fn with_key(app: &TestApp, key: &str, name: &str) -> reqwest::RequestBuilder {
    let part = reqwest::multipart::Part::bytes(b"hello".to_vec())
        .file_name(name.to_owned())
        .mime_str("text/plain")
        .unwrap();
    app.http
        .post(app.url("/uploads"))
        .bearer_auth(app.token("alice"))
        .header("idempotency-key", key)
        .multipart(reqwest::multipart::Form::new().part("file", part))
}

fn declaration(app: &TestApp, user: &str, n: usize) -> reqwest::RequestBuilder {
    app.http
        .post(app.url("/uploads"))
        .bearer_auth(app.token(user))
        .json(&serde_json::json!({"fileName": format!("big-{n}.bin"), "size": 10_000_000, "contentType": "application/octet-stream"}))
}

#[tokio::test]
async fn uploads_past_the_minutes_limit_are_429_with_retry_after_and_replays_pass() {
    // GIVEN a stack taking 2 uploads a minute from each user (and, as the
    // count is per clock minute, not the last seconds of one)
    let second = chrono::Utc::now().timestamp() % 60;
    if second >= 55 {
        tokio::time::sleep(std::time::Duration::from_secs((61 - second) as u64)).await;
    }
    let app = spawn_app_with(|c| c.shared.max_uploads_per_minute = 2).await;
    // WHEN alice uploads twice, once under a key
    let first = with_key(&app, "k-1", "a.txt").send().await.unwrap();
    let first = json_of(first, 202).await;
    json_of(app.upload("alice", "b.txt", b"hi").await, 202).await;
    // THEN her third upload, of either form, is refused until the minute ends
    for third in [
        app.upload("alice", "c.txt", b"hi").await,
        declaration(&app, "alice", 0).send().await.unwrap(),
    ] {
        let retry: u64 = third.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_error(third, 429).await;
    }
    // AND a replay of the first is answered as before, not counted
    let replay = with_key(&app, "k-1", "a.txt").send().await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(json_of(replay, 202).await["job"]["id"], first["job"]["id"]);
    // AND bob has his own two
    json_of(app.upload("bob", "d.txt", b"hi").await, 202).await;
}

#[tokio::test]
async fn declarations_past_the_open_uploads_limit_are_429() {
    // GIVEN a stack letting each user keep 2 uploads waiting for their bytes
    let app = spawn_app_with(|c| c.shared.max_open_uploads = 2).await;
    // WHEN alice declares two large files and sends neither
    for n in 0..2 {
        json_of(declaration(&app, "alice", n).send().await.unwrap(), 201).await;
    }
    // THEN a third declaration is refused, with when to try again
    let third = declaration(&app, "alice", 2).send().await.unwrap();
    assert!(third.headers().contains_key("retry-after"));
    assert_error(third, 429).await;
    // AND a small upload, which waits for no bytes, still goes through,
    // as do bob's declarations
    json_of(app.upload("alice", "small.txt", b"hi").await, 202).await;
    json_of(declaration(&app, "bob", 0).send().await.unwrap(), 201).await;
}

#[tokio::test]
async fn one_put_at_a_time_per_upload_on_the_local_stack() {
    if backend() != boomerang_local::Backend::Embedded {
        return; // On AWS, S3 takes the PUTs.
    }
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // GIVEN a declared upload of 10 bytes, and a PUT of it under way
    let app = spawn_app().await;
    let declared = app
        .http
        .post(app.url("/uploads"))
        .bearer_auth(app.token("alice"));
    let declared = declared
        .json(&serde_json::json!({"fileName": "a.bin", "size": 10, "contentType": "application/octet-stream"}));
    let declared = json_of(declared.send().await.unwrap(), 201).await;
    let url = reqwest::Url::parse(declared["upload"]["url"].as_str().unwrap()).unwrap();
    let target = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    let mut first = tokio::net::TcpStream::connect(app.stack.addr)
        .await
        .unwrap();
    let head = format!(
        "PUT {target} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: 10\r\n\r\n01234",
        app.stack.addr
    );
    first.write_all(head.as_bytes()).await.unwrap();
    // WHEN a second PUT of the same upload comes meanwhile
    let second = app
        .http
        .put(url.clone())
        .header("content-type", "application/octet-stream");
    let second = second.body(b"abcdefghij".to_vec()).send().await.unwrap();
    let second = second.status().as_u16();
    first.write_all(b"56789").await.unwrap();
    let mut answer = [0u8; 12];
    first.read_exact(&mut answer).await.unwrap();
    let first: u16 = std::str::from_utf8(&answer[9..]).unwrap().parse().unwrap();
    // THEN exactly one of them stores the bytes and the other is refused:
    // the second at once while the first streams (or, if it got there
    // first, the first once the bytes are stored)
    let mut statuses = [first, second];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
}
