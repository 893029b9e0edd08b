//! What the third party is sent, and what happens when it misbehaves.

use boomerang_e2e::*;
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

#[tokio::test]
async fn the_third_partys_credentials_go_in_its_authorization_header_and_its_url_is_never_shown_whole(
) {
    let tp = FakeThirdParty::start(Mode::Silent).await;
    // A URL with credentials in its userinfo and an API key in its query
    let url = tp.url().replace("http://", "http://user:hunter2@") + "?api_key=sk_query_secret";
    let app = spawn_app_with(|c| {
        c.shared.third_party_url = Some(url);
        c.third_party_auth = Some("Bearer sk_live_header_secret".parse().unwrap());
    })
    .await;
    // WHEN a file is handed over
    json_of(app.upload("alice", "a.txt", b"hello").await, 202).await;
    // THEN the third party gets the secret as Authorization
    let got = tp.next().await;
    assert_eq!(
        got.authorization.as_deref(),
        Some("Bearer sk_live_header_secret")
    );
    // AND the URL the stack shows (banner, logs) has none of them
    let shown = &app.stack.third_party_url;
    assert!(shown.ends_with("/process"), "{shown}");
    for secret in ["hunter2", "user:", "sk_query_secret", "api_key"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    let printed = format!("{:?}", app.stack.config);
    assert!(!printed.contains("sk_live_header_secret"), "{printed}");
}

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
    let file = || reqwest::multipart::Part::bytes(b"forged".to_vec()).file_name("f");
    let submit = |authorization: Option<&str>, callback: String| {
        let form = reqwest::multipart::Form::new()
            .text("job_id", id.clone())
            .text("callback_url", callback)
            .part("file", file());
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
    // AND it reads no file that comes before the job it is for
    let file_first = reqwest::multipart::Form::new()
        .part("file", file())
        .text("job_id", id.clone())
        .text("callback_url", app.stack.callback_url.clone());
    let r = app.http.post(&sim).header("authorization", &stacks);
    let r = r.multipart(file_first).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // AND the job is untouched
    let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert_eq!(job["job"]["status"], "submitted");
}
