//! The signed webhook: only genuine, fresh, first deliveries change anything.

use boomerang_e2e::*;
use boomerang_e2e::{assert_error, json_of, sign, FakeThirdParty, Mode, TestApp};
use serde_json::json;

/// A stack whose third party never calls back: the test is the third party.
async fn app_with_silent_third_party() -> (TestApp, FakeThirdParty) {
    boomerang_e2e::spawn_app_with_third_party(Mode::Silent, |_| {}).await
}

async fn submitted_job(app: &TestApp, tab: &mut boomerang_e2e::Tab) -> String {
    let res = json_of(app.upload("alice", "a.txt", b"hi").await, 202).await;
    tab.expect("job.submitted").await;
    res["job"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn forged_tampered_stale_and_unsigned_webhooks_are_401_and_change_nothing() {
    let (app, _tp) = app_with_silent_third_party().await;
    let mut tab = app.tab("alice").await;
    let id = submitted_job(&app, &mut tab).await;
    let body = json!({"job_id": id, "status": "completed", "result": {"evil": true}}).to_string();
    let now = chrono::Utc::now().timestamp();
    let secret = app.stack.webhook_secret.clone();
    let other_secret = "whsec_c29tZW9uZSBlbHNlJ3Mga2V5";

    let forged = sign::webhook(other_secret, "m1", now, &body);
    assert_error(app.webhook_raw("m1", now, &body, &forged).await, 401).await;
    let genuine = sign::webhook(&secret, "m1", now, &body);
    let tampered = body.replace("true", "false");
    assert_error(app.webhook_raw("m1", now, &tampered, &genuine).await, 401).await;
    // The id is signed too: another id with the same signature fails.
    assert_error(app.webhook_raw("m2", now, &body, &genuine).await, 401).await;
    // Past the 300 s tolerance either way, with room for the clock to
    // tick between here and the server's check (301 flaked when it did).
    let stale_ts = now - 320;
    let stale = sign::webhook(&secret, "m1", stale_ts, &body);
    assert_error(app.webhook_raw("m1", stale_ts, &body, &stale).await, 401).await;
    let future_ts = now + 320;
    let future = sign::webhook(&secret, "m1", future_ts, &body);
    assert_error(app.webhook_raw("m1", future_ts, &body, &future).await, 401).await;
    let unsigned = app
        .http
        .post(app.url("/webhooks/third-party"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_error(unsigned, 401).await;

    tab.assert_nothing_pending().await;
    let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert_eq!(job["job"]["status"], "submitted");
}

#[tokio::test]
async fn a_replayed_or_late_second_result_is_acknowledged_and_changes_nothing() {
    let (app, _tp) = app_with_silent_third_party().await;
    let mut tab = app.tab("alice").await;
    let id = submitted_job(&app, &mut tab).await;
    let first = json!({"job_id": id, "status": "completed", "result": {"n": 1}}).to_string();
    let second = json!({"job_id": id, "status": "completed", "result": {"n": 2}}).to_string();
    let failed = json!({"job_id": id, "status": "failed", "error": "too late"}).to_string();

    json_of(app.webhook("msg_1", &first).await, 200).await;
    assert_eq!(tab.expect("job.completed").await["job"]["result"]["n"], 1);
    // The same delivery again, a new delivery with another result, a failure.
    json_of(app.webhook("msg_1", &first).await, 200).await;
    json_of(app.webhook("msg_2", &second).await, 200).await;
    json_of(app.webhook("msg_3", &failed).await, 200).await;

    tab.assert_nothing_pending().await;
    let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert_eq!(job["job"]["status"], "completed");
    assert_eq!(job["job"]["result"]["n"], 1);
    let events = json_of(app.get("alice", "/events").await, 200).await;
    assert_eq!(events["lastSeq"], 2);
}

#[tokio::test]
async fn a_failure_reaches_the_tabs_with_its_reason() {
    let (app, _tp) = app_with_silent_third_party().await;
    let mut tab = app.tab("alice").await;
    let id = submitted_job(&app, &mut tab).await;
    let body = json!({"job_id": id, "status": "failed", "error": "unsupported format"}).to_string();
    json_of(app.webhook("msg_f", &body).await, 200).await;
    let e = tab.expect("job.failed").await;
    assert_eq!(e["seq"], 2);
    assert_eq!(e["job"]["status"], "failed");
    assert_eq!(e["job"]["error"], "unsupported format");
}

#[tokio::test]
async fn malformed_unknown_and_oversized_webhooks_get_their_status() {
    let (app, _tp) = app_with_silent_third_party().await;
    // Any job_id this deployment never issued, whatever its shape: 404.
    for (i, job_id) in [
        json!("0193a8f0-0000-7000-8000-000000000000"),
        json!("job_123"),
        json!("../../etc/passwd"),
        json!(""),
        json!(7),
        json!(null),
        json!(["0193a8f0-0000-7000-8000-000000000000"]),
    ]
    .into_iter()
    .enumerate()
    {
        let unknown = json!({"job_id": job_id, "status": "completed", "result": 1});
        let res = app.webhook(&format!("u{i}"), &unknown.to_string()).await;
        assert_error(res, 404).await;
    }
    for bad in [
        "not json",
        r#"{"status":"completed"}"#,
        r#"{"job_id":"0193a8f0-0000-7000-8000-000000000000","status":"done"}"#,
    ] {
        assert_error(app.webhook("b1", bad).await, 400).await;
    }
    let huge = json!({"job_id": "0193a8f0-0000-7000-8000-000000000000", "status": "completed", "result": "x".repeat(1024 * 1024)});
    assert_error(app.webhook("h1", &huge.to_string()).await, 413).await;
}

#[tokio::test]
async fn a_result_too_large_to_push_is_pushed_truncated_and_kept_whole() {
    let (app, _tp) = app_with_silent_third_party().await;
    let mut tab = app.tab("alice").await;
    let id = submitted_job(&app, &mut tab).await;
    // 200 KB: over the 64 KiB push limit (API Gateway's cap is 128 KB).
    let big = "y".repeat(200 * 1024);
    let body = json!({"job_id": id, "status": "completed", "result": {"blob": big}}).to_string();
    json_of(app.webhook("msg_big", &body).await, 200).await;
    let e = tab.expect("job.completed").await;
    assert!(e["job"]["result"].is_null());
    assert_eq!(e["job"]["resultTruncated"], true);
    let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert_eq!(
        job["job"]["result"]["blob"].as_str().unwrap().len(),
        200 * 1024
    );
}

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
