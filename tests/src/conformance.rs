//! The ports' conformance suite: one set of tests per port, which every
//! adapter must pass alike: memory and SQLite (`tests/conformance`), and
//! DynamoDB and S3 on moto (`tests/aws/conformance.rs`). Each test takes a
//! fresh set of [`Stores`]; [`conformance_suite!`] makes one `#[tokio::test]`
//! of each for a backend.
//!
//! What one adapter does beyond the port (DynamoDB's slot count, S3 for
//! large results, SQLite's retention) is tested beside that adapter.

use std::sync::Arc;

use boomerang_core::ports::{
    minute_of, Answer, Claim, ConnectionStore, EventLog, FileStore, IdempotencyKeys, JobStore,
    ListCursor, Outcome, Progressed, UploadQuota, Waiting, MAX_LISTED_RESULT_BYTES,
};
use boomerang_core::{
    report_digest, Applied, Connection, ConnectionId, Error, Event, Job, JobId, JobStatus,
    Progress, UserId,
};
use bytes::Bytes;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use futures::StreamExt;
use serde_json::json;

/// The largest push the suite's moves make (the WebSocket's 128 KB).
const MAX_PUSH: usize = boomerang_core::limits::MAX_WEBSOCKET_MESSAGE_BYTES;

/// One backend's stores, fresh for one test.
pub struct Stores {
    pub connections: Arc<dyn ConnectionStore>,
    pub jobs: Arc<dyn JobStore>,
    pub events: Arc<dyn EventLog>,
    pub idempotency: Arc<dyn IdempotencyKeys>,
    pub files: Arc<dyn FileStore>,
    pub quota: Arc<dyn UploadQuota>,
    /// What must live as long as the stores do (a moto, a folder).
    pub keep: Box<dyn std::any::Any + Send + Sync>,
}

/// One `#[tokio::test]` per test of the suite, each on fresh stores from
/// `$stores` (an expression that evaluates to a future of [`Stores`]).
#[macro_export]
macro_rules! conformance_suite {
    ($stores:expr) => {
        $crate::conformance_suite!(@each $stores;
            a_user_holds_at_most_max_connections_counting_every_row_until_it_is_removed,
            a_burst_of_connects_never_takes_a_user_past_max,
            connections_come_back_with_their_expiry_users_apart_and_remove_takes_one,
            a_job_reads_back_as_it_was_stored,
            a_move_applies_only_from_its_statuses_and_a_lost_one_writes_nothing,
            concurrent_moves_number_a_users_events_one_to_n,
            a_move_no_tab_sees_writes_no_event,
            events_come_after_a_seq_up_to_a_limit_exactly_as_they_were_written,
            lists_go_newest_first_through_a_cursor_and_hold_only_the_owners_jobs,
            a_result_over_the_largest_push_is_left_out_of_lists_and_kept_whole,
            waiting_jobs_are_found_by_what_they_wait_for_oldest_first,
            an_idempotency_key_is_held_replayed_and_freed,
            a_file_reads_back_as_stored_and_a_missing_one_is_not_found,
            a_users_uploads_are_counted_per_minute_never_past_the_limit,
            only_the_owners_recent_jobs_still_uploading_are_counted,
            progress_is_kept_only_when_it_supersedes_and_only_on_unfinished_jobs,
            concurrent_progress_keeps_the_latest_sent,
            a_move_keeps_the_progress_it_did_not_write
        );
    };
    (@each $stores:expr; $($name:ident),*) => {$(
        #[tokio::test]
        async fn $name() {
            let stores = $stores.await;
            $crate::conformance::$name(&stores).await;
        }
    )*};
}

fn user(u: &str) -> UserId {
    UserId::parse(u).unwrap()
}

/// Now, to the millisecond every store keeps.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

fn conn(id: &str, owner: &str, expires_at: DateTime<Utc>) -> Connection {
    Connection {
        id: ConnectionId::parse(id).unwrap(),
        user: user(owner),
        connected_at: now(),
        expires_at,
    }
}

fn job(owner: &str, status: JobStatus, at: DateTime<Utc>) -> Job {
    Job {
        id: JobId::generate(),
        owner: user(owner),
        status,
        file_name: "a.csv".into(),
        content_type: "text/csv".into(),
        size: 3,
        file_key: format!("uploads/{}", uuid::Uuid::now_v7()),
        created_at: at,
        updated_at: at,
        result: None,
        error: None,
        progress: None,
    }
}

