//! Retry-safe uploads (contract v3): `Idempotency-Key` on `POST /uploads`,
//! both forms, on the suite's backend.

use boomerang_e2e::*;
use serde_json::{json, Value};

fn form(name: &str, bytes: &[u8]) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name(name.to_owned())
        .mime_str("text/plain")
        .unwrap();
    reqwest::multipart::Form::new().part("file", part)
}

async fn upload_with_key(app: &TestApp, key: &str, name: &str, bytes: &[u8]) -> reqwest::Response {
    app.http
        .post(app.url("/uploads"))
        .bearer_auth(app.token("alice"))
        .header("idempotency-key", key)
        .multipart(form(name, bytes))
        .send()
        .await
        .unwrap()
}

async fn declare_with_key(
    app: &TestApp,
    user: &str,
    key: &str,
    declared: &Value,
) -> reqwest::Response {
    app.http
        .post(app.url("/uploads"))
        .bearer_auth(app.token(user))
        .header("idempotency-key", key)
        .json(declared)
        .send()
        .await
        .unwrap()
}

fn replayed(res: &reqwest::Response) -> bool {
    res.headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

#[tokio::test]
async fn a_retried_upload_returns_the_first_job_and_sends_nothing_again() {
    // GIVEN a third party that takes files and never calls back
    let (app, tp) = spawn_app_with_third_party(Mode::Silent, |_| {}).await;
    let mut tab = app.tab("alice").await;
    // WHEN alice uploads under a key, then retries it twice
    let first = upload_with_key(&app, "retry-1", "a.txt", b"hello").await;
    assert!(!replayed(&first));
    let first = json_of(first, 202).await;
    tp.next().await;
    for _ in 0..2 {
        let again = upload_with_key(&app, "retry-1", "a.txt", b"hello").await;
        // THEN each retry answers the first status and job, and says so
        assert!(replayed(&again), "{:?}", again.headers());
        let again = json_of(again, 202).await;
        assert_eq!(again["job"]["id"], first["job"]["id"]);
        assert_eq!(again["job"]["status"], "submitted");
    }
    // AND the third party got the file once, alice one job, her tab one
    // job.submitted
    assert_eq!(tp.attempts(), 1);
    let jobs = json_of(app.get("alice", "/jobs").await, 200).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(tab.expect("job.submitted").await["seq"], 1);
    let events = json_of(app.get("alice", "/events?since=0").await, 200).await;
    assert_eq!(event_types(&events), ["job.submitted"]);
    // AND the same key from another user is another request
    let bob = app
        .http
        .post(app.url("/uploads"))
        .bearer_auth(app.token("bob"))
        .header("idempotency-key", "retry-1")
        .multipart(form("a.txt", b"hello"))
        .send()
        .await
        .unwrap();
    assert!(!replayed(&bob));
    let bob = json_of(bob, 202).await;
    assert_ne!(bob["job"]["id"], first["job"]["id"]);
}

#[tokio::test]
async fn the_same_key_for_another_file_is_422_and_a_malformed_key_400() {
    let (app, _tp) = spawn_app_with_third_party(Mode::Silent, |_| {}).await;
    json_of(upload_with_key(&app, "k", "a.txt", b"hello").await, 202).await;
    for (name, bytes) in [("b.txt", &b"hello"[..]), ("a.txt", &b"hello!"[..])] {
        let res = upload_with_key(&app, "k", name, bytes).await;
        assert_error(res, 422).await;
    }
    let declared = json!({"fileName": "a.txt", "size": 5, "contentType": "text/csv"});
    assert_error(declare_with_key(&app, "alice", "k", &declared).await, 422).await;
    for bad in ["", "has space", &"k".repeat(256)] {
        let res = upload_with_key(&app, bad, "a.txt", b"hello").await;
        assert_error(res, 400).await;
    }
    // Nothing was made by any of them.
    let jobs = json_of(app.get("alice", "/jobs").await, 200).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_retry_while_the_first_still_runs_is_409() {
    // GIVEN a third party that never answers: the first request waits
    let (app, tp) = spawn_app_with_third_party(Mode::Hangs, |_| {}).await;
    let first = tokio::spawn({
        let (http, url, token) = (app.http.clone(), app.url("/uploads"), app.token("alice"));
        async move {
            http.post(url)
                .bearer_auth(token)
                .header("idempotency-key", "slow")
                .multipart(form("a.txt", b"hello"))
                .send()
                .await
        }
    });
    tp.next().await;
    // WHEN alice retries while it waits
    let again = upload_with_key(&app, "slow", "a.txt", b"hello").await;
    // THEN the retry is 409, and sends nothing
    let error = assert_error(again, 409).await;
    assert!(error.contains("still running"), "{error}");
    assert_eq!(tp.attempts(), 1);
    first.abort();
}

#[tokio::test]
async fn a_refused_request_frees_its_key_for_a_corrected_retry() {
    let (app, _tp) = spawn_app_with_third_party(Mode::Silent, |_| {}).await;
    // A declaration refused before any job is made (not a media type)
    let wrong = json!({"fileName": "a.txt", "size": 5, "contentType": "plain"});
    assert_error(declare_with_key(&app, "alice", "fix-me", &wrong).await, 400).await;
    // leaves its key free: the corrected one (another fingerprint) runs
    let declared = json!({"fileName": "a.txt", "size": 5, "contentType": "text/plain"});
    let res = declare_with_key(&app, "alice", "fix-me", &declared).await;
    assert!(!replayed(&res));
    json_of(res, 201).await;
}

#[tokio::test]
async fn a_retried_declaration_returns_the_first_job_with_a_url_and_the_file_cannot_change() {
    let app = spawn_app().await;
    let declared = json!({"fileName": "big.txt", "size": 5, "contentType": "text/plain"});
    // WHEN alice declares a file under a key, and retries
    let first = json_of(declare_with_key(&app, "alice", "d-1", &declared).await, 201).await;
    let again = declare_with_key(&app, "alice", "d-1", &declared).await;
    assert!(replayed(&again));
    let again = json_of(again, 201).await;
    // THEN the retry names the same job, and a URL that takes its bytes
    assert_eq!(again["job"]["id"], first["job"]["id"]);
    let stored = app.put_upload(&again, b"hello".to_vec()).await;
    assert!(stored.status().is_success(), "{}", stored.status());
    let mut tab = app.tab("alice").await;
    let id = first["job"]["id"].as_str().unwrap();
    eventually("the job leaves uploading", || async {
        let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
        job["job"]["status"] != "uploading"
    })
    .await;
    drop(tab.next());
    // AND once the bytes are in, neither URL can change them (locally
    // 409; on AWS, S3's own 412 for If-None-Match)
    for created in [&first, &again] {
        let res = app.put_upload(created, b"HELLO".to_vec()).await;
        let want = match backend() {
            boomerang_local::Backend::Embedded => 409,
            boomerang_local::Backend::Aws => 412,
        };
        assert_eq!(res.status().as_u16(), want);
    }
}
