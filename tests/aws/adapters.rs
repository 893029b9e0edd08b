//! The DynamoDB and S3 adapters over the wire, against moto server, on
//! tables created from template.yaml's own definitions.

use boomerang_aws::tables::Tables;
use boomerang_aws::{
    Deployment, DynamoConnectionStore, DynamoEventLog, DynamoJobStore, S3FileStore,
};
use boomerang_core::ports::{ConnectionStore, EventLog, FileStore, JobStore, Waiting};
use boomerang_core::{
    Connection, ConnectionId, EventDraft, EventType, Job, JobId, JobStatus, UserId,
};
use boomerang_e2e::Moto;
use chrono::{Duration as Span, Utc};

struct Aws {
    _moto: Moto,
    dynamo: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    tables: Tables,
    bucket: String,
}

/// A fresh moto with the tables and bucket as template.yaml defines them.
async fn aws() -> Aws {
    let deployment = Deployment {
        tables: Tables::with_prefix("boomerang-test"),
        bucket: "boomerang-test-files".into(),
        connections_endpoint: "http://127.0.0.1:9/unused".into(),
        event_retention: boomerang_core::Limits::default().event_retention,
        job_retention: boomerang_core::Limits::default().job_retention,
    };
    let (moto, sdk) = Moto::with(&deployment).await;
    Aws {
        _moto: moto,
        dynamo: boomerang_aws::dynamo_client(&sdk),
        s3: boomerang_aws::s3_client(&sdk),
        tables: deployment.tables,
        bucket: deployment.bucket,
    }
}

fn user(u: &str) -> UserId {
    UserId::parse(u).unwrap()
}

fn job(owner: &str) -> Job {
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
    }
}

fn job_store(a: &Aws) -> DynamoJobStore {
    DynamoJobStore::new(
        a.dynamo.clone(),
        &a.tables.jobs,
        &a.tables.events,
        S3FileStore::new(a.s3.clone(), &a.bucket),
        RETENTION,
    )
}

fn event_log(a: &Aws) -> DynamoEventLog {
    DynamoEventLog::new(
        a.dynamo.clone(),
        &a.tables.events,
        &a.tables.jobs,
        RETENTION,
    )
}

/// The event retention of the adapters under test.
const RETENTION: std::time::Duration = std::time::Duration::from_secs(3600);

