//! `DynamoJobStore`.
//!
//! A transition is one `TransactWriteItems`: the job's conditional update,
//! which exactly one caller wins, and its event appended to the owner's
//! log ([`super::events`]), together or not at all.
//!
//! The transaction is conditioned on the owner's `lastSeq`, read just
//! before it: a webhook is three round trips in a row (the job, the head,
//! the transaction). A cancelled transaction (another of the owner's jobs
//! moved at the same moment) reads the head again and retries. (Guessing
//! the head from the job item's own last event saved one read unit per
//! move, $0.125 per million uploads, and was not worth its protocol.)
//!
//! Both indexes are keys-only: an index write costs one unit whatever the
//! job holds, and only when a key changes. A list or a sweep reads the
//! keys, then the jobs (`BatchGetItem`). The saving, by DynamoDB's rules
//! on the job item `tests/aws/cost.rs` measures (1.2 KB): an upload's
//! three job writes would copy it into `byOwner` each time (6 units
//! instead of 1) and into `waiting` on entering it (2 instead of 1):
//! 6 write units an upload, $3.75 per million uploads, more with larger
//! results (a 64 KiB one: 65 units a copy).

mod waiting;

use std::collections::HashMap;

use async_trait::async_trait;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use boomerang_core::ports::{
    Clock, JobStore, ListCursor, Listed, Progressed, SystemClock, Waiting,
};
use boomerang_core::{
    Applied, Error, Event, EventDraft, Job, JobId, JobStatus, Moved, Progress, Result, UserId,
    MAX_PROGRESS_REPORTS,
};
use chrono::{DateTime, Utc};
use tracing::debug;

use super::events::DynamoEventLog;
use super::{get_n, get_opt_s, get_s, jobs_by_id, n, s, sdk, Item};
use crate::s3::S3FileStore;
use crate::tables::{JOBS_BY_OWNER, TTL};
use waiting::wait_key;

/// Attempts at a transition whose owner's log moved under it (another of
/// the user's jobs moved at the same moment), before giving up.
const APPEND_ATTEMPTS: u32 = 20;

/// Results larger than this go to S3. API Gateway pushes at most 128 KB a
/// WebSocket message (`MaxPushBytes` can be no more), so no push and no
/// list ever shows a larger result whole ([`boomerang_core::ports::Listed`]):
/// kept in the job item it would cost a DynamoDB write unit per KB, twice
/// (S3: one PUT, $0.005 per 1,000), and a DynamoDB item holds 400 KB.
pub const MAX_INLINE_RESULT_BYTES: usize = boomerang_core::ports::MAX_LISTED_RESULT_BYTES;

#[derive(Clone)]
pub struct DynamoJobStore {
    client: Client,
    jobs: String,
    /// Where a transition's event goes.
    log: DynamoEventLog,
    results: S3FileStore,
    /// A finished job carries a TTL of its end plus this.
    job_retention: std::time::Duration,
    /// What "now" is for expiry.
    clock: std::sync::Arc<dyn Clock>,
}

/// A finished job past its TTL, which DynamoDB has not deleted yet (it
/// may take days): read as gone.
fn expired(item: &Item, now: DateTime<Utc>) -> bool {
    get_n::<i64>(item, TTL).is_ok_and(|ttl| ttl <= now.timestamp())
}

impl DynamoJobStore {
    pub fn new(
        client: Client,
        jobs: impl Into<String>,
        events: impl Into<String>,
        results: S3FileStore,
        event_retention: std::time::Duration,
    ) -> Self {
        let jobs = jobs.into();
        let log = DynamoEventLog::new(client.clone(), events, event_retention);
        Self {
            client,
            jobs,
            log,
            results,
            job_retention: boomerang_core::Limits::default().job_retention,
            clock: std::sync::Arc::new(SystemClock),
        }
    }

