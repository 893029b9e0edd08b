//! Nothing stuck, nothing kept for ever: a job the third party never
//! answers fails at its deadline, and old events go (with `gap` saying so).

use std::collections::HashMap;

use boomerang_e2e::third_party::Mode;
use boomerang_e2e::*;
use boomerang_e2e::{eventually, json_of, spawn_app_with, spawn_app_with_third_party};
use serde_json::Value;

const TIMED_OUT: &str = "timed out waiting for the third party";

#[tokio::test]
async fn a_job_the_third_party_never_answers_fails_at_its_deadline_and_a_late_webhook_changes_nothing(
) {
    // GIVEN a third party that takes files and never calls back, and a
    // one-second deadline
    let (app, tp) =
        spawn_app_with_third_party(Mode::Silent, |c| c.shared.job_timeout_secs = 1).await;
    let mut tab = app.tab("alice").await;
    let mut bobs = app.tab("bob").await;

    // WHEN alice uploads
    let res = json_of(app.upload("alice", "a.txt", b"abc").await, 202).await;
    let id = res["job"]["id"].as_str().unwrap().to_owned();
    assert_eq!(tp.next().await.job_id, id);
    assert_eq!(tab.expect("job.submitted").await["job"]["id"], id.as_str());

    // THEN, once its deadline passes, her tab is told it failed, and why
    let failed = tab.expect("job.failed").await;
    assert_eq!(failed["job"]["id"], id.as_str());
    assert_eq!(failed["job"]["error"], TIMED_OUT);
    let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert_eq!(job["job"]["status"], "failed");
    assert_eq!(job["job"]["error"], TIMED_OUT);

    // AND a webhook that comes later is acknowledged and changes nothing
    let late = serde_json::json!({"job_id": id, "status": "completed", "result": 1}).to_string();
    let answer = json_of(app.webhook("msg_late", &late).await, 200).await;
    assert_eq!(answer["status"], "already-done");
    let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert_eq!(job["job"]["status"], "failed");
    tab.assert_nothing_pending().await;
    bobs.assert_nothing_pending().await;
}

#[tokio::test]
async fn webhooks_racing_the_deadline_leave_each_job_exactly_one_terminal_event() {
    // GIVEN 20 jobs of alice's whose deadline is one second away
    let (app, _tp) =
        spawn_app_with_third_party(Mode::Silent, |c| c.shared.job_timeout_secs = 1).await;
    let mut tab = app.tab("alice").await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let res = json_of(app.upload("alice", &format!("{i}.txt"), b"x").await, 202).await;
        ids.push(res["job"]["id"].as_str().unwrap().to_owned());
    }
    // WHEN the sweep starts failing them, every webhook is sent at once
    while tab.next().await["type"] != "job.failed" {}
    let sends = ids.iter().enumerate().map(|(i, id)| {
        let body =
            serde_json::json!({"job_id": id, "status": "completed", "result": i}).to_string();
        let app = &app;
        async move { app.webhook(&format!("msg_race_{i}"), &body).await.status() }
    });
    for status in futures::future::join_all(sends).await {
        assert_eq!(status, 200);
    }

    // THEN every job ends once: one terminal event each, seqs from 1 with
    // no hole and no repeat, and the job's record agrees with its event
    let terminal_events = |page: &Value| {
        let mut terminal: HashMap<String, Vec<String>> = HashMap::new();
        for e in page["events"].as_array().unwrap() {
            let kind = e["type"].as_str().unwrap();
            if kind != "job.submitted" {
                let id = e["job"]["id"].as_str().unwrap().to_owned();
                terminal.entry(id).or_default().push(kind.to_owned());
            }
        }
        terminal
    };
    let all = || async { json_of(app.get("alice", "/events?since=0&limit=500").await, 200).await };
    eventually("every job has its terminal event", || async {
        terminal_events(&all().await).len() == 20
    })
    .await;
    // (Once there, it stays: read again.)
    let page = all().await;
    let events = page["events"].as_array().unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let terminal = terminal_events(&page);
    for id in &ids {
        let kinds = &terminal[id];
        assert_eq!(kinds.len(), 1, "{id}: {kinds:?}");
        let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
        assert_eq!(
            format!("job.{}", job["job"]["status"].as_str().unwrap()),
            kinds[0]
        );
    }
}

#[tokio::test]
async fn events_past_the_retention_are_gone_with_a_gap_and_the_seq_goes_on() {
    // GIVEN a one-second retention, and alice's first job done (seqs 1, 2;
    // or only 1, if its webhook beat the third party's 2xx)
    let app = spawn_app_with(|c| c.shared.event_retention_secs = 1).await;
    let mut tab = app.tab("alice").await;
    json_of(app.upload("alice", "a.txt", b"abc").await, 202).await;
    let last = tab.until_end("job.completed").await.len();

    // WHEN a tab that was away asks for everything after the retention
    // THEN the events are gone and the answer says so, with the last seq
    let from_start = || async { json_of(app.get("alice", "/events?since=0").await, 200).await };
    eventually("both events expire", || async {
        let page = from_start().await;
        page["gap"] == true && page["events"].as_array().unwrap().is_empty()
    })
    .await;
    let page = from_start().await;
    assert_eq!(page["lastSeq"], last);
    assert!(page["events"].as_array().unwrap().is_empty());
    // AND a tab that saw everything is told of no gap
    let since = format!("/events?since={last}");
    let uptodate = json_of(app.get("alice", &since).await, 200).await;
    assert_eq!(uptodate["gap"], false);

    // AND the next event follows on: seqs never restart
    json_of(app.upload("alice", "b.txt", b"def").await, 202).await;
    assert_eq!(tab.until_end("job.completed").await[0]["seq"], last + 1);
    let next = json_of(app.get("alice", &since).await, 200).await;
    assert_eq!(next["events"][0]["seq"], last + 1);
    assert_eq!(next["gap"], false);
}

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
