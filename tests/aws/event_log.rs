//! The DynamoDB event log over the wire, against moto: seqs under
//! concurrent moves, the head and its chunks, and events of the old
//! layout read beside the new.

use boomerang_core::ports::{EventLog, JobStore};
use boomerang_core::{EventDraft, EventType, JobStatus};
use chrono::Duration as Span;

use super::adapters::{aws, event_log, events_item, job, job_store, user, RETENTION};

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