    /// Time read through this clock (the deployment's), for expiry.
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn Clock>) -> Self {
        self.log = self.log.with_clock(clock.clone());
        self.clock = clock;
        self
    }

    /// Finished jobs expire this long after they finish (never before
    /// their events: `Limits::checked` holds that).
    pub fn with_job_retention(mut self, retention: std::time::Duration) -> Self {
        self.job_retention = retention;
        self
    }

    /// A finished job's TTL: when DynamoDB may delete it.
    fn job_ttl(&self, job: &Job) -> Option<i64> {
        job.status.is_terminal().then(|| {
            job.updated_at.timestamp()
                + i64::try_from(self.job_retention.as_secs()).unwrap_or(i64::MAX / 2)
        })
    }

    /// The job an item holds, its result read from S3 if kept there.
    async fn read_job(&self, item: &Item) -> Result<Job> {
        let from_s3 = match (get_opt_s(item, "result"), get_opt_s(item, "resultKey")) {
            (None, Some(key)) => {
                let bytes = self
                    .results
                    .get(key)
                    .await?
                    .ok_or_else(|| Error::internal(format!("result {key} missing")))?;
                Some(serde_json::from_slice(&bytes).map_err(Error::internal)?)
            }
            _ => None,
        };
        let mut job = job_of_item(item)?;
        if from_s3.is_some() {
            job.result = from_s3;
        }
        Ok(job)
    }

    /// The job's conditional update, if its status is one of `from`: its
    /// new status, time, result and error, and its place in the sparse
    /// `waiting` index.
    fn change(
        &self,
        from: &[JobStatus],
        job: &Job,
        result: &Option<(&'static str, String)>,
    ) -> Change {
        let mut c = Change::default();
        c.names.extend([
            ("#status", "status"),
            ("#result", "result"),
            ("#error", "error"),
            ("#ttl", TTL),
        ]);
        c.set("#status", ":status", s(job.status.as_str()));
        c.set(
            "updatedAt",
            ":updated",
            n(job.updated_at.timestamp_millis()),
        );
        match result {
            Some(("result", json)) => {
                c.set("#result", ":result", s(json.clone()));
                c.remove.push("resultKey");
            }
            Some((_, key)) => {
                c.set("resultKey", ":result", s(key.clone()));
                c.remove.push("#result");
            }
            None => c.remove.extend(["#result", "resultKey"]),
        }
        match &job.error {
            Some(e) => c.set("#error", ":error", s(e.clone())),
            None => c.remove.push("#error"),
        }
        // A finished job expires (DynamoDB's TTL lags: reads hide it at once).
        match self.job_ttl(job) {
            Some(ttl) => c.set("#ttl", ":ttl", n(ttl)),
            None => c.remove.push("#ttl"),
        }
        // The key moves only when the job starts another kind of wait or
        // stops waiting.
        let same_wait = from
            .iter()
            .all(|f| Waiting::of(*f) == Waiting::of(job.status));
        match wait_key(job) {
            _ if same_wait => {}
            Some((shard, since)) => {
                c.set("waitShard", ":shard", s(shard));
                c.set("waitingSince", ":since", n(since));
            }
            None => c.remove.extend(["waitShard", "waitingSince"]),
        }
        let mut allowed = Vec::new();
        for (i, st) in from.iter().enumerate() {
            let p = format!(":from{i}");
            c.values.insert(p.clone(), s(st.as_str()));
            allowed.push(p);
        }
        c.condition = format!("#status IN ({})", allowed.join(", "));
        c
    }

    /// The job's conditional update alone (its result kept in S3 first, if
    /// too large for the item): whether it was still in one of `from`.
    async fn update_with(&self, from: &[JobStatus], job: &Job) -> Result<bool> {
        let result = self.result_attr(job).await?;
        let c = self.change(from, job, &result);
        let moved = match self
            .client
            .update_item()
            .table_name(&self.jobs)
            .key("jobId", s(job.id.as_str()))
            .update_expression(c.expression())
            .condition_expression(&c.condition)
            .set_expression_attribute_names(Some(c.names()))
            .set_expression_attribute_values(Some(c.values))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(sdk(other)),
            },
        };
        if !matches!(moved, Ok(true)) {
            self.forget_result(&result).await;
        }
        moved
    }

    /// The job's conditional update and its event appended, in one
    /// transaction; `None` when the job was no longer in one of `from`.
    async fn move_and_append(
        &self,
        from: &[JobStatus],
        job: &Job,
        draft: EventDraft,
    ) -> Result<Option<Event>> {
        let result = self.result_attr(job).await?;
        let mut last = self.log.head(&job.owner).await?;
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let event = draft.clone().numbered(last + 1);
            let c = self.change(from, job, &result);
            let update = Update::builder()
                .table_name(&self.jobs)
                .key("jobId", s(job.id.as_str()))
                .update_expression(c.expression())
                .condition_expression(&c.condition)
                .set_expression_attribute_names(Some(c.names()))
                .set_expression_attribute_values(Some(c.values))
                .build()
                .map_err(Error::internal)?;
            let [head, put] = self.log.append(&job.owner, last, &event)?;
            let sent = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(update).build())
                .transact_items(head)
                .transact_items(put)
                .send()
                .await;
            let Err(e) = sent else {
                break Ok(Some(event));
            };
            let cancel = match e.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(cancel) => cancel,
                other => break Err(sdk(other)),
            };
            let failed = |i: usize| {
                cancel
                    .cancellation_reasons()
                    .get(i)
                    .and_then(|r| r.code())
                    .is_some_and(|c| c == "ConditionalCheckFailed")
            };
            if failed(0) {
                // Someone else moved the job first.
                break Ok(None);
            }
            // The owner's log moved since it was read (another of their
            // jobs moved), or another transaction on these items was under
            // way (TransactionConflict): after a pause, on a fresh read.
            if attempt < APPEND_ATTEMPTS {
                backoff(attempt).await;
                last = self.log.head(&job.owner).await?;
                continue;
            }
            break Err(Error::internal(format!(
                "the transition was cancelled {attempt} times: {:?}",
                cancel.cancellation_reasons()
            )));
        };
        if !matches!(outcome, Ok(Some(_))) {
            self.forget_result(&result).await;
        }
        outcome
    }

    /// The job items a page of a keys-only index names, by id (strong
    /// reads, in batches).
    async fn jobs_of(&self, keys: &[Item]) -> Result<std::collections::HashMap<String, Item>> {
        jobs_by_id(&self.client, &self.jobs, keys.iter().filter_map(key_id)).await
    }

    /// Deletes the S3 copy of a result that was not kept (its transition
    /// lost or failed). Best effort: a copy left behind costs storage,
    /// nothing else (no job points at it).
    async fn forget_result(&self, result: &Option<(&'static str, String)>) {
        if let Some(("resultKey", key)) = result {
            if let Err(e) = self.results.delete(key).await {
                debug!(key = %key, error = %e, "could not delete an unused result copy");
            }
        }
    }

    /// The result as an attribute: inline, or the key of its S3 copy.
    async fn result_attr(&self, job: &Job) -> Result<Option<(&'static str, String)>> {
        let Some(result) = &job.result else {
            return Ok(None);
        };
        let json = result.to_string();
        if json.len() <= MAX_INLINE_RESULT_BYTES {
            return Ok(Some(("result", json)));
        }
        // A key of this write's own: a delivery that loses the race for
        // the job never overwrites the winner's result.
        let key = format!("results/{}/{}.json", job.id, uuid::Uuid::new_v4().simple());
        self.results
            .put_bytes(&key, "application/json", json.into())
            .await?;
        Ok(Some(("resultKey", key)))
    }
}