#[tokio::test]
async fn connections_come_back_with_their_expiry_and_remove_deletes_exactly_one() {
    let a = aws().await;
    let store = DynamoConnectionStore::new(a.dynamo.clone(), &a.tables.connections);
    let now = Utc::now();
    let conn = |id: &str, u: &str, exp| Connection {
        id: ConnectionId::parse(id).unwrap(),
        user: user(u),
        connected_at: now - Span::hours(3),
        expires_at: exp,
    };
    store
        .add(&conn("live1", "alice", now + Span::hours(1)))
        .await
        .unwrap();
    store
        .add(&conn("live2", "alice", now + Span::hours(1)))
        .await
        .unwrap();
    store
        .add(&conn("expired", "alice", now - Span::minutes(1)))
        .await
        .unwrap();
    store
        .add(&conn("bobs", "bob", now + Span::hours(1)))
        .await
        .unwrap();

    // Rows past their expiry still come back (TTL lags), with it.
    let mut ids: Vec<(String, bool)> = store
        .for_user(&user("alice"))
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.id.to_string(), c.is_live(now)))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            ("expired".into(), false),
            ("live1".into(), true),
            ("live2".into(), true)
        ]
    );

    store
        .remove(&ConnectionId::parse("live1").unwrap())
        .await
        .unwrap();
    let mut ids: Vec<String> = store
        .for_user(&user("alice"))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["expired", "live2"]);
    assert_eq!(store.for_user(&user("bob")).await.unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_transitions_get_gapless_unique_seqs_and_each_job_moves_once() {
    // GIVEN 30 submitted jobs of alice's: more than two chunks of events
    let a = aws().await;
    let jobs = job_store(&a);
    let log = event_log(&a);
    let mut all = Vec::new();
    for _ in 0..30 {
        let j = job("alice");
        jobs.create(&j).await.unwrap();
        all.push(j);
    }
    // WHEN each is completed twice, all at once
    let mut tasks = Vec::new();
    for j in all.iter().chain(all.iter()) {
        let (jobs, mut j) = (jobs.clone(), j.clone());
        tasks.push(tokio::spawn(async move {
            j.status = JobStatus::Completed;
            j.result = Some(serde_json::json!({"ok": true}));
            let draft = EventDraft::new(EventType::JobCompleted, &j, 65536);
            jobs.transition(&[JobStatus::Pending, JobStatus::Submitted], &j, draft)
                .await
                .unwrap()
        }));
    }
    let mut moved = 0;
    for t in tasks {
        moved += usize::from(t.await.unwrap().is_some());
    }
    // THEN each job moved exactly once and the seqs are 1..=30, one per job
    assert_eq!(moved, 30);
    let events = log.since(&user("alice"), 0, 500).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=30).collect::<Vec<u64>>()
    );
    let mut ids: Vec<_> = events.iter().map(|e| e.job.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30);
    assert!(events
        .iter()
        .all(|e| e.job.result == Some(serde_json::json!({"ok": true}))));
    assert_eq!(log.last_seq(&user("alice")).await.unwrap(), 30);
    let tail = log.since(&user("alice"), 10, 500).await.unwrap();
    assert_eq!(tail.first().map(|e| e.seq), Some(11));
    assert_eq!(tail.len(), 20);
    let page = log.since(&user("alice"), 5, 7).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (6..=12).collect::<Vec<u64>>()
    );
    // AND the head keeps only the newest: the rest went into chunks, each
    // at its last seq, expiring a retention after its newest event
    let head = events_item(&a, "alice", 0).await;
    let recent = head["recent"].as_l().unwrap().len();
    assert_eq!(recent, 30 % boomerang_aws::dynamo::CHUNK);
    let chunk = events_item(&a, "alice", boomerang_aws::dynamo::CHUNK as u64).await;
    assert_eq!(
        chunk["events"].as_l().unwrap().len(),
        boomerang_aws::dynamo::CHUNK
    );
    let ttl: i64 = chunk["ttl"].as_n().unwrap().parse().unwrap();
    let newest = events[boomerang_aws::dynamo::CHUNK - 1].time().unwrap();
    assert_eq!(ttl, newest.timestamp() + RETENTION.as_secs() as i64);
    let stored = jobs.get(&all[0].id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Completed);
    assert_eq!(stored.result, Some(serde_json::json!({"ok": true})));
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
        let event = jobs
            .transition(&[JobStatus::Submitted], &j, draft)
            .await
            .unwrap()
            .unwrap();
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
async fn a_job_no_longer_in_an_expected_status_is_left_alone_and_no_seq_is_used() {
    let a = aws().await;
    let jobs = job_store(&a);
    let log = event_log(&a);
    let mut j = job("alice");
    j.status = JobStatus::Completed;
    jobs.create(&j).await.unwrap();
    let mut late = j.clone();
    late.status = JobStatus::Failed;
    late.error = Some("late".into());
    let draft = EventDraft::new(EventType::JobFailed, &late, 65536);
    assert!(jobs
        .transition(&[JobStatus::Submitted], &late, draft)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        jobs.get(&j.id).await.unwrap().unwrap().status,
        JobStatus::Completed
    );
    assert_eq!(log.last_seq(&user("alice")).await.unwrap(), 0);
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
    let ids = |v: Vec<boomerang_core::Job>| v.into_iter().map(|j| j.id).collect::<Vec<_>>();
    // THEN the sweep finds it among uploads, not among third-party waits
    assert_eq!(
        ids(jobs.waiting(Waiting::Upload, later, 10).await.unwrap()),
        [j.id.clone()]
    );
    assert!(!ids(jobs.waiting(Waiting::ThirdParty, later, 10).await.unwrap()).contains(&j.id));
    // WHEN its bytes land and it is claimed (twice: the second loses)
    let mut claimed = j.clone();
    claimed.status = JobStatus::Pending;
    assert!(jobs
        .update(&[JobStatus::Uploading], &claimed)
        .await
        .unwrap());
    assert!(!jobs
        .update(&[JobStatus::Uploading], &claimed)
        .await
        .unwrap());
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
    assert_eq!(
        put.headers,
        [("content-type".to_owned(), "application/pdf".to_owned())]
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
    let ids: Vec<_> = due.iter().map(|j| j.id.clone()).collect();
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
    jobs.transition(&[JobStatus::Submitted], &done, draft)
        .await
        .unwrap()
        .unwrap();
    // THEN it leaves the index
    let due = jobs
        .waiting(Waiting::ThirdParty, t0 + Span::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 4);
    assert!(!due.iter().any(|j| j.id == done.id));
    // AND its event is in alice's head, which never expires
    let head = events_item(&a, "alice", 0).await;
    assert_eq!(head["lastSeq"].as_n().unwrap(), "1");
    assert!(!head.contains_key("ttl"));
}

/// The events table's item (`seq` 0 is the user's head).
async fn events_item(
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
        std::sync::Arc::new(boomerang_aws::HttpProcessor::new(&url).unwrap()),
        std::sync::Arc::new(boomerang_handlers::SystemClock),
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
    assert!(jobs
        .transition(&[JobStatus::Submitted], &first, draft)
        .await
        .unwrap()
        .is_some());
    let draft = EventDraft::new(EventType::JobCompleted, &second, 65536);
    assert!(jobs
        .transition(&[JobStatus::Submitted], &second, draft)
        .await
        .unwrap()
        .is_none());
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
    jobs.transition(&[JobStatus::Submitted], &done, draft)
        .await
        .unwrap()
        .unwrap();
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
    let processor = boomerang_aws::HttpProcessor::new(&tp.url()).unwrap();

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
            body_of(bytes::Bytes::from_static(b"x")),
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

#[tokio::test]
async fn events_read_back_as_pushed_across_the_old_layout_the_chunks_and_the_head() {
    use aws_sdk_dynamodb::types::AttributeValue;
    // GIVEN erin's event 1 in the layout before (one item with its body,
    // and the counter at seq 0)
    let a = aws().await;
    let jobs = job_store(&a);
    let log = event_log(&a);
    let old = job("erin");
    let old_event = EventDraft::new(EventType::JobSubmitted, &old, 65536).numbered(1);
    let put = |seq: u64, attrs: Vec<(&str, AttributeValue)>| {
        let mut req = a
            .dynamo
            .put_item()
            .table_name(&a.tables.events)
            .item("userId", AttributeValue::S("erin".into()))
            .item("seq", AttributeValue::N(seq.to_string()));
        for (k, v) in attrs {
            req = req.item(k, v);
        }
        req.send()
    };
    put(1, vec![("body", AttributeValue::S(old_event.to_json()))])
        .await
        .unwrap();
    put(0, vec![("lastSeq", AttributeValue::N("1".into()))])
        .await
        .unwrap();
    // WHEN 14 jobs are submitted then completed (28 events), the second
    // with a result too large to push
    let mut pushed = vec![old_event];
    let mut all = Vec::new();
    for i in 0..14 {
        let mut j = job("erin");
        j.status = JobStatus::Pending;
        jobs.create(&j).await.unwrap();
        j.status = JobStatus::Submitted;
        j.updated_at += Span::milliseconds(1);
        let draft = EventDraft::new(EventType::JobSubmitted, &j, 1000);
        pushed.push(
            jobs.transition(&[JobStatus::Pending], &j, draft)
                .await
                .unwrap()
                .unwrap(),
        );
        all.push((i, j));
    }
    for (i, j) in all.iter_mut() {
        j.status = JobStatus::Completed;
        j.result =
            Some(serde_json::json!({"i": *i, "blob": "x".repeat(if *i == 1 { 2000 } else { 10 })}));
        j.updated_at += Span::milliseconds(1);
        let draft = EventDraft::new(EventType::JobCompleted, j, 1000);
        pushed.push(
            jobs.transition(&[JobStatus::Submitted], j, draft)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    // THEN a catch-up reads every event exactly as it was pushed: seqs 1
    // to 29, the submitted ones showing their job as it was then
    assert_eq!(
        pushed.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=29).collect::<Vec<u64>>()
    );
    let read = log.since(&user("erin"), 0, 500).await.unwrap();
    assert_eq!(read, pushed);
    assert_eq!(read[2].job.status, "submitted");
    assert_eq!(read[16].job.result_truncated, Some(true));
    assert_eq!(read[16].job.result, Some(serde_json::Value::Null));
    assert_eq!(
        log.since(&user("erin"), 13, 3).await.unwrap(),
        pushed[13..16]
    );
    assert_eq!(log.last_seq(&user("erin")).await.unwrap(), 29);
}

#[tokio::test]
async fn a_head_left_long_by_a_crash_is_archived_by_the_next_append() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let chunk = boomerang_aws::dynamo::CHUNK;
    // GIVEN frank's head holding CHUNK + 2 events, as an append that
    // crashed before archiving (or twice) leaves it
    let a = aws().await;
    let jobs = job_store(&a);
    let log = event_log(&a);
    let mut entries = Vec::new();
    for _ in 0..chunk + 2 {
        let mut j = job("frank");
        j.status = JobStatus::Failed;
        j.error = Some("x".into());
        jobs.create(&j).await.unwrap();
        let simple = j.id.as_str().replace('-', "");
        entries.push(AttributeValue::S(format!(
            "f{} {simple}",
            j.updated_at.timestamp_millis()
        )));
    }
    a.dynamo
        .put_item()
        .table_name(&a.tables.events)
        .item("userId", AttributeValue::S("frank".into()))
        .item("seq", AttributeValue::N("0".into()))
        .item("lastSeq", AttributeValue::N((chunk + 2).to_string()))
        .item("recent", AttributeValue::L(entries))
        .send()
        .await
        .unwrap();
    // WHEN one more event is appended
    let mut j = job("frank");
    jobs.create(&j).await.unwrap();
    j.status = JobStatus::Failed;
    j.error = Some("late".into());
    let draft = EventDraft::new(EventType::JobFailed, &j, 65536);
    let event = jobs
        .transition(&[JobStatus::Submitted], &j, draft)
        .await
        .unwrap()
        .unwrap();
    // THEN it is the next seq, the oldest CHUNK went into a chunk, and
    // every event reads back once, in order
    assert_eq!(event.seq, chunk as u64 + 3);
    let head = events_item(&a, "frank", 0).await;
    assert_eq!(head["recent"].as_l().unwrap().len(), 3);
    let read = log.since(&user("frank"), 0, 500).await.unwrap();
    assert_eq!(
        read.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=chunk as u64 + 3).collect::<Vec<_>>()
    );
    assert_eq!(read.last().unwrap().job.error.as_deref(), Some("late"));
}

#[tokio::test]
async fn a_finished_job_whose_event_was_lost_gets_it_once_and_only_once_its_writer_is_gone() {
    use aws_sdk_dynamodb::types::AttributeValue;
    // GIVEN gail's job completed 20 minutes ago (past any writer's 15, within
    // half the retention) by a writer that died before appending its event
    // (the job's write alone), beside a job completed the ordinary way then,
    // and one moved a minute ago (its writer may still be running)
    let a = aws().await;
    let jobs = job_store(&a);
    let log = event_log(&a);
    let then = Utc::now() - Span::minutes(20);
    let lost_write = |j: &Job| {
        a.dynamo
            .update_item()
            .table_name(&a.tables.jobs)
            .key("jobId", AttributeValue::S(j.id.to_string()))
            .update_expression(
                "SET #s = :s, updatedAt = :u, #r = :r REMOVE waitShard, waitingSince",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_names("#r", "result")
            .expression_attribute_values(":s", AttributeValue::S("completed".into()))
            .expression_attribute_values(
                ":u",
                AttributeValue::N(j.updated_at.timestamp_millis().to_string()),
            )
            .expression_attribute_values(":r", AttributeValue::S("{\"n\":1}".into()))
            .send()
    };
    let mut lost = job("gail");
    jobs.create(&lost).await.unwrap();
    lost.updated_at = then;
    lost_write(&lost).await.unwrap();
    let mut ordinary = job("gail");
    jobs.create(&ordinary).await.unwrap();
    ordinary.status = JobStatus::Completed;
    ordinary.result = Some(serde_json::json!({"n": 2}));
    ordinary.updated_at = then + Span::seconds(1);
    let draft = EventDraft::new(EventType::JobCompleted, &ordinary, 65536);
    jobs.transition(&[JobStatus::Submitted], &ordinary, draft)
        .await
        .unwrap()
        .unwrap();
    let mut recent = job("gail");
    jobs.create(&recent).await.unwrap();
    recent.updated_at = Utc::now() - Span::minutes(1);
    lost_write(&recent).await.unwrap();

    let recover = |j: &Job| {
        let (jobs, j) = (jobs.clone(), j.clone());
        async move {
            let stored = jobs.get(&j.id).await.unwrap().unwrap();
            let draft = EventDraft::new(EventType::JobCompleted, &stored, 65536);
            jobs.recover_event(&stored, draft).await.unwrap()
        }
    };
    // WHEN a redelivery for each asks for its event, twice at once for
    // the lost one
    let (first, second) = tokio::join!(recover(&lost), recover(&lost));
    // THEN the lost one's event is appended once, as the next seq, with
    // its result and its original time
    let recovered: Vec<_> = [first, second].into_iter().flatten().collect();
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(recovered[0].seq, 2);
    assert_eq!(recovered[0].job.result, Some(serde_json::json!({"n": 1})));
    assert_eq!(
        recovered[0].time().map(|t| t.timestamp_millis()),
        Some(then.timestamp_millis())
    );
    let events = log.since(&user("gail"), 0, 500).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(events[1].job.id, lost.id.to_string());
    // AND asking again finds it there
    assert!(recover(&lost).await.is_none());
    // AND the ordinary job's event is found, and the recent one is left
    // to its writer
    assert!(recover(&ordinary).await.is_none());
    assert!(recover(&recent).await.is_none());
    assert_eq!(log.last_seq(&user("gail")).await.unwrap(), 2);
}

#[tokio::test]
async fn a_sweeps_move_whose_event_was_not_written_stays_marked_until_a_later_sweep_tells_it() {
    // GIVEN three of hana's jobs failed by sweeps: 20 minutes ago one whose
    // event write failed (the log's table is not there: its writer died
    // between the writes), and one told the ordinary way; a minute ago
    // another whose event write failed (its writer may still be running)
    let a = aws().await;
    let jobs = job_store(&a);
    let dying = DynamoJobStore::new(
        a.dynamo.clone(),
        &a.tables.jobs,
        "boomerang-test-no-such-table",
        S3FileStore::new(a.s3.clone(), &a.bucket),
        RETENTION,
    );
    let fail = |store: &DynamoJobStore, ago: Span| {
        let (jobs, store) = (jobs.clone(), store.clone());
        async move {
            let mut j = job("hana");
            jobs.create(&j).await.unwrap();
            j.status = JobStatus::Failed;
            j.error = Some("timed out waiting for the third party".into());
            j.updated_at = Utc::now() - ago;
            let draft = EventDraft::new(EventType::JobFailed, &j, 65536);
            let from = [JobStatus::Pending, JobStatus::Submitted];
            let moved = store.transition_tracked(&from, &j, draft).await;
            (j, moved)
        }
    };
    let (lost, moved) = fail(&dying, Span::minutes(20)).await;
    assert!(moved.is_err());
    let (told, moved) = fail(&jobs, Span::minutes(20)).await;
    assert_eq!(moved.unwrap().unwrap().seq, 1);
    let (_recent, moved) = fail(&dying, Span::minutes(1)).await;
    assert!(moved.is_err());

    // WHEN a later sweep asks which moves are untold
    let untold = jobs.untold(10).await.unwrap();
    // THEN only the lost one: failed, its writer gone
    let ids: Vec<_> = untold.iter().map(|j| &j.id).collect();
    assert_eq!(ids, [&lost.id]);
    assert_eq!(untold[0].status, JobStatus::Failed);

    // WHEN two sweeps at once each recover its event and clear its mark
    let retell = || {
        let (jobs, j) = (jobs.clone(), untold[0].clone());
        async move {
            let draft = EventDraft::new(EventType::JobFailed, &j, 65536);
            let event = jobs.recover_event(&j, draft).await.unwrap();
            jobs.told(&j).await.unwrap();
            event
        }
    };
    let (first, second) = tokio::join!(retell(), retell());
    // THEN its job.failed is appended once, after the told one's
    let recovered: Vec<_> = [first, second].into_iter().flatten().collect();
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(recovered[0].seq, 2);
    let events = event_log(&a).since(&user("hana"), 0, 500).await.unwrap();
    let told_of: Vec<_> = events.iter().map(|e| e.job.id.clone()).collect();
    assert_eq!(told_of, [told.id.to_string(), lost.id.to_string()]);
    assert_eq!(events[1].job.error.as_deref(), lost.error.as_deref());
    // AND no move is left untold, and none of them waits
    assert!(jobs.untold(10).await.unwrap().is_empty());
    assert!(jobs
        .waiting(Waiting::ThirdParty, Utc::now(), 10)
        .await
        .unwrap()
        .is_empty());
}
