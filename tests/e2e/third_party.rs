//! What the third party is sent, and what happens when it misbehaves.

use boomerang_e2e::{json_of, spawn_app_with_third_party, Mode};

#[tokio::test]
async fn the_third_party_gets_the_file_its_name_type_job_id_and_callback() {
    let (app, tp) = spawn_app_with_third_party(Mode::Silent, |c| {
        c.public_url = Some("https://boomerang.example.test".into())
    })
    .await;
    let res = json_of(app.upload("alice", "report.txt", b"some bytes").await, 202).await;
    let got = tp.next().await;
    assert_eq!(got.job_id, res["job"]["id"].as_str().unwrap());
    assert_eq!(
        got.callback_url,
        "https://boomerang.example.test/webhooks/third-party"
    );
    assert_eq!(got.file_name, "report.txt");
    assert_eq!(got.content_type, "text/plain");
    assert_eq!(got.bytes, b"some bytes");
}

#[tokio::test]
async fn a_refusing_third_party_is_tried_three_times_then_the_upload_is_502_and_the_job_failed() {
    let (app, tp) = spawn_app_with_third_party(Mode::Refuses, |_| {}).await;
    let mut tab = app.tab("alice").await;
    let res = json_of(app.upload("alice", "a.txt", b"x").await, 502).await;
    assert!(res["error"].as_str().unwrap().contains("503"));
    assert_eq!(res["job"]["status"], "failed");
    assert_eq!(tp.attempts(), 3);
    let e = tab.expect("job.failed").await;
    assert_eq!(e["job"]["id"], res["job"]["id"]);
    let id = res["job"]["id"].as_str().unwrap();
    let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert_eq!(job["job"]["status"], "failed");
}

#[tokio::test]
async fn a_third_party_that_does_not_answer_in_time_fails_the_upload_with_502() {
    let (app, tp) =
        spawn_app_with_third_party(Mode::Hangs, |c| c.shared.third_party_timeout_ms = 200).await;
    let res = json_of(app.upload("alice", "a.txt", b"x").await, 502).await;
    assert_eq!(res["job"]["status"], "failed");
    assert_eq!(tp.attempts(), 3);
}

#[tokio::test]
async fn a_result_that_beats_the_third_partys_reply_completes_the_job_and_submitted_never_follows()
{
    let secret = "whsec_dGhlIHRlc3QncyBvd24gd2ViaG9vayBrZXk=".to_owned();
    let (app, _tp) = spawn_app_with_third_party(Mode::CallsBackFirst(secret.clone()), |c| {
        c.webhook_secret = Some(secret.parse().expect("any string"))
    })
    .await;
    let mut tab = app.tab("alice").await;
    let res = json_of(app.upload("alice", "a.txt", b"x").await, 202).await;
    assert_eq!(res["job"]["status"], "completed");
    assert_eq!(res["job"]["result"]["fast"], true);
    let e = tab.expect("job.completed").await;
    assert_eq!(e["seq"], 1);
    tab.assert_nothing_pending().await;
}
