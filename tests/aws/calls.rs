//! What a connect, a webhook and a catch-up cost on AWS, counted on the wire: a proxy
//! in front of moto records each DynamoDB and S3 operation the adapters
//! send. One Query finds a user's connections, writes do not grow with
//! the number of tabs, and nothing ever scans a table.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use boomerang_e2e::{json_of, Moto};

use super::{pass_on, stack_through};
use serde_json::json;

#[derive(Clone)]
struct Proxy {
    moto: String,
    http: reqwest::Client,
    calls: Arc<Mutex<Vec<String>>>,
}

/// Forwards to moto, recording `dynamodb:<Operation>` or `s3:<METHOD>`.
/// The local stack's own reads of S3's event queue (SQS, which a deployed
/// stack does not make: EventBridge invokes `submit`) are not recorded.
async fn forward(
    State(p): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = match headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        Some(t) if t.starts_with("AmazonSQS.") => None,
        Some(t) => Some(format!("dynamodb:{}", t.rsplit('.').next().unwrap_or(t))),
        None => Some(format!("s3:{method}")),
    };
    p.calls.lock().unwrap().extend(op);
    pass_on(&p.http, &p.moto, method, &uri, &headers, body)
        .await
        .into_response()
}

impl Proxy {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[tokio::test]
async fn a_connect_a_webhook_and_a_catch_up_cost_a_fixed_number_of_calls_one_query_and_no_scan() {
    // GIVEN the aws backend, talking to moto through a counting proxy
    let moto = Arc::new(Moto::start().await);
    let proxy = Proxy {
        moto: moto.url.clone(),
        http: reqwest::Client::new(),
        calls: Arc::default(),
    };
    let router = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    let (app, _tp) = stack_through(router, moto).await;
    proxy.take();

    // WHEN a tab connects
    let mut tabs = vec![app.tab("alice").await];
    let connect = proxy.take();
    // THEN it costs two writes: a slot of the per-user limit, and the row
    assert_eq!(
        connect,
        ["dynamodb:UpdateItem", "dynamodb:PutItem"],
        "{connect:?}"
    );

    // WHEN a webhook completes a job of alice's with one tab, then with three
    let mut per_webhook = Vec::new();
    for n in [1, 3] {
        while tabs.len() < n {
            tabs.push(app.tab("alice").await);
        }
        let job = json_of(app.upload("alice", "a.txt", b"hi").await, 202).await;
        for tab in tabs.iter_mut() {
            tab.expect("job.submitted").await;
        }
        let id = job["job"]["id"].as_str().unwrap().to_owned();
        proxy.take();
        let body = json!({"job_id": id, "status": "completed", "result": {"n": n}}).to_string();
        assert_eq!(app.webhook(&format!("msg_{n}"), &body).await.status(), 200);
        for tab in tabs.iter_mut() {
            tab.expect("job.completed").await;
        }
        let mut calls = proxy.take();
        calls.sort();
        per_webhook.push(calls);
    }
    // THEN each webhook made the same calls whatever the number of tabs:
    // the job read, the owner's head read, then one transaction (the job's
    // move and its event, together, on that lastSeq), beside one Query for
    // the connections; no Scan
    assert_eq!(per_webhook[0], per_webhook[1], "calls grew with the tabs");
    let calls = &per_webhook[0];
    assert_eq!(
        calls,
        &[
            "dynamodb:GetItem",
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:TransactWriteItems"
        ],
        "{calls:?}"
    );

    // WHEN alice's first job completes after her second was submitted,
    // so that her log moved since the first job's own event
    let ids = {
        let mut ids = Vec::new();
        for name in ["b.txt", "c.txt"] {
            let job = json_of(app.upload("alice", name, b"hi").await, 202).await;
            tabs[0].expect("job.submitted").await;
            ids.push(job["job"]["id"].as_str().unwrap().to_owned());
        }
        ids
    };
    proxy.take();
    let body = json!({"job_id": ids[0], "status": "completed", "result": {}}).to_string();
    assert_eq!(app.webhook("msg_late", &body).await.status(), 200);
    // THEN the event still takes the next number, with no gap
    let pushed = tabs[0].expect("job.completed").await;
    assert_eq!(pushed["seq"], 7, "{pushed}");
    assert_eq!(pushed["job"]["id"], ids[0].as_str(), "{pushed}");
    // AND it cost what any webhook costs: the head was read as it is now
    let mut calls = proxy.take();
    calls.sort();
    assert_eq!(
        calls,
        [
            "dynamodb:GetItem",
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:TransactWriteItems"
        ],
        "{calls:?}"
    );

    // WHEN a tab that was closed catches up on alice's seven events
    let page = json_of(app.get("alice", "/events?since=0").await, 200).await;
    assert_eq!(page["events"].as_array().unwrap().len(), 7, "{page}");
    assert_eq!(page["lastSeq"], 7, "{page}");
    let mut catch_up = proxy.take();
    catch_up.sort();
    // THEN it read the head once (its lastSeq) and queried the events once
    assert_eq!(
        catch_up,
        ["dynamodb:GetItem", "dynamodb:Query"],
        "{catch_up:?}"
    );
}
