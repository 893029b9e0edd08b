//! `DynamoJobStore` and `DynamoEventLog`.
//!
//! A transition is one `TransactWriteItems`: the job's conditional update,
//! the owner's counter moved from `n - 1` to `n`, and event `n` put if
//! absent. A lost race on the counter retries with the new value, so seqs
//! never skip or repeat; a job no longer in an expected status cancels the
//! whole transaction, so nothing is half-written.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use boomerang_core::ports::{EventLog, JobStore, ListCursor, Listed, Waiting};
use boomerang_core::{Error, Event, EventDraft, Job, JobId, JobStatus, Result, UserId};
use chrono::{DateTime, Utc};
use tracing::debug;

use super::{get_n, get_opt_s, get_s, n, s, sdk, Item};
use crate::s3::S3FileStore;
use crate::tables::{COUNTER_SEQ, JOBS_BY_OWNER, JOBS_WAITING, TTL, WAIT_SHARDS};

/// Results larger than this go to S3: a DynamoDB item holds at most 400 KB,
/// and the job's other attributes need room too.
pub const MAX_INLINE_RESULT_BYTES: usize = 300 * 1024;
/// Tries at allocating a seq when other writers keep winning (one user's
/// jobs finishing at once: a webhook burst, or the sweep beside webhooks).
const MAX_TRANSITION_ATTEMPTS: u32 = 16;
/// Backoff between those tries: up to 10 ms, doubling, at most 250 ms.
const RETRY_BASE: std::time::Duration = std::time::Duration::from_millis(10);
const RETRY_CAP: std::time::Duration = std::time::Duration::from_millis(250);

#[derive(Clone, Debug)]
pub struct DynamoJobStore {
    client: Client,
    jobs: String,
    events: String,
    /// Reads the owner's counter before each transaction attempt.
    log: DynamoEventLog,
    results: S3FileStore,
    /// Events carry a TTL of their time plus this: DynamoDB deletes them.
    event_retention: std::time::Duration,
    /// A finished job carries a TTL of its end plus this.
    job_retention: std::time::Duration,
}

/// The sparse index's key of a job still waiting for the third party:
/// (`waitShard`, `waitingSince`), present only while the job is pending or
/// submitted, so the index holds nothing else. Jobs spread over
/// [`WAIT_SHARDS`] partitions by their id, so that no one partition takes
/// every new job's write.
fn wait_key(job: &Job) -> Option<(String, i64)> {
    let prefix = wait_prefix(Waiting::of(job.status)?);
    let shard = job
        .id
        .as_str()
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
        % WAIT_SHARDS;
    Some((
        format!("{prefix}{shard}"),
        job.updated_at.timestamp_millis(),
    ))
}

/// A finished job past its TTL, which DynamoDB has not deleted yet (it
/// may take days): read as gone.
fn expired(item: &Item) -> bool {
    get_n::<i64>(item, TTL).is_ok_and(|ttl| ttl <= Utc::now().timestamp())
}

/// The shards of jobs waiting for the third party are `w0`..`w7`; those
/// waiting for their upload, `u0`..`u7`.
fn wait_prefix(what: Waiting) -> char {
    match what {
        Waiting::ThirdParty => 'w',
        Waiting::Upload => 'u',
    }
}

impl DynamoJobStore {
    pub fn new(
        client: Client,
        jobs: impl Into<String>,
        events: impl Into<String>,
        results: S3FileStore,
        event_retention: std::time::Duration,
    ) -> Self {
        let events = events.into();
        let log = DynamoEventLog::new(client.clone(), events.clone());
        Self {
            client,
            jobs: jobs.into(),
            events,
            log,
            results,
            event_retention,
            job_retention: boomerang_core::Limits::default().job_retention,
        }
    }

    /// Finished jobs expire this long after they finish (never before
    /// their events).
    pub fn with_job_retention(mut self, retention: std::time::Duration) -> Self {
        self.job_retention = retention.max(self.event_retention);
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
        self.job_of(item, from_s3).await
    }

    /// The job an item holds; `from_s3` is its result when kept in S3
    /// (without it, such a result is `None`).
    async fn job_of(&self, item: &Item, from_s3: Option<serde_json::Value>) -> Result<Job> {
        let id = JobId::parse(get_s(item, "jobId")?)?;
        let result = match get_opt_s(item, "result") {
            Some(json) => Some(serde_json::from_str(json).map_err(Error::internal)?),
            None => from_s3,
        };
        Ok(Job {
            id,
            owner: UserId::parse(get_s(item, "owner")?)?,
            status: JobStatus::parse(get_s(item, "status")?)
                .ok_or_else(|| Error::internal("bad stored status"))?,
            file_name: get_s(item, "fileName")?.to_owned(),
            content_type: get_s(item, "contentType")?.to_owned(),
            size: get_n(item, "size")?,
            file_key: get_s(item, "fileKey")?.to_owned(),
            created_at: DateTime::from_timestamp_millis(get_n(item, "createdAt")?)
                .unwrap_or_default(),
            updated_at: DateTime::from_timestamp_millis(get_n(item, "updatedAt")?)
                .unwrap_or_default(),
            result,
            error: get_opt_s(item, "error").map(str::to_owned),
        })
    }