#[async_trait]
impl JobStore for DynamoJobStore {
    async fn create(&self, job: &Job) -> Result<()> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.jobs)
            .item("jobId", s(job.id.as_str()))
            .item("owner", s(job.owner.as_str()))
            .item("status", s(job.status.as_str()))
            .item("fileName", s(&job.file_name))
            .item("contentType", s(&job.content_type))
            .item("size", n(job.size))
            .item("fileKey", s(&job.file_key))
            .item("createdAt", n(job.created_at.timestamp_millis()))
            .item("updatedAt", n(job.updated_at.timestamp_millis()))
            .condition_expression("attribute_not_exists(jobId)");
        if let Some((name, value)) = self.result_attr(job).await? {
            put = put.item(name, s(value));
        }
        if let Some(e) = &job.error {
            put = put.item("error", s(e));
        }
        if let Some((shard, since)) = wait_key(job) {
            put = put
                .item("waitShard", s(shard))
                .item("waitingSince", n(since));
        }
        if let Some(p) = &job.progress {
            for (name, value) in progress_attrs(p) {
                if let Some(value) = value {
                    put = put.item(name, value);
                }
            }
            put = put.item(PROGRESS_IDS, AttributeValue::Ss(p.reports.clone()));
        }
        put.send().await.map_err(sdk)?;
        Ok(())
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.jobs)
            .key("jobId", s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        match out.item() {
            Some(item) if !expired(item, self.clock.now()) => Ok(Some(self.read_job(item).await?)),
            _ => Ok(None),
        }
    }

    /// The owner's jobs created after `since`, through the keys-only index
    /// (a job uploads for at most the URL's life, so few), then their
    /// statuses (strong reads).
    async fn uploading(
        &self,
        owner: &UserId,
        since: DateTime<Utc>,
        at_most: usize,
    ) -> Result<usize> {
        let mut start: Option<Item> = None;
        let mut open = 0;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.jobs)
                .index_name(JOBS_BY_OWNER)
                .key_condition_expression("#owner = :o AND createdAt > :since")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":o", s(owner.as_str()))
                .expression_attribute_values(":since", n(since.timestamp_millis()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            let items = self.jobs_of(out.items()).await?;
            open += items
                .values()
                .filter(|i| get_opt_s(i, "status") == Some(JobStatus::Uploading.as_str()))
                .count();
            match out.last_evaluated_key {
                Some(key) if open < at_most => start = Some(key),
                _ => return Ok(open.min(at_most)),
            }
        }
    }

    async fn list(
        &self,
        owner: &UserId,
        limit: usize,
        after: Option<&ListCursor>,
    ) -> Result<Vec<Listed>> {
        // Pages of the index until `limit` jobs: a Query stops at 1 MB.
        let mut start: Option<Item> = after.map(|c| {
            Item::from([
                ("owner".to_owned(), s(owner.as_str())),
                ("createdAt".to_owned(), n(c.created_at.timestamp_millis())),
                ("jobId".to_owned(), s(c.id.as_str())),
            ])
        });
        let mut listed = Vec::new();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.jobs)
                .index_name(JOBS_BY_OWNER)
                .key_condition_expression("#owner = :o")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":o", s(owner.as_str()))
                .scan_index_forward(false)
                .limit(i32::try_from(limit - listed.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            // The index holds keys only: the jobs themselves, in its order.
            let items = self.jobs_of(out.items()).await?;
            for key in out.items() {
                let Some(item) = key_id(key).and_then(|id| items.get(id)) else {
                    continue;
                };
                if expired(item, self.clock.now()) {
                    continue;
                }
                // A result kept in S3 is over the limit: left out, never
                // fetched.
                let job = job_of_item(item)?;
                listed.push(match get_opt_s(item, "resultKey") {
                    Some(_) => Listed::left_out(job),
                    None => Listed::of(job),
                });
            }
            match out.last_evaluated_key {
                Some(key) if listed.len() < limit => start = Some(key),
                _ => return Ok(listed),
            }
        }
    }

    /// A move with an event is one transaction (the job, the owner's
    /// head, the event); one without, a conditional update of the job.
    async fn apply(&self, moved: &Moved) -> Result<Applied> {
        let (from, job) = (moved.from, &moved.job);
        Ok(match &moved.event {
            Some(draft) => match self.move_and_append(from, job, draft.clone()).await? {
                Some(event) => Applied::Moved(Some(event)),
                None => Applied::Lost,
            },
            None => match self.update_with(from, job).await? {
                true => Applied::Moved(None),
                false => Applied::Lost,
            },
        })
    }

    async fn waiting(
        &self,
        what: Waiting,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Result<Job>>> {
        self.due(what, before, limit).await
    }

    /// One conditional `UpdateItem`, ordered by the webhook's timestamp:
    /// the job as written (`ALL_NEW`) when kept, or, when the condition
    /// fails, the item as it was (`ALL_OLD`), which tells an unchanged job
    /// from none. (A move's own update never names these attributes.)
    async fn progress(&self, id: &JobId, progress: &Progress) -> Result<Progressed> {
        let mut c = Change::default();
        c.names.push(("#status", "status"));
        // Every attribute by placeholder: no reserved word can bite.
        for (i, (attr, value)) in progress_attrs(progress).into_iter().enumerate() {
            let name = ["#sent", "#fraction", "#message"][i];
            c.names.push((name, attr));
            match value {
                Some(v) => c.set(name, &format!(":p{i}"), v),
                None => c.remove.push(name),
            }
        }
        c.values
            .insert(":completed".into(), s(JobStatus::Completed.as_str()));
        c.values
            .insert(":failed".into(), s(JobStatus::Failed.as_str()));
        c.names.push(("#ids", PROGRESS_IDS));
        c.add.push("#ids :ids");
        c.values.insert(
            ":ids".into(),
            AttributeValue::Ss(vec![progress.report().to_owned()]),
        );
        c.values.insert(":digest".into(), s(progress.report()));
        c.values.insert(":max".into(), n(MAX_PROGRESS_REPORTS));
        // `Progress::supersedes`, as the item's condition (:p0 is the
        // webhook's timestamp, :digest its report's).
        c.condition = "attribute_exists(jobId) AND NOT (#status IN (:completed, :failed)) \
             AND (attribute_not_exists(#sent) OR #sent <= :p0) \
             AND (attribute_not_exists(#ids) OR (size(#ids) < :max AND NOT contains(#ids, :digest)))"
            .into();
        let out = self
            .client
            .update_item()
            .table_name(&self.jobs)
            .key("jobId", s(id.as_str()))
            .update_expression(c.expression())
            .condition_expression(&c.condition)
            .set_expression_attribute_names(Some(c.names()))
            .set_expression_attribute_values(Some(c.values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| Error::internal("no attributes returned"))?;
                Ok(Progressed::Kept(job_of_item(&item)?))
            }
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(e) => Ok(match e.item {
                    Some(_) => Progressed::Unchanged,
                    None => Progressed::NoSuchJob,
                }),
                other => Err(sdk(other)),
            },
        }
    }
}

