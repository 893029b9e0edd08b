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
    // (already completed, if the webhook beat the third party's 2xx)
    assert!(job["status"] == "submitted" || job["status"] == "completed");
    assert_eq!(job["fileName"], "scores.csv");
    assert_eq!(job["size"], FILE.len());
    let id = job["id"].as_str().unwrap().to_owned();

    // THEN both tabs get job.submitted then job.completed (or only
    // job.completed, if the webhook beat the third party's 2xx), with the
    // same seqs
    let mut seen = Vec::new();
    for tab in [&mut a1, &mut a2] {
        let events = tab.until_end("job.completed").await;
        assert_eq!(events[0]["seq"], 1);
        let completed = events.last().unwrap();
        assert_eq!(completed["job"]["id"], id.as_str());
        assert_eq!(completed["job"]["status"], "completed");
        let result = &completed["job"]["result"];
        assert_eq!(result["bytes"], FILE.len());
        assert_eq!(result["sha256"], hex::encode(Sha256::digest(FILE)));
        assert_eq!(result["lines"], 3);
        assert_eq!(result["words"], 3);
        assert!(completed["at"].as_str().unwrap().ends_with('Z'));
        seen.push(events);
    }
    assert_eq!(seen[0], seen[1], "both tabs get the same events");
    let pushed = seen.pop().unwrap();

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
    // (the same events as were pushed)
    let events = json_of(app.get("alice", "/events?since=0").await, 200).await;
    assert_eq!(events["lastSeq"], pushed.len());
    assert_eq!(events["events"].as_array().unwrap(), &pushed);
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
    // Three jobs, each with job.submitted (unless its webhook beat the
    // third party's 2xx) and job.completed: 3 to 6 events, numbered from 1
    // with no gap whatever their order.
    let mut seqs = Vec::new();
    let mut ended = std::collections::HashSet::new();
    while ended.len() < 3 {
        let event = tab.next().await;
        seqs.push(event["seq"].as_u64().unwrap());
        if event["type"] == "job.completed" {
            assert!(ended.insert(event["job"]["id"].to_string()), "{event}");
        } else {
            assert_eq!(event["type"], "job.submitted", "{event}");
        }
    }
    seqs.sort();
    let last = seqs.len() as u64;
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());

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
    assert_eq!(got, (3..=last.min(5)).collect::<Vec<_>>());
    assert_eq!(page["lastSeq"], last);
}