    /// The job's conditional update: its new status, time, result and
    /// error, and its place in the sparse `waiting` index, if its status
    /// is one of `from`.
    fn status_update(
        &self,
        from: &[JobStatus],
        job: &Job,
        result: &Option<(&'static str, String)>,
    ) -> Result<Update> {
        let mut set = vec!["#status = :status", "updatedAt = :updated"];
        let mut remove = Vec::new();
        let mut update = Update::builder()
            .table_name(&self.jobs)
            .key("jobId", s(job.id.as_str()))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(job.status.as_str()))
            .expression_attribute_values(":updated", n(job.updated_at.timestamp_millis()));
        match &result {
            Some(("result", json)) => {
                set.push("#result = :result");
                remove.push("resultKey");
                update = update.expression_attribute_values(":result", s(json.clone()));
            }
            Some((_, key)) => {
                set.push("resultKey = :result");
                remove.push("#result");
                update = update.expression_attribute_values(":result", s(key.clone()));
            }
            None => remove.extend(["#result", "resultKey"]),
        }
        update = update
            .expression_attribute_names("#result", "result")
            .expression_attribute_names("#error", "error");
        match &job.error {
            Some(e) => {
                set.push("#error = :error");
                update = update.expression_attribute_values(":error", s(e.clone()));
            }
            None => remove.push("#error"),
        }
        // A finished job expires (DynamoDB's TTL lags: reads hide it at once).
        match self.job_ttl(job) {
            Some(ttl) => {
                set.push("#ttl = :ttl");
                update = update.expression_attribute_values(":ttl", n(ttl));
            }
            None => remove.push("#ttl"),
        }
        update = update.expression_attribute_names("#ttl", TTL);
        match wait_key(job) {
            Some((shard, since)) => {
                set.extend(["waitShard = :shard", "waitingSince = :since"]);
                update = update
                    .expression_attribute_values(":shard", s(shard))
                    .expression_attribute_values(":since", n(since));
            }
            None => remove.extend(["waitShard", "waitingSince"]),
        }
        let mut placeholders = Vec::new();
        for (i, st) in from.iter().enumerate() {
            let p = format!(":from{i}");
            update = update.expression_attribute_values(&p, s(st.as_str()));
            placeholders.push(p);
        }
        let mut expr = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expr += &format!(" REMOVE {}", remove.join(", "));
        }
        update
            .update_expression(expr)
            .condition_expression(format!("#status IN ({})", placeholders.join(", ")))
            .build()
            .map_err(Error::internal)
    }

    /// The transition itself, with the result's attribute already made.
    async fn transition_with(
        &self,
        from: &[JobStatus],
        job: &Job,
        event: EventDraft,
        result: &Option<(&'static str, String)>,
    ) -> Result<Option<Event>> {
        for attempt in 1..=MAX_TRANSITION_ATTEMPTS {
            let last = self.log.last_seq(&job.owner).await?;
            let next = last + 1;
            let numbered = event.clone().numbered(next);

            let update = self.status_update(from, job, result)?;

            let counter = Update::builder()
                .table_name(&self.events)
                .key("userId", s(job.owner.as_str()))
                .key("seq", n(COUNTER_SEQ))
                .update_expression("SET lastSeq = :next")
                .condition_expression(if last == 0 {
                    "attribute_not_exists(lastSeq)"
                } else {
                    "lastSeq = :last"
                })
                .expression_attribute_values(":next", n(next));
            let counter = if last == 0 {
                counter
            } else {
                counter.expression_attribute_values(":last", n(last))
            };
            let counter = counter.build().map_err(Error::internal)?;

            let expires = event.at.timestamp()
                + i64::try_from(self.event_retention.as_secs()).unwrap_or(i64::MAX / 2);
            let put = Put::builder()
                .table_name(&self.events)
                .item("userId", s(job.owner.as_str()))
                .item("seq", n(next))
                .item("body", s(numbered.to_json()))
                .item(TTL, n(expires))
                .condition_expression("attribute_not_exists(seq)")
                .build()
                .map_err(Error::internal)?;

            let sent = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(update).build())
                .transact_items(TransactWriteItem::builder().update(counter).build())
                .transact_items(TransactWriteItem::builder().put(put).build())
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(Some(numbered)),
                Err(e) => match e.into_service_error() {
                    TransactWriteItemsError::TransactionCanceledException(c) => {
                        let job_refused = c.cancellation_reasons().first().and_then(|r| r.code())
                            == Some("ConditionalCheckFailed");
                        if job_refused {
                            return Ok(None);
                        }
                        // The counter moved, or another transaction held an item
                        // (reason `TransactionConflict`): read the counter again.
                        debug!(job_id = %job.id, attempt, "seq taken by another writer; retrying");
                        // Full jitter: writers that collided spread out
                        // instead of colliding again on the next read.
                        let cap = RETRY_BASE
                            .saturating_mul(1 << attempt.min(6))
                            .min(RETRY_CAP);
                        let wait = rand::random_range(0..=cap.as_millis() as u64);
                        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                    }
                    other => return Err(sdk(other)),
                },
            }
        }
        Err(Error::internal(format!(
            "could not allocate a seq for {} after {MAX_TRANSITION_ATTEMPTS} attempts",
            job.owner
        )))
    }

    /// The update itself, with the result's attribute already made.
    async fn update_with(
        &self,
        from: &[JobStatus],
        job: &Job,
        result: &Option<(&'static str, String)>,
    ) -> Result<bool> {
        let update = self.status_update(from, job, result)?;
        // A transaction of one: the same conditional update a transition
        // makes, with no event.
        let sent = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(c)
                    if c.cancellation_reasons().first().and_then(|r| r.code())
                        == Some("ConditionalCheckFailed") =>
                {
                    Ok(false)
                }
                other => Err(sdk(other)),
            },
        }
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
            Some(item) if !expired(item) => Ok(Some(self.read_job(item).await?)),
            _ => Ok(None),
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
            for item in out.items().iter().filter(|i| !expired(i)) {
                // A result kept in S3 is left out, never fetched.
                let result_left_out = get_opt_s(item, "resultKey").is_some();
                listed.push(Listed {
                    job: self.job_of(item, None).await?,
                    result_left_out,
                });
            }
            match out.last_evaluated_key {
                Some(key) if listed.len() < limit => start = Some(key),
                _ => return Ok(listed),
            }
        }
    }

    async fn transition(
        &self,
        from: &[JobStatus],
        job: &Job,
        event: EventDraft,
    ) -> Result<Option<Event>> {
        let result = self.result_attr(job).await?;
        let moved = self.transition_with(from, job, event, &result).await;
        if !matches!(moved, Ok(Some(_))) {
            self.forget_result(&result).await;
        }
        moved
    }
    async fn forget_finished_before(&self, _before: DateTime<Utc>) -> Result<u64> {
        // DynamoDB's TTL deletes them (and reads hide them until it does).
        Ok(0)
    }

    async fn update(&self, from: &[JobStatus], job: &Job) -> Result<bool> {
        let result = self.result_attr(job).await?;
        let moved = self.update_with(from, job, &result).await;
        if !matches!(moved, Ok(true)) {
            self.forget_result(&result).await;
        }
        moved
    }

    async fn waiting(
        &self,
        what: Waiting,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Job>> {
        let prefix = wait_prefix(what);
        // One Query per shard of the sparse index, at once; never a Scan.
        let queries = (0..WAIT_SHARDS).map(|shard| {
            self.client
                .query()
                .table_name(&self.jobs)
                .index_name(JOBS_WAITING)
                .key_condition_expression("waitShard = :s AND waitingSince <= :b")
                .expression_attribute_values(":s", s(format!("{prefix}{shard}")))
                .expression_attribute_values(":b", n(before.timestamp_millis()))
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .send()
        });
        let pages = futures::future::try_join_all(queries).await.map_err(sdk)?;
        let mut jobs = Vec::new();
        for page in &pages {
            for item in page.items() {
                jobs.push(self.read_job(item).await?);
            }
        }
        jobs.sort_by_key(|j| j.updated_at);
        jobs.truncate(limit);
        Ok(jobs)
    }
}

#[derive(Clone, Debug)]
pub struct DynamoEventLog {
    client: Client,
    table: String,
}

impl DynamoEventLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl EventLog for DynamoEventLog {
    async fn since(&self, user: &UserId, after: u64, limit: usize) -> Result<Vec<Event>> {
        // seq > after ≥ 0 also skips the counter item at seq 0.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("userId = :u AND seq > :after")
            .expression_attribute_values(":u", s(user.as_str()))
            .expression_attribute_values(":after", n(after))
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(sdk)?;
        out.items()
            .iter()
            .map(|item| serde_json::from_str(get_s(item, "body")?).map_err(Error::internal))
            .collect()
    }

    async fn last_seq(&self, user: &UserId) -> Result<u64> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("userId", s(user.as_str()))
            .key("seq", n(COUNTER_SEQ))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        match out.item() {
            Some(item) => get_n(item, "lastSeq"),
            None => Ok(0),
        }
    }

    /// DynamoDB's TTL deletes them (each event carries `ttl`); the counter
    /// item has none, so seqs never restart.
    async fn forget_before(&self, _before: DateTime<Utc>) -> Result<u64> {
        Ok(0)
    }
}
