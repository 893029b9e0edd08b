//! The DynamoDB and S3 adapters over the wire, against moto server, on
//! tables created from template.yaml's own definitions.

use aws_sdk_dynamodb::types::AttributeValue;
use boomerang_aws::tables::Tables;
use boomerang_aws::{
    Deployment, DynamoConnectionStore, DynamoEventLog, DynamoJobStore, S3FileStore,
};
use std::sync::Arc;

use boomerang_core::auth::Identity;
use boomerang_core::ports::{ConnectionStore, EventLog, FileStore, JobStore, PushError, Waiting};
use boomerang_core::{
    Applied, Connection, ConnectionId, Connections, Event, EventDraft, EventType, Job, JobId,
    JobStatus, Limits, Moved, UserId,
};
use boomerang_e2e::Moto;
use chrono::{Duration as Span, Utc};

pub(crate) struct Aws {
    moto: Moto,
    pub(crate) dynamo: aws_sdk_dynamodb::Client,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) tables: Tables,
    pub(crate) bucket: String,
}

/// A fresh moto with the tables and bucket as template.yaml defines them.
pub(crate) async fn aws() -> Aws {
    let deployment = Deployment {
        tables: Tables::with_prefix("boomerang-test"),
        bucket: "boomerang-test-files".into(),
        connections_endpoint: "http://127.0.0.1:9/unused".into(),
        event_retention: boomerang_core::Limits::default().event_retention,
        job_retention: boomerang_core::Limits::default().job_retention,
    };
    let (moto, sdk) = Moto::with(&deployment).await;
    Aws {
        moto,
        dynamo: boomerang_aws::dynamo_client(&sdk),
        s3: boomerang_aws::s3_client(&sdk),
        tables: deployment.tables,
        bucket: deployment.bucket,
    }
}

pub(crate) fn user(u: &str) -> UserId {
    UserId::parse(u).unwrap()
}

/// `job` as a move from `from` would store it, told as `event` (`None`:
/// a move no tab sees): what `JobStore::apply` takes, made by hand so that
/// a test names the statuses the store must find.
pub(crate) fn moved(job: &Job, from: &'static [JobStatus], event: Option<EventDraft>) -> Moved {
    Moved {
        job: job.clone(),
        from,
        event,
    }
}

/// The event a move wrote; a test fails if it was lost.
pub(crate) fn written(applied: Applied) -> Event {
    match applied {
        Applied::Moved(Some(event)) => event,
        other => panic!("the move wrote no event: {other:?}"),
    }
}

pub(crate) fn job(owner: &str) -> Job {
    let now = Utc::now();
    Job {
        id: JobId::generate(),
        owner: user(owner),
        status: JobStatus::Submitted,
        file_name: "a.csv".into(),
        content_type: "text/csv".into(),
        size: 3,
        file_key: "uploads/x".into(),
        created_at: now,
        updated_at: now,
        result: None,
        error: None,
        progress: None,
    }
}

pub(crate) fn job_store(a: &Aws) -> DynamoJobStore {
    DynamoJobStore::new(
        a.dynamo.clone(),
        &a.tables.jobs,
        &a.tables.events,
        S3FileStore::new(a.s3.clone(), &a.bucket),
        RETENTION,
    )
}

pub(crate) fn event_log(a: &Aws) -> DynamoEventLog {
    DynamoEventLog::new(a.dynamo.clone(), &a.tables.events, RETENTION)
}

/// The event retention of the adapters under test.
pub(crate) const RETENTION: std::time::Duration = std::time::Duration::from_secs(3600);

