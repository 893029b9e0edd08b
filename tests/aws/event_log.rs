//! The DynamoDB event log over the wire, against moto: seqs under
//! concurrent moves, each event kept as it was pushed, and a move and its
//! event written together or not at all.

use boomerang_core::ports::{EventLog, JobStore};
use boomerang_core::{Applied, EventDraft, EventType, JobStatus};
use chrono::Duration as Span;

use super::adapters::{
    aws, event_log, events_item, job, job_store, moved, user, written, RETENTION,
};

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
            let from: &'static [JobStatus] = &[JobStatus::Pending, JobStatus::Submitted];
            jobs.apply(&moved(&j, from, Some(draft))).await.unwrap()
        }));
    }
    let mut moved = 0;
    for t in tasks {
        moved += usize::from(t.await.unwrap() != Applied::Lost);
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
    // AND each event is its own item, kept as it was pushed, expiring a
    // retention after its time; the head holds the newest seq
    let head = events_item(&a, "alice", 0).await;
    assert_eq!(head["lastSeq"].as_n().unwrap(), "30");
    let first = events_item(&a, "alice", 1).await;
    assert_eq!(first["body"].as_s().unwrap(), &events[0].to_json());
    let ttl: i64 = first["ttl"].as_n().unwrap().parse().unwrap();
    assert_eq!(ttl, events[0].at.timestamp() + RETENTION.as_secs() as i64);
    let stored = jobs.get(&all[0].id).await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Completed);
    assert_eq!(stored.result, Some(serde_json::json!({"ok": true})));
}

#[tokio::test]
async fn events_read_back_as_they_were_pushed_the_job_as_it_was_then() {
    // GIVEN erin's log
    let a = aws().await;
    let jobs = job_store(&a);
    let log = event_log(&a);
    // WHEN 14 jobs are submitted then completed (28 events), the second
    // with a result too large to push
    let mut pushed = Vec::new();
    let mut all = Vec::new();
    for i in 0..14 {
        let mut j = job("erin");
        j.status = JobStatus::Pending;
        jobs.create(&j).await.unwrap();
        j.status = JobStatus::Submitted;
        j.updated_at += Span::milliseconds(1);
        let draft = EventDraft::new(EventType::JobSubmitted, &j, 1000);
        pushed.push(written(
            jobs.apply(&moved(&j, &[JobStatus::Pending], Some(draft)))
                .await
                .unwrap(),
        ));
        all.push((i, j));
    }
    for (i, j) in all.iter_mut() {
        j.status = JobStatus::Completed;
        j.result =
            Some(serde_json::json!({"i": *i, "blob": "x".repeat(if *i == 1 { 2000 } else { 10 })}));
        j.updated_at += Span::milliseconds(1);
        let draft = EventDraft::new(EventType::JobCompleted, j, 1000);
        pushed.push(written(
            jobs.apply(&moved(j, &[JobStatus::Submitted], Some(draft)))
                .await
                .unwrap(),
        ));
    }
    // THEN a catch-up reads every event exactly as it was pushed: seqs 1
    // to 28, the submitted ones showing their job as it was then
    assert_eq!(
        pushed.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=28).collect::<Vec<u64>>()
    );
    let wire =
        |events: &[boomerang_core::Event]| events.iter().map(|e| e.to_json()).collect::<Vec<_>>();
    let read = log.since(&user("erin"), 0, 500).await.unwrap();
    assert_eq!(wire(&read), wire(&pushed));
    assert_eq!(read[1].job.status, JobStatus::Submitted);
    assert_eq!(read[15].job.result_truncated, Some(true));
    assert!(
        read[15].to_json().contains(r#""result":null"#),
        "{}",
        read[15].to_json()
    );
    assert_eq!(
        wire(&log.since(&user("erin"), 13, 3).await.unwrap()),
        wire(&pushed[13..16])
    );
    assert_eq!(log.last_seq(&user("erin")).await.unwrap(), 28);
}

#[tokio::test]
async fn a_move_that_loses_writes_no_event_and_an_expired_event_is_not_read() {
    // GIVEN frank's job, completed once
    let a = aws().await;
    let jobs = job_store(&a);
    let log = event_log(&a);
    let mut j = job("frank");
    jobs.create(&j).await.unwrap();
    j.status = JobStatus::Completed;
    j.result = Some(serde_json::json!(1));
    let draft = EventDraft::new(EventType::JobCompleted, &j, 65536);
    let from: &'static [JobStatus] = &[JobStatus::Submitted];
    let first = jobs.apply(&moved(&j, from, Some(draft.clone()))).await;
    assert!(matches!(first.unwrap(), Applied::Moved(Some(_))));
    // WHEN another move from the same status comes
    let again = jobs.apply(&moved(&j, from, Some(draft))).await.unwrap();
    // THEN it moves nothing and appends nothing
    assert_eq!(again, Applied::Lost);
    assert_eq!(log.last_seq(&user("frank")).await.unwrap(), 1);
    assert_eq!(log.since(&user("frank"), 0, 10).await.unwrap().len(), 1);
    // AND an event past its ttl, which DynamoDB has not deleted yet, is
    // not read (the head still counts it)
    a.dynamo
        .update_item()
        .table_name(&a.tables.events)
        .key(
            "userId",
            aws_sdk_dynamodb::types::AttributeValue::S("frank".into()),
        )
        .key(
            "seq",
            aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
        )
        .update_expression("SET #t = :past")
        .expression_attribute_names("#t", "ttl")
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
        )
        .send()
        .await
        .unwrap();
    assert!(log.since(&user("frank"), 0, 10).await.unwrap().is_empty());
    assert_eq!(log.last_seq(&user("frank")).await.unwrap(), 1);
}
