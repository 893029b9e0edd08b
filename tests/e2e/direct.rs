//! Large files, straight to storage: `POST /uploads` with JSON, a PUT of
//! the bytes to the URL it answers, then the same flow as any upload.

use boomerang_e2e::{assert_error, backend, json_of, spawn_app, spawn_app_with};
use boomerang_local::Backend;
use serde_json::json;
use sha2::{Digest, Sha256};

/// `n` bytes of text: numbered lines of words.
fn text_file(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut i = 0u64;
    while out.len() < n {
        out.extend_from_slice(format!("line {i} of the big file\n").as_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

#[tokio::test]
async fn a_50_mb_file_goes_straight_to_storage_and_its_result_reaches_every_tab_of_its_owner() {
    // GIVEN two tabs of alice's and one of bob's
    let app = spawn_app().await;
    let mut a1 = app.tab("alice").await;
    let mut a2 = app.tab("alice").await;
    let mut b1 = app.tab("bob").await;
    let file = text_file(50 * 1024 * 1024);

    // WHEN alice declares a 50 MB file, over the multipart limit
    let declared = json!({"fileName": "big.csv", "size": file.len(), "contentType": "text/csv"});
    let created = json_of(app.begin_upload("alice", &declared).await, 201).await;
    // THEN the job is uploading, and she is told where to PUT it, until when
    let job = &created["job"];
    assert_eq!(job["status"], "uploading");
    assert_eq!(job["size"], file.len());
    assert_eq!(job["fileName"], "big.csv");
    assert_eq!(created["upload"]["method"], "PUT");
    assert_eq!(created["upload"]["headers"]["content-type"], "text/csv");
    let expires =
        chrono::DateTime::parse_from_rfc3339(created["upload"]["expiresAt"].as_str().unwrap())
            .unwrap();
    let left = expires.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(left > chrono::Duration::minutes(14) && left <= chrono::Duration::minutes(15));
    let id = job["id"].as_str().unwrap().to_owned();
    let listed = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert_eq!(listed["job"]["status"], "uploading");

    // WHEN she PUTs the bytes there
    let stored = app.put_upload(&created, file.clone()).await;
    assert!(stored.status().is_success(), "{}", stored.status());

    // THEN both her tabs hear it submitted, then completed with the third
    // party's result for exactly those bytes
    for tab in [&mut a1, &mut a2] {
        // (or only completed, if the webhook beat the third party's 2xx)
        let events = tab.until_end("job.completed").await;
        assert_eq!(events[0]["seq"], 1);
        let completed = events.last().unwrap();
        assert_eq!(completed["job"]["id"], id.as_str());
        let result = &completed["job"]["result"];
        assert_eq!(result["bytes"], file.len());
        assert_eq!(result["sha256"], hex::encode(Sha256::digest(&file)));
    }
    // AND bob heard nothing
    b1.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_put_of_another_size_or_type_or_to_a_forged_url_is_refused_and_nothing_moves() {
    // S3 checks what a presigned URL signed; moto does not, so this is the
    // local stack's own route only.
    if backend() == Backend::Aws {
        return;
    }
    let app = spawn_app().await;
    let mut a1 = app.tab("alice").await;
    let declared = json!({"fileName": "a.txt", "size": 10, "contentType": "text/plain"});
    let created = json_of(app.begin_upload("alice", &declared).await, 201).await;
    let url = created["upload"]["url"].as_str().unwrap().to_owned();
    let put = |url: String, ct: &'static str, body: &'static [u8]| {
        let http = app.http.clone();
        async move {
            http.put(url)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    // Another size, another type, a forged signature, a longer expiry.
    assert_error(put(url.clone(), "text/plain", b"too short").await, 403).await;
    assert_error(put(url.clone(), "text/html", b"0123456789").await, 403).await;
    let mut forged = url.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    assert_error(put(forged, "text/plain", b"0123456789").await, 403).await;
    let later = url.replacen("expires=", "expires=9", 1);
    assert_error(put(later, "text/plain", b"0123456789").await, 403).await;
    // Another job's key with this job's signature.
    let other = url.replacen("/uploads/direct/", "/uploads/direct/x", 1);
    assert_error(put(other, "text/plain", b"0123456789").await, 403).await;
    let id = created["job"]["id"].as_str().unwrap();
    let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert_eq!(job["job"]["status"], "uploading");
    a1.assert_nothing_pending().await;

    // The right bytes go through.
    let ok = put(url, "text/plain", b"0123456789").await;
    assert_eq!(ok.status(), 200);
    a1.until_end("job.completed").await;
}

#[tokio::test]
async fn an_upload_never_sent_fails_when_its_url_expires_and_the_url_then_refuses_the_bytes() {
    // GIVEN URLs valid for a second, and a sweep that runs often
    let app = spawn_app_with(|c| {
        c.shared.upload_url_ttl_secs = 1;
        c.shared.job_timeout_secs = 2;
    })
    .await;
    let mut a1 = app.tab("alice").await;
    let declared =
        json!({"fileName": "late.bin", "size": 4, "contentType": "application/octet-stream"});
    let created = json_of(app.begin_upload("alice", &declared).await, 201).await;
    // WHEN nothing is sent THEN the job fails, pushed, with the contract's words
    let failed = a1.expect("job.failed").await;
    assert_eq!(failed["job"]["id"], created["job"]["id"]);
    assert_eq!(failed["job"]["error"], "upload not received");
    // AND bytes sent after all change nothing
    if backend() == Backend::Embedded {
        let late = app.put_upload(&created, b"late".to_vec()).await;
        assert_error(late, 403).await;
    } else {
        // S3 (moto) may store them; the notification then finds the job failed.
        app.put_upload(&created, b"late".to_vec()).await;
    }
    let id = created["job"]["id"].as_str().unwrap();
    let job = json_of(app.get("alice", &format!("/jobs/{id}")).await, 200).await;
    assert_eq!(job["job"]["status"], "failed");
    a1.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_bad_declaration_is_a_4xx_and_creates_no_job() {
    let app = spawn_app_with(|c| c.shared.max_file_bytes = 1000).await;
    for bad in [
        json!({}),
        json!({"fileName": "a", "size": 1}),
        json!({"fileName": "a", "size": -1, "contentType": "text/plain"}),
        json!({"fileName": "a", "size": "1", "contentType": "text/plain"}),
        json!({"fileName": "a", "size": 1.5, "contentType": "text/plain"}),
        json!({"fileName": "", "size": 1, "contentType": "text/plain"}),
        json!({"fileName": "a", "size": 1, "contentType": "plain"}),
        json!({"fileName": "a", "size": 1, "contentType": "text/plain", "extra": 1}),
        json!([1, 2]),
    ] {
        let message = assert_error(app.begin_upload("alice", &bad).await, 400).await;
        assert!(!message.is_empty(), "{bad}");
    }
    let big = json!({"fileName": "a", "size": 1001, "contentType": "text/plain"});
    assert_error(app.begin_upload("alice", &big).await, 413).await;
    let unsigned = app
        .http
        .post(app.url("/uploads"))
        .json(&json!({"fileName": "a", "size": 1, "contentType": "text/plain"}))
        .send()
        .await
        .unwrap();
    assert_error(unsigned, 401).await;
    let jobs = json_of(app.get("alice", "/jobs").await, 200).await;
    assert!(jobs["jobs"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn bytes_stored_just_before_a_stop_are_handed_over_when_the_stack_comes_back() {
    // The local stack's own storage only: on AWS, S3 sends its event
    // whatever happens to the function.
    if backend() == Backend::Aws {
        return;
    }
    // GIVEN an upload whose bytes reached the data folder, but whose
    // hand-over never ran (the stack stopped in between)
    let app = spawn_app().await;
    let declared = json!({"fileName": "kept.txt", "size": 5, "contentType": "text/plain"});
    let created = json_of(app.begin_upload("alice", &declared).await, 201).await;
    let id = created["job"]["id"].as_str().unwrap().to_owned();
    let path = app.dir.path().join("files/uploads/direct").join(&id);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"kept\n").unwrap();
    // WHEN the stack starts again on the same data
    let app = app.restart(|_| {}).await;
    // THEN the file is handed over, and its result comes back
    let path = format!("/jobs/{id}");
    boomerang_e2e::eventually("the stored upload completes", || async {
        let job = json_of(app.get("alice", &path).await, 200).await;
        job["job"]["status"] == "completed"
    })
    .await;
    // (job.submitted first, unless the webhook beat the third party's 2xx)
    let page = json_of(app.get("alice", "/events?since=0").await, 200).await;
    let types = boomerang_e2e::event_types(&page);
    assert!(
        types == ["job.submitted", "job.completed"] || types == ["job.completed"],
        "{types:?}"
    );
    let job = json_of(app.get("alice", &path).await, 200).await;
    assert_eq!(job["job"]["status"], "completed");
    assert_eq!(job["job"]["result"]["bytes"], 5);
}