#[tokio::test]
async fn a_burst_of_connects_never_takes_a_user_past_the_limit_and_a_lost_disconnect_is_counted_out(
) {
    let a = aws().await;
    let store = std::sync::Arc::new(DynamoConnectionStore::new(
        a.dynamo.clone(),
        &a.tables.connections,
    ));
    let now = Utc::now();
    let conn = |i: usize| Connection {
        id: ConnectionId::parse(format!("burst{i}")).unwrap(),
        user: user("carol"),
        connected_at: now,
        expires_at: now + Span::hours(1),
    };
    // WHEN 200 connects for one user race, with a limit of 50
    let tries = (0..200).map(|i| {
        let (store, c) = (store.clone(), conn(i));
        async move { store.add_within(&c, 50, now).await.unwrap() }
    });
    let admitted = futures::future::join_all(tries)
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count();
    // THEN exactly 50 are stored
    assert_eq!(admitted, 50);
    assert_eq!(store.for_user(&user("carol")).await.unwrap().len(), 50);
    // WHEN ten rows vanish without their $disconnect (TTL, a crash)
    let rows = store.for_user(&user("carol")).await.unwrap();
    for c in rows.iter().take(10) {
        a.dynamo
            .delete_item()
            .table_name(&a.tables.connections)
            .key("connectionId", AttributeValue::S(c.id.to_string()))
            .send()
            .await
            .unwrap();
    }
    // THEN, once the count has settled (no connect in flight), the next
    // connects recount and fill exactly those ten places
    let store = DynamoConnectionStore::new(a.dynamo.clone(), &a.tables.connections)
        .with_settle(std::time::Duration::ZERO);
    let mut more = 0;
    for i in 200..215 {
        if store.add_within(&conn(i), 50, now).await.unwrap() {
            more += 1;
        }
    }
    assert_eq!(more, 10);
    assert_eq!(store.for_user(&user("carol")).await.unwrap().len(), 50);
    // AND a removed connection gives its place back at once
    store.remove(&conn(200).id).await.unwrap();
    assert!(store.add_within(&conn(300), 50, now).await.unwrap());
}

/// A gateway that holds every socket: it only counts the probes it gets.
#[derive(Default)]
struct HoldsEverySocket(std::sync::atomic::AtomicUsize);

#[async_trait::async_trait]
impl boomerang_core::ports::Pusher for HoldsEverySocket {
    async fn push(&self, _: &ConnectionId, _: &str) -> Result<(), PushError> {
        Ok(())
    }
    async fn close(&self, _: &ConnectionId) -> Result<(), PushError> {
        Ok(())
    }
    async fn probe(&self, _: &ConnectionId) -> Result<(), PushError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// Passes every call on to moto, but answers a PutItem 500 once moto has
/// written it: a write that landed and reads as failed, as an attempt
/// that timed out under load does (and each retry lands again).
async fn puts_land_but_fail(
    axum::extract::State((http, moto)): axum::extract::State<(reqwest::Client, String)>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    let put = target == Some("DynamoDB_20120810.PutItem");
    let answer = super::pass_on(&http, &moto, method, &uri, &headers, body).await;
    if !put {
        return answer.into_response();
    }
    let failed =
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected"}"#;
    (
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "application/x-amz-json-1.0")],
        failed,
    )
        .into_response()
}

#[tokio::test]
async fn a_row_write_that_lands_but_reads_as_failed_never_frees_a_slot_twice() {
    // GIVEN erin, with a limit of 2, and one connection stored
    let a = aws().await;
    let store = DynamoConnectionStore::new(a.dynamo.clone(), &a.tables.connections);
    let now = Utc::now();
    let conn = |i: usize| Connection {
        id: ConnectionId::parse(format!("erin{i}")).unwrap(),
        user: user("erin"),
        connected_at: now,
        expires_at: now + Span::hours(1),
    };
    assert!(store.add_within(&conn(0), 2, now).await.unwrap());
    // AND a way to DynamoDB on which a row's write lands but reads as failed
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let proxy = axum::Router::new()
        .fallback(puts_land_but_fail)
        .with_state((reqwest::Client::new(), a.moto.url.clone()));
    tokio::spawn(async move { axum::serve(listener, proxy).await });
    let sdk = boomerang_e2e::moto::sdk_config_for(&url).await;
    let flaky =
        DynamoConnectionStore::new(boomerang_aws::dynamo_client(&sdk), &a.tables.connections);
    // WHEN a connect's row write fails so (its row stored all the same),
    // and the row is then forgotten, as a connect at the limit forgets a
    // connection whose socket never opened
    assert!(flaky.add_within(&conn(1), 2, now).await.is_err());
    store.remove(&conn(1).id).await.unwrap();
    // THEN erin has one place left, not two: the limit holds
    assert!(store.add_within(&conn(2), 2, now).await.unwrap());
    assert!(!store.add_within(&conn(3), 2, now).await.unwrap());
    assert_eq!(store.for_user(&user("erin")).await.unwrap().len(), 2);
}

