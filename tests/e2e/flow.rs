//! The whole flow: alice uploads, every tab of hers hears it, nobody else.

use boomerang_e2e::{json_of, spawn_app};
use sha2::{Digest, Sha256};

const FILE: &[u8] = b"name,score\nalice,3\nbob,5\n";

#[tokio::test]
async fn every_tab_of_the_uploader_gets_the_result_and_nobody_else_does() {
    // GIVEN two tabs of alice's and one of bob's
    let app = spawn_app().await;
    let mut a1 = app.tab("alice").await;
    let mut a2 = app.tab("alice").await;
    let mut b1 = app.tab("bob").await;

    // WHEN alice uploads a file
    let res = json_of(app.upload("alice", "scores.csv", FILE).await, 202).await;
    let job = &res["job"];
    assert_eq!(job["status"], "submitted");
    assert_eq!(job["fileName"], "scores.csv");
    assert_eq!(job["size"], FILE.len());
    let id = job["id"].as_str().unwrap().to_owned();

    // THEN both tabs get job.submitted then job.completed, with the same seqs
    for tab in [&mut a1, &mut a2] {
        let submitted = tab.expect("job.submitted").await;
        assert_eq!(submitted["seq"], 1);
        assert_eq!(submitted["job"]["id"], id.as_str());
        let completed = tab.expect("job.completed").await;
        assert_eq!(completed["seq"], 2);
        assert_eq!(completed["job"]["status"], "completed");
        let result = &completed["job"]["result"];
        assert_eq!(result["bytes"], FILE.len());
        assert_eq!(result["sha256"], hex::encode(Sha256::digest(FILE)));
        assert_eq!(result["lines"], 3);
        assert_eq!(result["words"], 3);
        assert!(completed["at"].as_str().unwrap().ends_with('Z'));
    }

    // AND bob heard nothing, and cannot read alice's job or events
    b1.assert_nothing_pending().await;
    let other = app.get("bob", &format!("/jobs/{id}")).await;
    assert_eq!(other.status(), 404);
    let bobs = json_of(app.get("bob", "/events?since=0").await, 200).await;
    assert_eq!(bobs["lastSeq"], 0);
    assert_eq!(bobs["events"].as_array().unwrap().len(), 0);
    let bobs_jobs = json_of(app.get("bob", "/jobs").await, 200).await;
    assert!(bobs_jobs["jobs"].as_array().unwrap().is_empty());

    // AND alice can read it all back over HTTP
    let full = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert_eq!(
        full["job"]["result"]["sha256"],
        hex::encode(Sha256::digest(FILE))
    );
    let list = json_of(app.get("alice", "/jobs").await, 200).await;
    assert_eq!(list["jobs"][0]["id"], id.as_str());
    let events = json_of(app.get("alice", "/events?since=0").await, 200).await;
    assert_eq!(events["lastSeq"], 2);
    let types = boomerang_e2e::event_types(&events);
    assert_eq!(types, ["job.submitted", "job.completed"]);
}

#[tokio::test]
async fn seq_counts_across_a_users_jobs_and_jobs_list_newest_first() {
    let app = spawn_app().await;
    let mut tab = app.tab("alice").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let res = json_of(app.upload("alice", &format!("f{i}.txt"), b"x").await, 202).await;
        ids.push(res["job"]["id"].as_str().unwrap().to_owned());
    }
    // Three jobs, two events each, numbered 1..=6 whatever their order.
    let mut seqs = Vec::new();
    for _ in 0..6 {
        seqs.push(tab.next().await["seq"].as_u64().unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);

    let list = json_of(app.get("alice", "/jobs?limit=2").await, 200).await;
    let listed: Vec<_> = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, [ids[2].clone(), ids[1].clone()]);

    let page = json_of(app.get("alice", "/events?since=2&limit=3").await, 200).await;
    let got: Vec<_> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(got, [3, 4, 5]);
    assert_eq!(page["lastSeq"], 6);
}
