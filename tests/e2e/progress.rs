//! Progress from the third party (contract v4): pushed at once to every
//! tab of the job's owner as `job.progress`, with no `seq`; never in the
//! log; older, repeated and late reports change nothing.

use boomerang_e2e::{assert_error, json_of, sign, FakeThirdParty, Mode, Tab, TestApp};
use serde_json::{json, Value};

async fn app_with_silent_third_party() -> (TestApp, FakeThirdParty) {
    boomerang_e2e::spawn_app_with_third_party(Mode::Silent, |_| {}).await
}

/// Alice's job, submitted, as her tab saw it.
async fn submitted_job(app: &TestApp, tab: &mut Tab) -> String {
    let res = json_of(app.upload("alice", "a.txt", b"hi").await, 202).await;
    tab.expect("job.submitted").await;
    res["job"]["id"].as_str().unwrap().to_owned()
}

fn processing(id: &str, progress: f64, message: &str) -> String {
    json!({"job_id": id, "status": "processing", "progress": progress, "message": message})
        .to_string()
}

/// The webhook signed as sent at `ts`.
async fn progress_at(app: &TestApp, msg: &str, ts: i64, body: &str) -> reqwest::Response {
    let sig = sign::webhook(&app.stack.webhook_secret, msg, ts, body);
    app.webhook_raw(msg, ts, body, &sig).await
}

#[tokio::test]
async fn progress_reaches_every_tab_of_the_owner_without_a_seq_and_no_one_else() {
    // GIVEN alice with two tabs, bob with one, and alice's submitted job
    let (app, _tp) = app_with_silent_third_party().await;
    let mut a1 = app.tab("alice").await;
    let mut a2 = app.tab("alice").await;
    let mut bob = app.tab("bob").await;
    let id = submitted_job(&app, &mut a1).await;
    a2.expect("job.submitted").await;
    // WHEN the third party reports progress
    let body = processing(&id, 0.42, "transcribing");
    json_of(app.webhook("msg_p1", &body).await, 200).await;
    // THEN both of alice's tabs get it at once, with no seq
    for tab in [&mut a1, &mut a2] {
        let p = tab.expect_progress().await;
        assert!(p.get("seq").is_none(), "{p}");
        assert!(p["at"].is_string());
        assert_eq!(p["job"]["id"], id.as_str());
        assert_eq!(p["job"]["status"], "submitted");
        assert_eq!(p["job"]["progress"], 0.42);
        assert_eq!(p["job"]["progressMessage"], "transcribing");
    }
    // AND bob gets nothing
    bob.assert_nothing_pending().await;
    // AND the job shows it, in the list and on its own
    let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert_eq!(job["job"]["progress"], 0.42);
    assert_eq!(job["job"]["progressMessage"], "transcribing");
    let list = json_of(app.get("alice", "/jobs").await, 200).await;
    assert_eq!(list["jobs"][0]["progress"], 0.42);
    // AND it is not in the log, nor counted in it
    let events = json_of(app.get("alice", "/events?since=0").await, 200).await;
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["job.submitted"]);
    assert_eq!(events["lastSeq"], 1);
    // WHEN the result comes, it is seq 2 and the job shows no progress
    let done = json!({"job_id": id, "status": "completed", "result": {"n": 1}}).to_string();
    json_of(app.webhook("msg_done", &done).await, 200).await;
    let completed = a1.expect("job.completed").await;
    assert_eq!(completed["seq"], 2);
    assert!(completed["job"].get("progress").is_none(), "{completed}");
    let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert!(job["job"].get("progress").is_none(), "{job}");
    assert!(job["job"].get("progressMessage").is_none(), "{job}");
}

