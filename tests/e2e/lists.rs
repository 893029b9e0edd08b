//! `GET /jobs` pages: a cursor walks a user's jobs newest first, and a
//! result too large to push is left out of a list as it is of a push.

use std::collections::HashSet;

use boomerang_e2e::{assert_error, json_of, spawn_app_with_third_party, Mode};
use serde_json::{json, Value};

#[tokio::test]
async fn many_large_results_page_through_a_cursor_each_job_once_each_result_left_out() {
    // GIVEN twelve of alice's jobs completed with 120 KB results (on AWS
    // each is kept with its job, about the largest kept there: a list
    // reads them through BatchGetItem), and a thirteenth with a 500 KB one
    // (kept in S3)
    let (app, _tp) = spawn_app_with_third_party(Mode::Silent, |_| {}).await;
    let mut ids = Vec::new();
    for n in 0..13 {
        let created = json_of(app.upload("alice", &format!("f{n}.txt"), b"x").await, 202).await;
        let id = created["job"]["id"].as_str().unwrap().to_owned();
        let size = if n == 12 { 500 * 1024 } else { 120 * 1024 };
        let body = json!({"job_id": id, "status": "completed", "result": {"n": n, "blob": "z".repeat(size)}});
        assert_eq!(
            app.webhook(&format!("msg_list_{n}"), &body.to_string())
                .await
                .status(),
            200
        );
        ids.push(id);
    }
    // AND bob's job, which alice's pages never show
    json_of(app.upload("bob", "b.txt", b"y").await, 202).await;

    // WHEN alice pages through them five at a time
    let mut seen: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/jobs?limit=5&cursor={c}"),
            None => "/jobs?limit=5".to_owned(),
        };
        let res = app.get("alice", &path).await;
        assert_eq!(res.status(), 200);
        let text = res.text().await.unwrap();
        // (each page is small: no result of 120 KB travels in a list)
        assert!(text.len() < 64 * 1024, "a page of {} bytes", text.len());
        let page: Value = serde_json::from_str(&text).unwrap();
        seen.extend(page["jobs"].as_array().unwrap().iter().cloned());
        pages += 1;
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => {
                assert!(page["nextCursor"].is_null());
                break;
            }
        }
        assert!(pages < 10, "the cursor goes round in circles");
    }
    // THEN she saw each job once, newest first, in three pages
    assert_eq!(pages, 3);
    let order: Vec<&str> = seen.iter().map(|j| j["id"].as_str().unwrap()).collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(order, newest_first);
    assert_eq!(order.iter().collect::<HashSet<_>>().len(), 13);
    // AND every result was left out, as a push leaves it out
    for job in &seen {
        assert_eq!(job["status"], "completed");
        assert!(job["result"].is_null(), "{}", job["id"]);
        assert_eq!(job["resultTruncated"], true);
    }
    // AND each is whole at GET /jobs/{id}
    for (n, id) in [(0, &ids[0]), (12, &ids[12])] {
        let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
        assert_eq!(job["job"]["result"]["n"], n);
        assert!(job["job"].get("resultTruncated").is_none());
    }
}

#[tokio::test]
async fn a_small_result_is_in_the_list_and_a_cursor_we_never_gave_is_refused() {
    let (app, _tp) = spawn_app_with_third_party(Mode::Silent, |_| {}).await;
    let created = json_of(app.upload("alice", "a.txt", b"x").await, 202).await;
    let id = created["job"]["id"].as_str().unwrap();
    let body = json!({"job_id": id, "status": "completed", "result": {"words": 2}});
    app.webhook("msg_small", &body.to_string()).await;
    let page = json_of(app.get("alice", "/jobs").await, 200).await;
    assert_eq!(page["jobs"][0]["result"]["words"], 2);
    assert!(page["jobs"][0].get("resultTruncated").is_none());
    assert!(page["nextCursor"].is_null());
    for bad in ["x", "%FF", "MTIz", "bm90LmEuam9i"] {
        assert_error(app.get("alice", &format!("/jobs?cursor={bad}")).await, 400).await;
    }
}