fn key_id(item: &Item) -> Option<&str> {
    get_opt_s(item, "jobId")
}

/// The job an item holds. A result kept in S3 is `None` here: reading it
/// is the caller's choice.
pub(crate) fn job_of_item(item: &Item) -> Result<Job> {
    let result = match get_opt_s(item, "result") {
        Some(json) => Some(serde_json::from_str(json).map_err(Error::internal)?),
        None => None,
    };
    Ok(Job {
        id: JobId::parse(get_s(item, "jobId")?)?,
        owner: UserId::parse(get_s(item, "owner")?)?,
        status: JobStatus::parse(get_s(item, "status")?)
            .ok_or_else(|| Error::internal("bad stored status"))?,
        file_name: get_s(item, "fileName")?.to_owned(),
        content_type: get_s(item, "contentType")?.to_owned(),
        size: get_n(item, "size")?,
        file_key: get_s(item, "fileKey")?.to_owned(),
        created_at: DateTime::from_timestamp_millis(get_n(item, "createdAt")?).unwrap_or_default(),
        updated_at: DateTime::from_timestamp_millis(get_n(item, "updatedAt")?).unwrap_or_default(),
        result,
        error: get_opt_s(item, "error").map(str::to_owned),
        progress: get_n(item, "progressSentAt").ok().map(|sent_at| Progress {
            fraction: get_n(item, "progress").ok(),
            message: get_opt_s(item, "progressMessage").map(str::to_owned),
            sent_at,
            reports: item
                .get(PROGRESS_IDS)
                .and_then(|v| v.as_ss().ok())
                .cloned()
                .unwrap_or_default(),
        }),
    })
}

