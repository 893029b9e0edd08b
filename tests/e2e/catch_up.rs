//! A tab that was closed catches up; a restart loses nothing.

use boomerang_e2e::{json_of, spawn_app};

#[tokio::test]
async fn a_tab_reopened_after_the_result_catches_up_from_its_last_seq() {
    // GIVEN alice's laptop tab saw seq 0 and closed; her phone stays open
    let app = spawn_app().await;
    let laptop = app.tab("alice").await;
    laptop.close().await;
    let mut phone = app.tab("alice").await;

    // WHEN a job runs to completion while the laptop is closed
    json_of(app.upload("alice", "a.txt", b"hello").await, 202).await;
    let pushed = phone.until_end("job.completed").await;

    // THEN the reopened laptop gets what the phone got from /events?since=0
    let mut laptop = app.tab("alice").await;
    let missed = json_of(app.get("alice", "/events?since=0").await, 200).await;
    assert_eq!(missed["events"].as_array().unwrap(), &pushed);
    assert_eq!(missed["lastSeq"], pushed.len());
    laptop.assert_nothing_pending().await;
}

#[tokio::test]
async fn jobs_events_and_tokens_survive_a_restart() {
    let app = spawn_app().await;
    let token = app.token("alice");
    let mut tab = app.tab("alice").await;
    let res = json_of(app.upload("alice", "a.txt", b"hello").await, 202).await;
    let id = res["job"]["id"].as_str().unwrap().to_owned();
    let first = tab.until_end("job.completed").await;
    // The same data: same secrets, same jobs, same event numbering.
    let app = app.restart(|_| {}).await;
    let res = app
        .http
        .get(app.url(&format!("/jobs/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let job = json_of(res, 200).await;
    assert_eq!(job["job"]["status"], "completed");
    let mut tab = app.tab("alice").await;
    json_of(app.upload("alice", "b.txt", b"again").await, 202).await;
    let next = tab.until_end("job.completed").await;
    assert_eq!(next[0]["seq"], first.len() + 1);
}

#[tokio::test]
async fn a_clean_stop_delivers_what_the_simulator_owes_before_exiting() {
    // GIVEN a slow simulated third party holding alice's file
    let app = boomerang_e2e::spawn_app_with(|c| c.sim_delay_ms = 600_000).await;
    let res = json_of(app.upload("alice", "a.txt", b"hello").await, 202).await;
    let id = res["job"]["id"].as_str().unwrap().to_owned();
    // WHEN the stack stops cleanly and starts again
    let app = app.restart(|_| {}).await;
    // THEN the result was delivered and saved before it exited
    let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert_eq!(job["job"]["status"], "completed");
    assert_eq!(job["job"]["result"]["bytes"], 5);
}