/// Stores `job` and moves it to `to` with `result`: the event written.
async fn complete(s: &Stores, mut job: Job, result: serde_json::Value) -> Option<Event> {
    job.result = Some(result);
    let moved = job.move_to(JobStatus::Completed, now(), MAX_PUSH).unwrap();
    match s.jobs.apply(&moved).await.unwrap() {
        Applied::Moved(event) => event,
        Applied::Lost => panic!("a move from the stored status was lost"),
    }
}

pub async fn a_user_holds_at_most_max_connections_counting_every_row_until_it_is_removed(
    s: &Stores,
) {
    let (t, store) = (now(), &s.connections);
    // GIVEN alice with a live row and one past its expiry, at a limit of 2
    assert!(store
        .add_within(&conn("a1", "alice", t + Duration::hours(1)), 2, t)
        .await
        .unwrap());
    assert!(store
        .add_within(&conn("a2", "alice", t - Duration::hours(1)), 2, t)
        .await
        .unwrap());
    // WHEN she connects again THEN the expired row still counts: refused
    let a3 = conn("a3", "alice", t + Duration::hours(1));
    assert!(!store.add_within(&a3, 2, t).await.unwrap());
    // AND bob is not held out by her rows
    let b1 = conn("b1", "bob", t + Duration::hours(1));
    assert!(store.add_within(&b1, 2, t).await.unwrap());
    // WHEN the expired row is removed THEN its slot is hers again
    store
        .remove(&ConnectionId::parse("a2").unwrap())
        .await
        .unwrap();
    assert!(store.add_within(&a3, 2, t).await.unwrap());
    assert!(!store
        .add_within(&conn("a4", "alice", t + Duration::hours(1)), 2, t)
        .await
        .unwrap());
}

pub async fn a_burst_of_connects_never_takes_a_user_past_max(s: &Stores) {
    // GIVEN 20 tabs of alice's connecting at once, at a limit of 5
    let t = now();
    let adds = (0..20).map(|i| {
        let store = s.connections.clone();
        let c = conn(&format!("c{i}"), "alice", t + Duration::hours(1));
        async move { store.add_within(&c, 5, t).await.unwrap() }
    });
    let taken = futures::future::join_all(adds).await;
    // THEN exactly 5 are stored
    assert_eq!(taken.iter().filter(|t| **t).count(), 5);
    assert_eq!(
        s.connections.for_user(&user("alice")).await.unwrap().len(),
        5
    );
}

pub async fn connections_come_back_with_their_expiry_users_apart_and_remove_takes_one(s: &Stores) {
    // GIVEN two rows of alice's (one past its expiry) and one of bob's
    let t = now();
    // (Expiry in whole seconds: what API Gateway's ids outlive.)
    let (live, gone) = (
        t.trunc_subsecs(0) + Duration::hours(1),
        t.trunc_subsecs(0) - Duration::hours(1),
    );
    for c in [
        conn("fresh", "alice", live),
        conn("stale", "alice", gone),
        conn("bobs", "bob", live),
    ] {
        assert!(s.connections.add_within(&c, 5, t).await.unwrap());
    }
    // WHEN alice's are listed THEN both come back with their expiry
    let mut rows: Vec<(String, DateTime<Utc>)> = s
        .connections
        .for_user(&user("alice"))
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.id.to_string(), c.expires_at))
        .collect();
    rows.sort();
    assert_eq!(rows, [("fresh".into(), live), ("stale".into(), gone)]);
    // WHEN one is removed, and an unknown one THEN exactly that one goes
    s.connections
        .remove(&ConnectionId::parse("fresh").unwrap())
        .await
        .unwrap();
    s.connections
        .remove(&ConnectionId::parse("never").unwrap())
        .await
        .unwrap();
    let left: Vec<String> = s
        .connections
        .for_user(&user("alice"))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(left, ["stale"]);
    assert_eq!(s.connections.for_user(&user("bob")).await.unwrap().len(), 1);
}

pub async fn a_job_reads_back_as_it_was_stored(s: &Stores) {
    let mut stored = job("alice", JobStatus::Uploading, now());
    stored.file_name = "résumé «final».txt".into();
    s.jobs.create(&stored).await.unwrap();
    assert_eq!(s.jobs.get(&stored.id).await.unwrap(), Some(stored));
    assert_eq!(s.jobs.get(&JobId::generate()).await.unwrap(), None);
}

