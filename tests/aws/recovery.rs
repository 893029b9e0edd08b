//! A job moved without its event, over the wire against moto: a
//! webhook's redelivery and a later sweep each append it once, and only
//! once its writer is gone.

use boomerang_aws::{DynamoJobStore, S3FileStore};
use boomerang_core::ports::{EventLog, JobStore, Waiting};
use boomerang_core::{EventDraft, EventType, Job, JobStatus};
use chrono::{Duration as Span, Utc};

use super::adapters::{aws, event_log, job, job_store, user, RETENTION};

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