#[tokio::test]
async fn older_repeated_and_late_progress_is_acknowledged_and_changes_nothing() {
    let (app, _tp) = app_with_silent_third_party().await;
    let mut tab = app.tab("alice").await;
    let id = submitted_job(&app, &mut tab).await;
    let now = chrono::Utc::now().timestamp();
    let half = processing(&id, 0.5, "half");
    json_of(progress_at(&app, "msg_2", now, &half).await, 200).await;
    assert_eq!(tab.expect_progress().await["job"]["progress"], 0.5);
    // An older report (sent before the one kept), and the same again.
    let older = processing(&id, 0.9, "older");
    json_of(progress_at(&app, "msg_1", now - 10, &older).await, 200).await;
    json_of(progress_at(&app, "msg_2", now, &half).await, 200).await;
    // The same report retried later, signed afresh: still the same report.
    json_of(progress_at(&app, "msg_2", now + 1, &half).await, 200).await;
    tab.assert_nothing_pending().await;
    let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert_eq!(job["job"]["progress"], 0.5);
    assert_eq!(job["job"]["progressMessage"], "half");
    // Once the job is finished, progress is late: nothing is pushed.
    let failed = json!({"job_id": id, "status": "failed", "error": "no"}).to_string();
    json_of(app.webhook("msg_3", &failed).await, 200).await;
    tab.expect("job.failed").await;
    let late = processing(&id, 0.99, "late");
    json_of(progress_at(&app, "msg_4", now + 1, &late).await, 200).await;
    tab.assert_nothing_pending().await;
    let events = json_of(app.get("alice", "/events?since=0").await, 200).await;
    assert_eq!(events["lastSeq"], 2);
}

#[tokio::test]
async fn bad_progress_is_400_unsigned_is_401_and_unknown_jobs_404() {
    let (app, _tp) = app_with_silent_third_party().await;
    let mut tab = app.tab("alice").await;
    let id = submitted_job(&app, &mut tab).await;
    let bad: [Value; 6] = [
        json!({"job_id": id, "status": "processing"}),
        json!({"job_id": id, "status": "processing", "progress": 1.5}),
        json!({"job_id": id, "status": "processing", "progress": -0.5}),
        json!({"job_id": id, "status": "processing", "progress": "50%"}),
        json!({"job_id": id, "status": "processing", "progress": null}),
        json!({"job_id": id, "status": "processing", "progress": true}),
    ];
    for (n, body) in bad.iter().enumerate() {
        assert_error(
            app.webhook(&format!("msg_b{n}"), &body.to_string()).await,
            400,
        )
        .await;
    }
    let body = processing(&id, 0.1, "x");
    let forged = sign::webhook("whsec_c29tZW9uZSBlbHNlJ3Mga2V5", "m", 1, &body);
    let now = chrono::Utc::now().timestamp();
    assert_error(app.webhook_raw("m", now, &body, &forged).await, 401).await;
    let unknown = processing("0192d3b0-0000-7000-8000-000000000000", 0.1, "x");
    assert_error(app.webhook("msg_u", &unknown).await, 404).await;
    tab.assert_nothing_pending().await;
    let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert!(job["job"].get("progress").is_none(), "{job}");
}

#[tokio::test]
async fn a_long_message_is_cleaned_and_cut_not_refused() {
    let (app, _tp) = app_with_silent_third_party().await;
    let mut tab = app.tab("alice").await;
    let id = submitted_job(&app, &mut tab).await;
    let message = format!("step\u{202E}\u{0007} two{}", "!".repeat(500));
    let body = json!({"job_id": id, "status": "processing", "message": message}).to_string();
    json_of(app.webhook("msg_m", &body).await, 200).await;
    let p = tab.expect_progress().await;
    let kept = p["job"]["progressMessage"].as_str().unwrap();
    assert!(kept.starts_with("step two!"), "{kept}");
    assert_eq!(kept.chars().count(), 200);
    assert!(p["job"].get("progress").is_none(), "{p}");
}

#[tokio::test]
async fn the_simulated_third_party_reports_progress_before_its_result() {
    // GIVEN the stack's own simulated third party
    let app = boomerang_e2e::spawn_app().await;
    let mut tab = app.tab("alice").await;
    // WHEN alice uploads
    json_of(app.upload("alice", "a.txt", b"one two").await, 202).await;
    // THEN her tab sees rising progress, then the result
    let mut seen = Vec::new();
    let end = loop {
        let v = tab.next_any().await;
        match v["type"].as_str() {
            Some("job.progress") => seen.push(v["job"]["progress"].as_f64().unwrap()),
            Some("job.submitted") => {}
            _ => break v,
        }
    };
    assert_eq!(end["type"], "job.completed");
    assert_eq!(seen, [0.25, 0.5, 0.75]);
}