#[tokio::test]
async fn rows_past_their_expiry_never_hold_a_user_out_on_dynamodb() {
    // GIVEN dave's 50 connections, all past their expiry and still stored
    // (DynamoDB's TTL lags by up to days), each holding a slot
    let a = aws().await;
    let store = Arc::new(DynamoConnectionStore::new(
        a.dynamo.clone(),
        &a.tables.connections,
    ));
    let then = Utc::now() - Span::hours(3);
    for i in 0..50 {
        let old = Connection {
            id: ConnectionId::parse(format!("old{i}")).unwrap(),
            user: user("dave"),
            connected_at: then,
            expires_at: then + Span::hours(2),
        };
        assert!(store.add_within(&old, 50, then).await.unwrap());
    }
    // WHEN he connects again, with a limit of 50
    let gateway = Arc::new(HoldsEverySocket::default());
    let clock = Arc::new(boomerang_core::ports::SystemClock);
    let connections = Connections::new(store.clone(), gateway.clone(), clock, &Limits::default());
    let identity = Identity {
        user: user("dave"),
        expires_at: Utc::now() + Span::hours(1),
    };
    let id = ConnectionId::parse("fresh").unwrap();
    let connected = connections.on_connect(identity, id, Utc::now()).await;
    // THEN he is let in: the expired rows were forgotten (their slots given
    // back), without asking the gateway about any of them
    assert!(connected.is_ok(), "{connected:?}");
    let ids: Vec<String> = store
        .for_user(&user("dave"))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(ids, ["fresh"]);
    assert_eq!(gateway.0.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn results_too_large_for_an_item_are_kept_whole_in_s3_and_listed_in_order() {
    // GIVEN three of alice's jobs completed one after the other, the first
    // and last with 500 KB results (over DynamoDB's 400 KB item limit)
    let a = aws().await;
    let jobs = job_store(&a);
    let mut done = Vec::new();
    for (n, size) in [500 * 1024, 10, 500 * 1024].into_iter().enumerate() {
        let mut j = job("alice");
        j.created_at += Span::milliseconds(n as i64);
        jobs.create(&j).await.unwrap();
        j.status = JobStatus::Completed;
        j.result = Some(serde_json::json!({"n": n, "blob": "z".repeat(size)}));
        let draft = EventDraft::new(EventType::JobCompleted, &j, 65536);
        let event = written(
            jobs.apply(&moved(&j, &[JobStatus::Submitted], Some(draft)))
                .await
                .unwrap(),
        );
        assert_eq!(event.job.result_truncated, (size > 65536).then_some(true));
        done.push(j);
    }
    // THEN each reads back whole, and the list is newest first
    let stored = jobs.get(&done[0].id).await.unwrap().unwrap();
    assert_eq!(stored.result, done[0].result);
    // AND a list shows every result kept with its job, and leaves out,
    // without reading S3, one kept there
    let listed = jobs.list(&user("alice"), 10, None).await.unwrap();
    let results: Vec<_> = listed
        .iter()
        .map(|l| (l.result_left_out, l.job.result.clone()))
        .collect();
    let expected: Vec<_> = done
        .iter()
        .rev()
        .map(|j| {
            let in_s3 = j.result.as_ref().unwrap().to_string().len()
                > boomerang_aws::dynamo::MAX_INLINE_RESULT_BYTES;
            (in_s3, if in_s3 { None } else { j.result.clone() })
        })
        .collect();
    assert_eq!(results, expected);
    assert!(
        results.iter().any(|(left_out, _)| *left_out),
        "one result is in S3"
    );
}

#[tokio::test]
async fn files_round_trip_through_s3() {
    let a = aws().await;
    let files = S3FileStore::new(a.s3.clone(), &a.bucket);
    files
        .put_bytes(
            "uploads/abc",
            "text/plain",
            bytes::Bytes::from_static(b"hello"),
        )
        .await
        .unwrap();
    assert_eq!(
        files.get("uploads/abc").await.unwrap().unwrap().as_ref(),
        b"hello"
    );
    assert!(files.get("uploads/nope").await.unwrap().is_none());
}

#[tokio::test]
async fn an_upload_waits_in_its_own_shards_and_a_claim_moves_it_without_an_event() {
    // GIVEN a job waiting for its bytes since an hour ago
    let a = aws().await;
    let jobs = job_store(&a);
    let log = event_log(&a);
    let t0 = Utc::now() - Span::hours(1);
    let mut j = job("erin");
    j.status = JobStatus::Uploading;
    j.updated_at = t0;
    jobs.create(&j).await.unwrap();
    let later = t0 + Span::minutes(1);
    let ids = |v: Vec<boomerang_core::Result<boomerang_core::Job>>| {
        v.into_iter().map(|j| j.unwrap().id).collect::<Vec<_>>()
    };
    // THEN the sweep finds it among uploads, not among third-party waits
    assert_eq!(
        ids(jobs.waiting(Waiting::Upload, later, 10).await.unwrap()),
        [j.id.clone()]
    );
    assert!(!ids(jobs.waiting(Waiting::ThirdParty, later, 10).await.unwrap()).contains(&j.id));
    // WHEN its bytes land and it is claimed (twice: the second loses)
    let mut claimed = j.clone();
    claimed.status = JobStatus::Pending;
    assert!(
        (jobs
            .apply(&moved(&claimed, &[JobStatus::Uploading], None))
            .await
            .unwrap()
            == Applied::Moved(None))
    );
    assert!(
        !(jobs
            .apply(&moved(&claimed, &[JobStatus::Uploading], None))
            .await
            .unwrap()
            == Applied::Moved(None))
    );
    // THEN it waits for the third party now, and no event was written
    assert!(ids(jobs.waiting(Waiting::ThirdParty, later, 10).await.unwrap()).contains(&j.id));
    assert!(jobs
        .waiting(Waiting::Upload, later, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(log.last_seq(&j.owner).await.unwrap(), 0);
    assert_eq!(
        jobs.get(&j.id).await.unwrap().unwrap().status,
        JobStatus::Pending
    );
}

#[tokio::test]
async fn a_presigned_put_stores_the_bytes_and_they_read_back_as_a_stream() {
    use futures::TryStreamExt;
    let a = aws().await;
    let files = S3FileStore::new(a.s3.clone(), a.bucket.clone());
    let body = vec![7u8; 300 * 1024];
    let expires = Utc::now() + Span::minutes(15);
    let put = files
        .presign_put(
            "uploads/direct/t1",
            "application/pdf",
            body.len() as u64,
            expires,
        )
        .await
        .unwrap();
    // The signed URL names the bucket and key and signs length and type;
    // the client is told the type to send, never the length.
    assert!(put.url.contains("uploads/direct/t1"), "{}", put.url);
    assert!(
        put.url.contains("content-length%3Bcontent-type"),
        "{}",
        put.url
    );
    // If-None-Match too: a second PUT cannot replace the stored file.
    assert_eq!(
        put.headers,
        [
            ("content-type".to_owned(), "application/pdf".to_owned()),
            ("if-none-match".to_owned(), "*".to_owned())
        ]
    );
    let mut req = reqwest::Client::new().put(&put.url).body(body.clone());
    for (k, v) in &put.headers {
        req = req.header(k, v);
    }
    let res = req.send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let chunks: Vec<bytes::Bytes> = files
        .open("uploads/direct/t1")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(chunks.concat(), body);
    assert!(matches!(
        files.open("uploads/direct/none").await,
        Err(boomerang_core::Error::NotFound(_))
    ));
}

#[tokio::test]
async fn waiting_jobs_are_found_through_the_sparse_index_and_leave_it_when_they_finish() {
    // GIVEN jobs of several users waiting since an hour ago, and a fresh one
    let a = aws().await;
    let jobs = job_store(&a);
    let t0 = Utc::now() - Span::hours(1);
    let mut old = Vec::new();
    for (i, owner) in ["alice", "bob", "carol", "alice", "dave"]
        .iter()
        .enumerate()
    {
        let mut j = job(owner);
        j.updated_at = t0 + Span::seconds(i as i64);
        jobs.create(&j).await.unwrap();
        old.push(j);
    }
    jobs.create(&job("alice")).await.unwrap();

    // WHEN the sweep asks for those waiting since before a minute after t0
    let due = jobs
        .waiting(Waiting::ThirdParty, t0 + Span::minutes(1), 10)
        .await
        .unwrap();
    // THEN it gets exactly the old ones, oldest first (across shards)
    let ids: Vec<_> = due.iter().map(|j| j.as_ref().unwrap().id.clone()).collect();
    assert_eq!(ids, old.iter().map(|j| j.id.clone()).collect::<Vec<_>>());
    assert_eq!(
        jobs.waiting(Waiting::ThirdParty, t0 + Span::minutes(1), 2)
            .await
            .unwrap()
            .len(),
        2
    );

    // WHEN one of them finishes
    let mut done = old[0].clone();
    done.status = JobStatus::Failed;
    done.error = Some("timed out".into());
    done.updated_at = Utc::now();
    let draft = EventDraft::new(EventType::JobFailed, &done, 65536);
    written(
        jobs.apply(&moved(&done, &[JobStatus::Submitted], Some(draft)))
            .await
            .unwrap(),
    );
    // THEN it leaves the index
    let due = jobs
        .waiting(Waiting::ThirdParty, t0 + Span::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 4);
    assert!(!due.iter().any(|j| j.as_ref().unwrap().id == done.id));
    // AND its event is in alice's head, which never expires
    let head = events_item(&a, "alice", 0).await;
    assert_eq!(head["lastSeq"].as_n().unwrap(), "1");
    assert!(!head.contains_key("ttl"));
}

#[tokio::test]
async fn a_waiting_job_that_cannot_be_read_is_handed_to_the_sweep_as_an_error() {
    // GIVEN two jobs waiting since an hour ago, the older one's item
    // damaged (a status no version of Boomerang writes)
    let a = aws().await;
    let jobs = job_store(&a);
    let t0 = Utc::now() - Span::hours(1);
    let mut damaged = job("alice");
    damaged.updated_at = t0;
    jobs.create(&damaged).await.unwrap();
    let mut healthy = job("bob");
    healthy.updated_at = t0 + Span::seconds(1);
    jobs.create(&healthy).await.unwrap();
    a.dynamo
        .update_item()
        .table_name(&a.tables.jobs)
        .key(
            "jobId",
            aws_sdk_dynamodb::types::AttributeValue::S(damaged.id.to_string()),
        )
        .update_expression("SET #s = :s")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(
            ":s",
            aws_sdk_dynamodb::types::AttributeValue::S("bogus".into()),
        )
        .send()
        .await
        .unwrap();
    // WHEN the sweep asks for due jobs
    let due = jobs
        .waiting(Waiting::ThirdParty, t0 + Span::minutes(1), 10)
        .await
        .unwrap();
    // THEN it gets the damaged one as an error naming it, and the healthy one
    assert_eq!(due.len(), 2, "{due:?}");
    let err = due.iter().find_map(|j| j.as_ref().err()).unwrap();
    assert!(err.to_string().contains(damaged.id.as_str()), "{err}");
    assert!(due
        .iter()
        .any(|j| j.as_ref().is_ok_and(|j| j.id == healthy.id)));
}

/// The events table's item (`seq` 0 is the user's head).
pub(crate) async fn events_item(
    a: &Aws,
    user: &str,
    seq: u64,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    use aws_sdk_dynamodb::types::AttributeValue;
    a.dynamo
        .get_item()
        .table_name(&a.tables.events)
        .key("userId", AttributeValue::S(user.into()))
        .key("seq", AttributeValue::N(seq.to_string()))
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
        .expect("the item exists")
}

#[tokio::test]
async fn a_service_that_never_answers_fails_the_call_in_time_instead_of_hanging_it() {
    // GIVEN "DynamoDB", "S3" and "API Gateway" that accept connections and
    // never answer
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let sdk = boomerang_e2e::moto::sdk_config_for(&url).await;
    let deployment = Deployment {
        tables: Tables::with_prefix("silent"),
        bucket: "silent-files".into(),
        connections_endpoint: url.clone(),
        event_retention: boomerang_core::Limits::default().event_retention,
        job_retention: boomerang_core::Limits::default().job_retention,
    };
    let ports = deployment.ports(
        &sdk,
        std::sync::Arc::new(boomerang_http::HttpProcessor::new(&url).unwrap()),
        std::sync::Arc::new(boomerang_core::ports::SystemClock),
    );
    // WHEN the ports call them, at once, THEN each call fails, ended by
    // the SDK's own timeouts (the longest is S3's 15 s) before the test's
    // deadline
    let deadline = std::time::Duration::from_secs(30);
    let id = JobId::generate();
    let conn = boomerang_core::ConnectionId::parse("Silent000000=").unwrap();
    let (get, put, post) = tokio::join!(
        tokio::time::timeout(deadline, ports.jobs.get(&id)),
        tokio::time::timeout(
            deadline,
            ports
                .files
                .put("uploads/x", "text/plain", bytes::Bytes::from_static(b"x"))
        ),
        tokio::time::timeout(deadline, ports.pusher.push(&conn, "{}")),
    );
    assert!(get.expect("GetItem hung").is_err());
    assert!(put.expect("PutObject hung").is_err());
    assert!(post.expect("PostToConnection hung").is_err());
}

#[tokio::test]
async fn a_delivery_that_loses_the_race_never_replaces_the_winners_result_in_s3() {
    // GIVEN a submitted job, and two deliveries with results too large for
    // an item (kept in S3)
    let a = aws().await;
    let jobs = job_store(&a);
    let j = job("alice");
    jobs.create(&j).await.unwrap();
    let finished = |tag: &str| {
        let mut done = j.clone();
        done.status = JobStatus::Completed;
        done.result = Some(serde_json::json!({"tag": tag, "blob": "w".repeat(500 * 1024)}));
        done
    };
    let (first, second) = (finished("first"), finished("second"));
    // WHEN the first moves the job and the second comes after it
    let draft = EventDraft::new(EventType::JobCompleted, &first, 65536);
    assert!(
        jobs.apply(&moved(&first, &[JobStatus::Submitted], Some(draft)))
            .await
            .unwrap()
            != Applied::Lost
    );
    let draft = EventDraft::new(EventType::JobCompleted, &second, 65536);
    assert!(
        jobs.apply(&moved(&second, &[JobStatus::Submitted], Some(draft)))
            .await
            .unwrap()
            == Applied::Lost
    );
    // THEN the job's result is the first's, and the second's copy is gone
    let stored = jobs.get(&j.id).await.unwrap().unwrap();
    assert_eq!(stored.result.unwrap()["tag"], "first");
    let listed =
        a.s3.list_objects_v2()
            .bucket(&a.bucket)
            .prefix(format!("results/{}/", j.id))
            .send()
            .await
            .unwrap();
    assert_eq!(listed.contents().len(), 1);
}

#[tokio::test]
async fn a_finished_job_carries_its_ttl_and_one_past_it_reads_as_gone() {
    use aws_sdk_dynamodb::types::AttributeValue;
    // GIVEN jobs kept a day after they finish
    let a = aws().await;
    let day = std::time::Duration::from_secs(24 * 3600);
    let jobs = job_store(&a).with_job_retention(day);
    let item = |id: &JobId| {
        let a = &a;
        let id = id.clone();
        async move {
            a.dynamo
                .get_item()
                .table_name(&a.tables.jobs)
                .key("jobId", AttributeValue::S(id.to_string()))
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        }
    };
    // WHEN a job waits, then finishes
    let j = job("alice");
    jobs.create(&j).await.unwrap();
    assert!(
        !item(&j.id).await.contains_key("ttl"),
        "a waiting job never expires"
    );
    let mut done = j.clone();
    done.status = JobStatus::Completed;
    done.result = Some(serde_json::json!(1));
    let draft = EventDraft::new(EventType::JobCompleted, &done, 65536);
    written(
        jobs.apply(&moved(&done, &[JobStatus::Submitted], Some(draft)))
            .await
            .unwrap(),
    );
    // THEN it carries a TTL of its end plus the retention
    let ttl: i64 = item(&j.id).await["ttl"].as_n().unwrap().parse().unwrap();
    assert_eq!(ttl, done.updated_at.timestamp() + day.as_secs() as i64);

    // WHEN its TTL has passed (DynamoDB deletes it up to days later)
    a.dynamo
        .update_item()
        .table_name(&a.tables.jobs)
        .key("jobId", AttributeValue::S(j.id.to_string()))
        .update_expression("SET #t = :t")
        .expression_attribute_names("#t", "ttl")
        .expression_attribute_values(
            ":t",
            AttributeValue::N((Utc::now().timestamp() - 1).to_string()),
        )
        .send()
        .await
        .unwrap();
    // THEN it reads as gone, and lists skip it
    assert!(jobs.get(&j.id).await.unwrap().is_none());
    assert!(jobs
        .list(&user("alice"), 10, None)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn each_call_to_aws_and_the_third_party_is_an_x_ray_subsegment_of_the_invocation() {
    use boomerang_core::ports::{body_of, Processor, Submission};
    // GIVEN an X-Ray daemon (a UDP socket) and a sampled invocation, as
    // Lambda gives them to the function (set before any client exists)
    let daemon = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    daemon
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    std::env::set_var(
        "AWS_XRAY_DAEMON_ADDRESS",
        daemon.local_addr().unwrap().to_string(),
    );
    let (root, parent) = ("1-6745f2a0-0123456789abcdef01234567", "53995c3f42cd8ad8");
    std::env::set_var(
        "_X_AMZN_TRACE_ID",
        format!("Root={root};Parent={parent};Sampled=1"),
    );
    let a = aws().await;
    let jobs = job_store(&a);
    let files = S3FileStore::new(a.s3.clone(), a.bucket.clone());
    let tp = boomerang_e2e::FakeThirdParty::start(boomerang_e2e::Mode::Silent).await;
    // As a Lambda builds it: each call recorded as an X-Ray subsegment.
    let processor = boomerang_http::HttpProcessor::new(&tp.url())
        .unwrap()
        .recording_with(boomerang_aws::xray::record);

    // WHEN the function reads a job, stores a file and hands it over
    jobs.get(&JobId::generate()).await.unwrap();
    files
        .put(
            "uploads/traced",
            "text/plain",
            bytes::Bytes::from_static(b"x"),
        )
        .await
        .unwrap();
    let submission = Submission {
        job_id: JobId::generate(),
        file_name: "t.txt".into(),
        content_type: "text/plain".into(),
        size: 1,
        callback_url: "http://127.0.0.1:9/webhooks/third-party".into(),
    };
    processor
        .submit(
            &submission,
            boomerang_core::ports::Handover::File(body_of(bytes::Bytes::from_static(b"x"))),
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();

    // THEN the daemon got a subsegment for each, under the invocation
    // (among those of the test's own setup: CreateBucket, ...)
    let wanted = [
        ("DynamoDB", "GetItem"),
        ("S3", "PutObject"),
        ("127.0.0.1", "POST"),
    ];
    let mut names: Vec<(String, String)> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !wanted
        .iter()
        .all(|(n, w)| names.iter().any(|(a, b)| a == n && b == w))
    {
        let n = daemon.recv(&mut buf).expect("a subsegment within 5 s");
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        let (header, doc) = text.split_once('\n').unwrap();
        assert_eq!(header, r#"{"format": "json", "version": 1}"#);
        let doc: serde_json::Value = serde_json::from_str(doc).unwrap();
        assert_eq!(doc["trace_id"], root);
        assert_eq!(doc["parent_id"], parent);
        assert_eq!(doc["type"], "subsegment");
        assert!(doc["end_time"].as_f64() >= doc["start_time"].as_f64());
        let what = doc["aws"]["operation"]
            .as_str()
            .or(doc["http"]["request"]["method"].as_str());
        names.push((
            doc["name"].as_str().unwrap().to_owned(),
            what.unwrap_or_default().to_owned(),
        ));
        assert!(names.len() < 50, "{names:?}");
    }
}