/// The digests of every report's `webhook-id` the job took, a string set:
/// none is taken twice, however it is signed. At most
/// `MAX_PROGRESS_REPORTS` of 16 bytes (and DynamoDB's overhead), well
/// within an item's 400 KB; every write of the job pays for them (a job
/// with a hundred reports writes about 2 KB more each time).
const PROGRESS_IDS: &str = "progressIds";

/// A job's progress as its item's attributes: a `None` is one to remove
/// (a progress without a fraction or a message replaces one with).
fn progress_attrs(p: &Progress) -> [(&'static str, Option<AttributeValue>); 3] {
    [
        ("progressSentAt", Some(n(p.sent_at))),
        ("progress", p.fraction.map(n)),
        ("progressMessage", p.message.as_ref().map(s)),
    ]
}

/// An update expression being built: what it sets and removes, the names
/// and values it uses, and its condition.
#[derive(Default)]
struct Change {
    set: Vec<String>,
    remove: Vec<&'static str>,
    /// `ADD` clauses, whole (`#name :value`).
    add: Vec<&'static str>,
    names: Vec<(&'static str, &'static str)>,
    values: HashMap<String, AttributeValue>,
    condition: String,
}

impl Change {
    fn set(&mut self, attr: &str, placeholder: &str, value: AttributeValue) {
        self.set.push(format!("{attr} = {placeholder}"));
        self.values.insert(placeholder.to_owned(), value);
    }

    fn expression(&self) -> String {
        let mut e = format!("SET {}", self.set.join(", "));
        if !self.remove.is_empty() {
            e += &format!(" REMOVE {}", self.remove.join(", "));
        }
        if !self.add.is_empty() {
            e += &format!(" ADD {}", self.add.join(", "));
        }
        e
    }

    fn names(&self) -> HashMap<String, String> {
        self.names
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }
}

/// A short random wait before trying a transition again.
async fn backoff(attempt: u32) {
    let cap = 5u64 << attempt.min(6);
    tokio::time::sleep(std::time::Duration::from_millis(rand::random_range(
        0..=cap,
    )))
    .await;
}
