//! Files by URL (contract v4): with `BOOMERANG_THIRD_PARTY_MODE=url` every
//! hand-over is JSON with a `file_url` that answers exactly the stored
//! bytes until it expires, and names that one file only.

use boomerang_e2e::{
    assert_error, backend, json_of, spawn_app_with, FakeThirdParty, Mode, Received, TestApp,
};
use boomerang_local::Backend;
use serde_json::{json, Value};

async fn url_mode(
    configure: impl FnOnce(&mut boomerang_local::Config),
) -> (TestApp, FakeThirdParty) {
    boomerang_e2e::spawn_app_with_third_party(Mode::Silent, |c| {
        c.shared.third_party_mode = boomerang_config::Mode::Url;
        configure(c);
    })
    .await
}

/// The hand-over's JSON, checked field by field against the job.
fn handover(r: &Received, job: &Value, size: usize) -> (String, chrono::DateTime<chrono::Utc>) {
    let j = r.json.as_ref().expect("a JSON hand-over, not multipart");
    assert!(r.bytes.is_empty(), "no bytes in a url-mode hand-over");
    assert_eq!(j["job_id"], job["id"]);
    assert_eq!(j["file_name"], job["fileName"]);
    assert_eq!(j["content_type"], "text/plain");
    assert_eq!(j["size"], size);
    assert!(j["callback_url"]
        .as_str()
        .unwrap()
        .ends_with("/webhooks/third-party"));
    let expires = chrono::DateTime::parse_from_rfc3339(j["file_url_expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    (j["file_url"].as_str().unwrap().to_owned(), expires)
}

/// `GET` and `HEAD` of the URL answer exactly the file.
async fn serves_exactly(app: &TestApp, url: &str, bytes: &[u8]) {
    let got = app.http.get(url).send().await.unwrap();
    assert_eq!(got.status(), 200, "{url}");
    assert_eq!(got.headers()["content-type"], "text/plain");
    assert_eq!(
        got.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(&got.bytes().await.unwrap()[..], bytes);
    let head = app.http.head(url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
}

#[tokio::test]
async fn an_inline_upload_is_handed_over_as_json_with_a_url_serving_its_bytes() {
    // GIVEN url mode, and alice with two tabs
    let (app, tp) = url_mode(|_| {}).await;
    let mut tabs = [app.tab("alice").await, app.tab("alice").await];
    // WHEN she uploads in the form
    let text = b"url mode\nworks\n";
    let res = json_of(app.upload("alice", "a.txt", text).await, 202).await;
    // THEN the third party gets JSON naming a URL of the file, for an hour
    let r = tp.next().await;
    let (url, expires) = handover(&r, &res["job"], text.len());
    let ttl = expires - chrono::Utc::now();
    assert!(
        ttl > chrono::Duration::minutes(59) && ttl <= chrono::Duration::hours(1),
        "{ttl}"
    );
    // AND the URL answers exactly the bytes
    serves_exactly(&app, &url, text).await;
    // AND its result reaches every tab
    let id = res["job"]["id"].as_str().unwrap();
    let done = json!({"job_id": id, "status": "completed", "result": {"ok": 1}}).to_string();
    json_of(app.webhook("msg_url", &done).await, 200).await;
    for tab in &mut tabs {
        assert_eq!(
            tab.until_end("job.completed").await.last().unwrap()["job"]["result"]["ok"],
            1
        );
    }
}

#[tokio::test]
async fn a_direct_upload_is_handed_over_as_json_with_a_url_serving_its_bytes() {
    let (app, tp) = url_mode(|_| {}).await;
    let mut tab = app.tab("alice").await;
    let body = b"straight to storage, then by URL".to_vec();
    let declared = json!({"fileName": "d.txt", "size": body.len(), "contentType": "text/plain"});
    let created = json_of(app.begin_upload("alice", &declared).await, 201).await;
    assert_eq!(app.put_upload(&created, body.clone()).await.status(), 200);
    let r = tp.next().await;
    let (url, _) = handover(&r, &created["job"], body.len());
    serves_exactly(&app, &url, &body).await;
    tab.expect("job.submitted").await;
}

#[tokio::test]
async fn a_changed_url_or_another_jobs_key_is_refused_never_the_bytes() {
    // S3 checks what a presigned URL signed; moto does not, so this is the
    // local stack's own route only.
    if backend() == Backend::Aws {
        return;
    }
    let (app, tp) = url_mode(|_| {}).await;
    json_of(app.upload("alice", "a.txt", b"alice's").await, 202).await;
    json_of(app.upload("bob", "b.txt", b"bob's").await, 202).await;
    let url_of = |r: Received| r.json.unwrap()["file_url"].as_str().unwrap().to_owned();
    let (alice, bob) = (url_of(tp.next().await), url_of(tp.next().await));
    let key = |url: &str| {
        url.split("/files/")
            .nth(1)
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_owned()
    };
    let refused = |url: String| {
        let http = app.http.clone();
        async move { assert_error(http.get(url).send().await.unwrap(), 403).await }
    };
    // Another job's key under alice's signature.
    refused(alice.replace(&key(&alice), &key(&bob))).await;
    // A forged signature, a later expiry, another type.
    let mut forged = alice.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    refused(forged).await;
    refused(alice.replacen("expires=", "expires=9", 1)).await;
    refused(alice.replacen("type=text%2Fplain", "type=text%2Fhtml", 1)).await;
    // No signature at all.
    refused(alice.split('?').next().unwrap().to_owned()).await;
    // The URL as given still works.
    assert_eq!(app.http.get(&alice).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn an_expired_url_is_refused() {
    if backend() == Backend::Aws {
        return;
    }
    // GIVEN URLs that live a second
    let (app, tp) = url_mode(|c| c.shared.file_url_ttl_secs = 1).await;
    json_of(app.upload("alice", "a.txt", b"soon gone").await, 202).await;
    let r = tp.next().await;
    let j = r.json.unwrap();
    let url = j["file_url"].as_str().unwrap().to_owned();
    let expires =
        chrono::DateTime::parse_from_rfc3339(j["file_url_expires_at"].as_str().unwrap()).unwrap();
    // WHEN its time has passed (waited for, with a deadline) THEN it is 403
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let res = app.http.get(&url).send().await.unwrap();
        if res.status() == 403 {
            assert!(chrono::Utc::now() >= expires, "refused before it expired");
            assert_error(res, 403).await;
            break;
        }
        assert_eq!(res.status(), 200, "before it expires, the bytes");
        assert!(
            std::time::Instant::now() < deadline,
            "still served past its expiry"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_simulated_third_party_fetches_the_url_and_the_result_is_the_files() {
    // GIVEN url mode with the stack's own simulated third party
    let app = spawn_app_with(|c| c.shared.third_party_mode = boomerang_config::Mode::Url).await;
    let mut tab = app.tab("alice").await;
    // WHEN alice uploads THEN the result is that of her file's bytes
    json_of(app.upload("alice", "a.txt", b"one two three\n").await, 202).await;
    let end = tab.until_end("job.completed").await;
    let result = &end.last().unwrap()["job"]["result"];
    assert_eq!(result["words"], 3);
    assert_eq!(result["bytes"], 14);
}