pub async fn a_move_applies_only_from_its_statuses_and_a_lost_one_writes_nothing(s: &Stores) {
    // GIVEN a job of alice's with the third party
    let submitted = job("alice", JobStatus::Submitted, now());
    s.jobs.create(&submitted).await.unwrap();
    // WHEN its result comes
    let event = complete(s, submitted.clone(), json!({"n": 1}))
        .await
        .unwrap();
    // THEN it is stored completed, told as her first event
    assert_eq!(event.seq, 1);
    let got = s.jobs.get(&submitted.id).await.unwrap().unwrap();
    assert_eq!(got.status, JobStatus::Completed);
    assert_eq!(got.result, Some(json!({"n": 1})));
    // WHEN a second move from the status it left (a late deadline) comes
    let late = submitted
        .move_to(JobStatus::Failed, now(), MAX_PUSH)
        .unwrap();
    // THEN it is lost: the job stays completed and no seq is used
    assert_eq!(s.jobs.apply(&late).await.unwrap(), Applied::Lost);
    let got = s.jobs.get(&late.job.id).await.unwrap().unwrap();
    assert_eq!(got.status, JobStatus::Completed);
    assert_eq!(s.events.last_seq(&user("alice")).await.unwrap(), 1);
}

pub async fn concurrent_moves_number_a_users_events_one_to_n(s: &Stores) {
    // GIVEN 16 of alice's jobs with the third party
    let jobs: Vec<Job> = (0..16)
        .map(|_| job("alice", JobStatus::Submitted, now()))
        .collect();
    for j in &jobs {
        s.jobs.create(j).await.unwrap();
    }
    // WHEN all their results come at once
    let moves = jobs.into_iter().map(|j| complete(s, j, json!(1)));
    let mut seqs: Vec<u64> = futures::future::join_all(moves)
        .await
        .into_iter()
        .map(|e| e.unwrap().seq)
        .collect();
    seqs.sort();
    // THEN each took one seq of 1 to 16, none twice, and the log says so
    assert_eq!(seqs, (1..=16).collect::<Vec<u64>>());
    let log: Vec<u64> = s
        .events
        .since(&user("alice"), 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(log, (1..=16).collect::<Vec<u64>>());
    assert_eq!(s.events.last_seq(&user("alice")).await.unwrap(), 16);
}

pub async fn a_move_no_tab_sees_writes_no_event(s: &Stores) {
    let uploading = job("alice", JobStatus::Uploading, now());
    s.jobs.create(&uploading).await.unwrap();
    let moved = uploading
        .move_to(JobStatus::Pending, now(), MAX_PUSH)
        .unwrap();
    assert_eq!(s.jobs.apply(&moved).await.unwrap(), Applied::Moved(None));
    let got = s.jobs.get(&moved.job.id).await.unwrap().unwrap();
    assert_eq!(got.status, JobStatus::Pending);
    assert_eq!(s.events.last_seq(&user("alice")).await.unwrap(), 0);
    assert!(s
        .events
        .since(&user("alice"), 0, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn events_come_after_a_seq_up_to_a_limit_exactly_as_they_were_written(s: &Stores) {
    // GIVEN five events of alice's and one of bob's
    let mut written = Vec::new();
    for _ in 0..5 {
        let j = job("alice", JobStatus::Submitted, now());
        s.jobs.create(&j).await.unwrap();
        written.push(complete(s, j, json!({"ok": true})).await.unwrap());
    }
    let b = job("bob", JobStatus::Submitted, now());
    s.jobs.create(&b).await.unwrap();
    complete(s, b, json!(1)).await.unwrap();
    let alice = user("alice");
    // THEN a page after 2 of at most 2 is 3 and 4, as they were written
    let page = s.events.since(&alice, 2, 2).await.unwrap();
    assert_eq!(page, written[2..4]);
    let wire = |e: &[Event]| e.iter().map(Event::to_json).collect::<Vec<_>>();
    assert_eq!(wire(&page), wire(&written[2..4]));
    // AND after the last there is nothing; a user with none is at 0
    assert!(s.events.since(&alice, 5, 10).await.unwrap().is_empty());
    assert_eq!(s.events.last_seq(&alice).await.unwrap(), 5);
    assert_eq!(s.events.last_seq(&user("carol")).await.unwrap(), 0);
    // AND bob's log is his own
    assert_eq!(s.events.since(&user("bob"), 0, 10).await.unwrap().len(), 1);
}

pub async fn lists_go_newest_first_through_a_cursor_and_hold_only_the_owners_jobs(s: &Stores) {
    // GIVEN five jobs of alice's a millisecond apart, and one of bob's
    let t = now();
    let mut ids = Vec::new();
    for i in 0..5 {
        let j = job("alice", JobStatus::Submitted, t + Duration::milliseconds(i));
        s.jobs.create(&j).await.unwrap();
        ids.push(j.id);
    }
    s.jobs
        .create(&job("bob", JobStatus::Submitted, t))
        .await
        .unwrap();
    ids.reverse();
    // WHEN she pages through them two at a time
    let mut seen = Vec::new();
    let mut cursor: Option<ListCursor> = None;
    loop {
        let page = s
            .jobs
            .list(&user("alice"), 2, cursor.as_ref())
            .await
            .unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        cursor = Some(ListCursor {
            created_at: last.job.created_at,
            id: last.job.id.clone(),
        });
        seen.extend(page.into_iter().map(|l| l.job.id));
    }
    // THEN she sees each of hers once, newest first, and none of bob's
    assert_eq!(seen, ids);
}

pub async fn a_result_over_the_largest_push_is_left_out_of_lists_and_kept_whole(s: &Stores) {
    // GIVEN a job with a result larger than any push, and one with a small
    let big = json!({"blob": "x".repeat(MAX_LISTED_RESULT_BYTES + 1)});
    let (large, small) = (
        job("alice", JobStatus::Submitted, now()),
        job(
            "alice",
            JobStatus::Submitted,
            now() + Duration::milliseconds(1),
        ),
    );
    for j in [&large, &small] {
        s.jobs.create(j).await.unwrap();
    }
    complete(s, large.clone(), big.clone()).await.unwrap();
    complete(s, small.clone(), json!({"n": 1})).await.unwrap();
    // WHEN alice lists them
    let listed = s.jobs.list(&user("alice"), 10, None).await.unwrap();
    let shown: Vec<(JobId, bool, Option<serde_json::Value>)> = listed
        .into_iter()
        .map(|l| (l.job.id, l.result_left_out, l.job.result))
        .collect();
    // THEN the large result is left out and the small one is whole
    assert_eq!(
        shown,
        [
            (small.id, false, Some(json!({"n": 1}))),
            (large.id.clone(), true, None)
        ]
    );
    // AND the job itself keeps it whole
    let got = s.jobs.get(&large.id).await.unwrap().unwrap();
    assert_eq!(got.result, Some(big));
}

pub async fn waiting_jobs_are_found_by_what_they_wait_for_oldest_first(s: &Stores) {
    // GIVEN jobs of every status an hour old, and one waiting just now
    let (t, old) = (now(), now() - Duration::hours(1));
    let at = |minutes| old + Duration::minutes(minutes);
    let uploading = job("alice", JobStatus::Uploading, at(0));
    let submitted = job("alice", JobStatus::Submitted, at(2));
    let pending = job("bob", JobStatus::Pending, at(1));
    let completed = job("alice", JobStatus::Completed, at(0));
    let failed = job("bob", JobStatus::Failed, at(0));
    let recent = job("alice", JobStatus::Submitted, t);
    for j in [
        &uploading, &submitted, &pending, &completed, &failed, &recent,
    ] {
        s.jobs.create(j).await.unwrap();
    }
    let ids = |found: Vec<boomerang_core::Result<Job>>| -> Vec<JobId> {
        found.into_iter().map(|j| j.unwrap().id).collect()
    };
    // WHEN the sweep asks for what waited past ten minutes ago
    let before = t - Duration::minutes(10);
    let third_party = s.jobs.waiting(Waiting::ThirdParty, before, 10).await;
    let bytes = s.jobs.waiting(Waiting::Upload, before, 10).await;
    // THEN it finds, oldest first, only those still waiting for that
    assert_eq!(ids(third_party.unwrap()), [pending.id, submitted.id]);
    assert_eq!(ids(bytes.unwrap()), [uploading.id]);
    // AND at most as many as it asks for
    let one = s.jobs.waiting(Waiting::ThirdParty, before, 1).await;
    assert_eq!(one.unwrap().len(), 1);
}

pub async fn an_idempotency_key_is_held_replayed_and_freed(s: &Stores) {
    let (keys, t) = (&s.idempotency, now());
    let claim = |who: &str, key: &str, at| Claim {
        user: user(who),
        key: key.into(),
        fingerprint: "f1".into(),
        claimed_at: at,
        outcome: None,
    };
    // GIVEN alice claims a key
    let first = claim("alice", "k1", t);
    assert_eq!(keys.claim(&first).await.unwrap(), None);
    // THEN a second claim of hers gets the first, unfinished; bob's is his
    let again = claim("alice", "k1", t + Duration::seconds(1));
    assert_eq!(keys.claim(&again).await.unwrap(), Some(first.clone()));
    assert_eq!(keys.claim(&claim("bob", "k1", t)).await.unwrap(), None);
    // WHEN her request ends with a job THEN later claims replay it
    let outcome = Outcome {
        job: JobId::generate(),
        answer: Answer::Accepted,
    };
    keys.finish(&user("alice"), "k1", Some(&outcome))
        .await
        .unwrap();
    let replayed = keys.claim(&again).await.unwrap().unwrap();
    assert_eq!(replayed.outcome, Some(outcome));
    assert_eq!(replayed.fingerprint, "f1");
    // AND a request that ended with nothing to replay frees its key
    assert_eq!(keys.claim(&claim("alice", "k2", t)).await.unwrap(), None);
    keys.finish(&user("alice"), "k2", None).await.unwrap();
    assert_eq!(keys.claim(&claim("alice", "k2", t)).await.unwrap(), None);
    // AND a claim whose request never finished frees its key after 15 min
    let later = claim("alice", "k2", t + Duration::minutes(16));
    assert_eq!(keys.claim(&later).await.unwrap(), None);
}

pub async fn a_file_reads_back_as_stored_and_a_missing_one_is_not_found(s: &Stores) {
    let bytes = Bytes::from((0..200_000u32).map(|i| i as u8).collect::<Vec<u8>>());
    s.files
        .put(
            "uploads/conformance",
            "application/octet-stream",
            bytes.clone(),
        )
        .await
        .unwrap();
    let mut body = s.files.open("uploads/conformance").await.unwrap();
    let mut read = Vec::new();
    while let Some(chunk) = body.next().await {
        read.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(read, bytes);
    assert!(matches!(
        s.files.open("uploads/never").await.err(),
        Some(Error::NotFound(_))
    ));
}

pub async fn a_users_uploads_are_counted_per_minute_never_past_the_limit(s: &Stores) {
    // GIVEN a minute's start, and a limit of 3 uploads a minute
    let (minute, end) = minute_of(now());
    let start = DateTime::from_timestamp(minute * 60, 0).unwrap();
    // WHEN 10 of alice's uploads come at once within it
    let takes = (0..10).map(|i| {
        let quota = s.quota.clone();
        async move {
            let at = start + Duration::seconds(i % 60);
            quota.take(&user("alice"), 3, at).await.unwrap()
        }
    });
    let answers = futures::future::join_all(takes).await;
    // THEN exactly 3 are counted, and the others are told when it ends
    assert_eq!(answers.iter().filter(|a| a.is_none()).count(), 3);
    assert!(answers.iter().flatten().all(|at| *at == end));
    // AND bob's are his own, and the next minute starts afresh
    assert_eq!(s.quota.take(&user("bob"), 3, start).await.unwrap(), None);
    assert_eq!(s.quota.take(&user("alice"), 3, end).await.unwrap(), None);
}

pub async fn only_the_owners_recent_jobs_still_uploading_are_counted(s: &Stores) {
    // GIVEN three of alice's uploads waiting for their bytes, one from
    // before the window, one handed over, and one of bob's
    let t = now();
    let since = t - Duration::minutes(15);
    for _ in 0..3 {
        let j = job("alice", JobStatus::Uploading, t - Duration::minutes(1));
        s.jobs.create(&j).await.unwrap();
    }
    for j in [
        job("alice", JobStatus::Uploading, since - Duration::minutes(1)),
        job("alice", JobStatus::Pending, t),
        job("bob", JobStatus::Uploading, t),
    ] {
        s.jobs.create(&j).await.unwrap();
    }
    // THEN hers still uploading since the window are 3, counted no further
    // than asked
    assert_eq!(
        s.jobs.uploading(&user("alice"), since, 10).await.unwrap(),
        3
    );
    assert_eq!(s.jobs.uploading(&user("alice"), since, 2).await.unwrap(), 2);
    assert_eq!(
        s.jobs.uploading(&user("carol"), since, 10).await.unwrap(),
        0
    );
}

fn progress(fraction: Option<f64>, message: Option<&str>, sent_at: i64, id: &str) -> Progress {
    Progress::new(fraction, message, sent_at, id).unwrap()
}

/// The job a `Kept` answer holds.
fn kept(p: Progressed) -> Job {
    match p {
        Progressed::Kept(job) => job,
        other => panic!("progress not kept: {other:?}"),
    }
}

pub async fn progress_is_kept_only_when_it_supersedes_and_only_on_unfinished_jobs(s: &Stores) {
    // GIVEN a job of alice's with the third party
    let submitted = job("alice", JobStatus::Submitted, now());
    s.jobs.create(&submitted).await.unwrap();
    let id = &submitted.id;
    // WHEN progress comes, it is kept and read back
    let first = progress(Some(0.25), Some("a quarter"), 100, "m1");
    let job = kept(s.jobs.progress(id, &first).await.unwrap());
    assert_eq!(job.progress.as_ref(), Some(&first));
    assert_eq!(job.status, JobStatus::Submitted);
    assert_eq!(job.updated_at, submitted.updated_at, "progress is no move");
    assert_eq!(s.jobs.get(id).await.unwrap().unwrap().progress, Some(first));
    // A later one replaces it whole: a message alone drops the fraction.
    let second = progress(None, Some("writing"), 101, "m2");
    kept(s.jobs.progress(id, &second).await.unwrap());
    // Older, or the same delivery again: unchanged.
    for stale in [progress(Some(0.9), None, 99, "m0"), second.clone()] {
        assert_eq!(
            s.jobs.progress(id, &stale).await.unwrap(),
            Progressed::Unchanged
        );
    }
    // Another delivery of the same second supersedes.
    let same_second = progress(Some(0.5), None, 101, "m3");
    kept(s.jobs.progress(id, &same_second).await.unwrap());
    let got = s.jobs.get(id).await.unwrap().unwrap().progress.unwrap();
    assert_eq!((got.fraction, got.sent_at), (Some(0.5), 101));
    let mut ids = got.reports.clone();
    ids.sort();
    let mut want: Vec<String> = ["m1", "m2", "m3"].map(report_digest).into();
    want.sort();
    assert_eq!(ids, want, "every report's id is kept");
    // An earlier report again, signed afresh (a later timestamp): unchanged.
    let again = progress(Some(0.25), Some("a quarter"), 150, "m1");
    assert_eq!(
        s.jobs.progress(id, &again).await.unwrap(),
        Progressed::Unchanged
    );
    // Finished: nothing changes. Unknown: said so.
    complete(s, submitted.clone(), json!(1)).await;
    let late = progress(Some(0.9), None, 200, "m4");
    assert_eq!(
        s.jobs.progress(id, &late).await.unwrap(),
        Progressed::Unchanged
    );
    let unknown = s.jobs.progress(&JobId::generate(), &late).await.unwrap();
    assert_eq!(unknown, Progressed::NoSuchJob);
}

pub async fn concurrent_progress_keeps_the_latest_sent(s: &Stores) {
    // GIVEN a job with the third party
    let submitted = job("alice", JobStatus::Submitted, now());
    s.jobs.create(&submitted).await.unwrap();
    // WHEN 16 progress webhooks, sent a second apart, land in any order
    let all: Vec<Progress> = (1..=16)
        .map(|i| progress(Some(i as f64 / 16.0), None, 1000 + i, &format!("m{i}")))
        .collect();
    let answers =
        futures::future::join_all(all.iter().rev().map(|p| s.jobs.progress(&submitted.id, p)))
            .await;
    // THEN the job keeps the one sent last, whichever landed when
    assert!(answers.iter().all(Result::is_ok));
    let got = s.jobs.get(&submitted.id).await.unwrap().unwrap();
    let last = got.progress.unwrap();
    assert_eq!((last.fraction, last.sent_at), (Some(1.0), 1016));
}

pub async fn a_move_keeps_the_progress_it_did_not_write(s: &Stores) {
    // GIVEN a job being handed over, read before its progress came
    let pending = job("alice", JobStatus::Pending, now());
    s.jobs.create(&pending).await.unwrap();
    let p = progress(Some(0.1), None, 100, "m1");
    kept(s.jobs.progress(&pending.id, &p).await.unwrap());
    // WHEN the third party's 2xx moves the job as it was read
    let moved = pending
        .clone()
        .move_to(JobStatus::Submitted, now(), MAX_PUSH)
        .unwrap();
    assert!(matches!(
        s.jobs.apply(&moved).await.unwrap(),
        Applied::Moved(_)
    ));
    // THEN the progress stays
    let got = s.jobs.get(&pending.id).await.unwrap().unwrap();
    assert_eq!((got.status, got.progress), (JobStatus::Submitted, Some(p)));
}
