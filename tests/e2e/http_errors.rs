//! Every error status of the HTTP API, each with a JSON error.

use boomerang_e2e::sign::jwt;
use boomerang_e2e::{assert_error, json_of, spawn_app, spawn_app_with};

#[tokio::test]
async fn every_route_but_the_webhook_needs_a_valid_bearer_token() {
    let app = spawn_app().await;
    let expired = jwt(
        "alice",
        chrono::Utc::now().timestamp() - 10,
        app.jwt_secret(),
    );
    for (method, path) in [
        ("GET", "/jobs"),
        ("GET", "/jobs/0193a8f0-0000-7000-8000-000000000000"),
        ("GET", "/events"),
        ("POST", "/uploads"),
    ] {
        let m = method.parse().unwrap();
        let none = app.http.request(m, app.url(path)).send().await.unwrap();
        assert_error(none, 401).await;
        let m = method.parse().unwrap();
        let old = app
            .http
            .request(m, app.url(path))
            .bearer_auth(&expired)
            .send()
            .await
            .unwrap();
        assert_error(old, 401).await;
        let m = method.parse().unwrap();
        let basic = app
            .http
            .request(m, app.url(path))
            .header("authorization", "Basic YWxpY2U6eA==")
            .send()
            .await
            .unwrap();
        assert_error(basic, 401).await;
    }
}

#[tokio::test]
async fn an_upload_that_is_not_multipart_or_has_no_file_part_is_400() {
    let app = spawn_app().await;
    let token = app.token("alice");
    let json = app
        .http
        .post(app.url("/uploads"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(json, 400).await;
    let form = reqwest::multipart::Form::new().text("not_file", "x");
    let no_file = app
        .http
        .post(app.url("/uploads"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_error(no_file, 400).await;
    let empty = app
        .http
        .post(app.url("/uploads"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_error(empty, 400).await;
    // Nothing was half-written.
    let jobs = json_of(app.get("alice", "/jobs").await, 200).await;
    assert!(jobs["jobs"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn an_upload_over_the_limit_is_413_and_leaves_no_job() {
    let app = spawn_app_with(|c| c.shared.max_upload_bytes = 1024).await;
    assert_error(app.upload("alice", "big.bin", &[b'x'; 1025]).await, 413).await;
    // Over Lambda's 6 MB request payload: refused by the gateway itself.
    assert_error(
        app.upload("alice", "huge.bin", &vec![b'x'; 6 * 1024 * 1024 + 1])
            .await,
        413,
    )
    .await;
    json_of(app.upload("alice", "ok.bin", &[b'x'; 1024]).await, 202).await;
    let jobs = json_of(app.get("alice", "/jobs").await, 200).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_paging_parameters_are_400() {
    let app = spawn_app().await;
    for path in [
        "/jobs?limit=0",
        "/jobs?limit=201",
        "/jobs?limit=ten",
        "/events?since=-1",
        "/events?since=x",
        "/events?limit=501",
        "/events?limit=0",
    ] {
        assert_error(app.get("alice", path).await, 400).await;
    }
    json_of(app.get("alice", "/jobs?limit=200").await, 200).await;
    let empty = json_of(app.get("alice", "/events?since=0&limit=500").await, 200).await;
    assert_eq!(
        empty,
        serde_json::json!({"events": [], "lastSeq": 0, "gap": false})
    );
}

#[tokio::test]
async fn an_unknown_or_malformed_job_id_is_404() {
    let app = spawn_app().await;
    assert_error(
        app.get("alice", "/jobs/0193a8f0-0000-7000-8000-000000000000")
            .await,
        404,
    )
    .await;
    assert_error(app.get("alice", "/jobs/not-a-uuid").await, 404).await;
    assert_error(app.get("alice", "/no/such/route").await, 404).await;
}

#[tokio::test]
async fn dev_tokens_work_and_bad_requests_for_them_are_400() {
    let app = spawn_app().await;
    let res = app
        .http
        .post(app.url("/dev/token"))
        .json(&serde_json::json!({"user": "carol"}))
        .send()
        .await
        .unwrap();
    let token = json_of(res, 200).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let jobs = app
        .http
        .get(app.url("/jobs"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    json_of(jobs, 200).await;
    for body in [
        serde_json::json!({}),
        serde_json::json!({"user": ""}),
        serde_json::json!({"user": "x".repeat(129)}),
    ] {
        let res = app
            .http
            .post(app.url("/dev/token"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(res, 400).await;
    }
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}
