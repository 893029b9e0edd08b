//! Bad input on every route and on the socket, over real HTTP: oversized,
//! truncated, wrongly encoded, deeply nested and non-UTF-8. Each gets a 4xx
//! with a JSON error (or an error message on the socket); nothing panics,
//! and nothing is left half-written.

use boomerang_e2e::*;
use boomerang_e2e::{json_of, sign, spawn_app, TestApp};
use futures::SinkExt;
use tokio_tungstenite::tungstenite::Message;

/// A signed webhook with any bytes as its body.
async fn webhook_bytes(app: &TestApp, id: &str, body: Vec<u8>) -> reqwest::Response {
    let ts = chrono::Utc::now().timestamp();
    // Signed over the bytes themselves, as a third party would.
    let signature = sign::webhook_bytes(&app.stack.webhook_secret, id, ts, &body);
    app.http
        .post(app.url("/webhooks/third-party"))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn is_json_4xx(res: reqwest::Response, what: &str) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert!((400..500).contains(&status), "{what}: {status} {text}");
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
    assert!(v["error"].is_string(), "{what}: {text}");
}

fn nested(depth: usize) -> Vec<u8> {
    let mut v = b"{\"job_id\":".to_vec();
    v.extend(std::iter::repeat_n(b'[', depth));
    v.extend(std::iter::repeat_n(b']', depth));
    v.extend(b",\"status\":\"completed\",\"result\":1}");
    v
}

#[tokio::test]
async fn every_route_refuses_malformed_bodies_and_parameters_with_a_json_4xx() {
    let app = spawn_app().await;
    let token = app.token("alice");
    let id = "0193a8f0-0000-7000-8000-000000000000";

    // The webhook: signed, so that the body itself is what is judged.
    let signed_bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            "non-UTF-8",
            b"{\"job_id\":\"\xff\xfe\",\"status\":\"completed\"}".to_vec(),
        ),
        (
            "truncated",
            br#"{"job_id":"0193a8f0-0000-7000-8000-0000"#.to_vec(),
        ),
        ("deeply nested", nested(100_000)),
        ("a JSON string", br#""completed""#.to_vec()),
        (
            "UTF-16",
            "{\"job_id\":1}"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
        ),
        ("oversized", vec![b' '; 1024 * 1024 + 1]),
    ];
    for (i, (what, body)) in signed_bodies.into_iter().enumerate() {
        is_json_4xx(
            webhook_bytes(&app, &format!("msg_bad_{i}"), body).await,
            what,
        )
        .await;
    }

    // Uploads: a multipart body cut short, one that lies about its
    // boundary, non-UTF-8 headers in the part, a gzip encoding we never
    // asked for, a JSON body.
    let part = "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--B--\r\n";
    let uploads: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "truncated multipart",
            "multipart/form-data; boundary=B",
            part.as_bytes()[..40].to_vec(),
        ),
        (
            "wrong boundary",
            "multipart/form-data; boundary=C",
            part.as_bytes().to_vec(),
        ),
        (
            "non-UTF-8 part headers",
            "multipart/form-data; boundary=B",
            b"--B\r\nContent-Disposition: form-data; name=\"fi\xffle\"\r\n\r\nx\r\n--B--\r\n"
                .to_vec(),
        ),
        (
            "no boundary",
            "multipart/form-data",
            part.as_bytes().to_vec(),
        ),
        ("JSON", "application/json", br#"{"file":"x"}"#.to_vec()),
        (
            "non-UTF-8 content type",
            "multipart/form-data; boundary=\u{fffd}",
            part.as_bytes().to_vec(),
        ),
    ];
    for (what, ct, body) in uploads {
        let res = app
            .http
            .post(app.url("/uploads"))
            .bearer_auth(&token)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        is_json_4xx(res, what).await;
    }
    let gzip = app
        .http
        .post(app.url("/uploads"))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=B")
        .header("content-encoding", "gzip")
        .body(vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3])
        .send()
        .await
        .unwrap();
    is_json_4xx(gzip, "a gzip body").await;
    let oversized = app
        .http
        .post(app.url("/uploads"))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=B")
        .body(vec![b'x'; 7 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    is_json_4xx(oversized, "an upload over Lambda's 6 MB").await;

    // Query strings and paths, percent-encoded oddities included.
    for path in [
        "/events?since=%FF",
        "/events?since=1e3",
        "/events?limit=%00",
        "/events?since=-0",
        "/jobs?limit=99999999999999999999999",
        "/jobs/%FF%FE",
        &format!("/jobs/{id}%00"),
        "/jobs/..%2F..%2Fetc%2Fpasswd",
    ] {
        let res = app
            .http
            .get(format!("{}{path}", app.stack.http_url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        is_json_4xx(res, path).await;
    }

    // A Host that is not a host name, or an X-Forwarded-Proto that is not
    // a scheme (lambda_http panics building the request's URI from them;
    // the fuzzer found it): answered all the same.
    for (name, value) in [
        ("host", "bad[host"),
        ("host", "a..b%"),
        ("host", "xn--a"),
        ("x-forwarded-proto", "https/"),
        ("x-forwarded-proto", "1"),
    ] {
        let res = app
            .http
            .get(app.url("/jobs"))
            .bearer_auth(&token)
            .header(name, value)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {value}: no answer: {e}"));
        assert_eq!(res.status(), 200, "{name}: {value}");
    }

    // The dev token: nested, non-UTF-8, oversized, a user with a NUL.
    for (what, body) in [
        ("nested", nested(100_000)),
        ("non-UTF-8", b"{\"user\":\"\xff\"}".to_vec()),
        ("a NUL in the user", br#"{"user":"al\u0000ice"}"#.to_vec()),
        ("oversized", vec![b' '; 2 * 1024 * 1024]),
    ] {
        let res = app
            .http
            .post(app.url("/dev/token"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        is_json_4xx(res, what).await;
    }

    // AND nothing was written: alice has no job and no event.
    let jobs = json_of(app.get("alice", "/jobs").await, 200).await;
    assert_eq!(jobs["jobs"], serde_json::json!([]));
    let events = json_of(app.get("alice", "/events").await, 200).await;
    assert_eq!(events["lastSeq"], 0);
}

#[tokio::test]
async fn the_socket_answers_bad_messages_with_an_error_and_closes_on_an_oversized_one() {
    let app = spawn_app().await;
    let mut tab = app.tab("alice").await;
    // Deeply nested, truncated, a binary frame of non-UTF-8 bytes, a JSON
    // string: each an error message, and the socket stays open.
    let mut deep = "[".repeat(15_000);
    deep.push_str(&"]".repeat(15_000));
    for junk in [deep.as_str(), r#"{"action":"pi"#, r#""ping""#] {
        tab.send(junk).await;
        let v = tab.next().await;
        assert_eq!(v["type"], "error", "{}", &junk[..junk.len().min(20)]);
    }
    tab.ws_mut()
        .send(Message::Binary(vec![0xff, 0xfe, 0x00].into()))
        .await
        .unwrap();
    assert_eq!(tab.next().await["type"], "error");
    tab.assert_nothing_pending().await;
    // Over API Gateway's 128 KB: the connection goes, as on AWS.
    tab.send(&"x".repeat(129 * 1024)).await;
    assert_eq!(tab.closed_with().await, Some(1009));
}

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
