//! `DynamoEventLog`: each user's numbered events, one write unit each,
//! without a transaction.
//!
//! A user's events live in the events table under their `userId`:
//! - the head, at seq 0: `lastSeq` and `recent`, the newest events as
//!   short entries, oldest first. The head never expires, so seqs never
//!   restart, whatever has expired.
//! - chunks of [`CHUNK`] entries, each at the seq of its last event, with
//!   a `ttl` (its newest event's time plus the retention).
//! - events of the layout before this one: one item per event, with its
//!   `body`. They are read as they are, and expire by their own `ttl`.
//!
//! Appending is one `UpdateItem` on the head that adds 1 to `lastSeq` and
//! appends the entry in the same atomic write: no read before it, no lost
//! race to retry, no seq skipped or repeated. The head stays under 1 KB
//! (DynamoDB's write unit). When it holds [`CHUNK`] entries or more, the
//! appender copies the oldest [`CHUNK`] into a chunk item and removes them
//! from the head, on condition that the head still starts with the same
//! entry. A crash in between leaves the head long and the next append does
//! it again: the same chunk, put again.
//!
//! An entry names its job rather than copying it: a read joins entries
//! with their jobs (`BatchGetItem`), so a result is stored once, on its
//! job. A job is kept at least as long as its events.

mod entry;

pub(crate) use entry::Entry;

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use boomerang_core::ports::EventLog;
use boomerang_core::{Error, Event, EventType, JobId, Result, UserId};
use chrono::{DateTime, Utc};
use tracing::{debug, warn};

use super::{get_n, get_opt_s, jobs_by_id, n, s, sdk, Item};
use crate::tables::{COUNTER_SEQ, TTL};

/// Entries per chunk. A head of [`CHUNK`] entries (47 bytes each) and the
/// longest user id (128 characters) stays under DynamoDB's 1 KB write
/// unit; archiving costs two writes per [`CHUNK`] events.
pub const CHUNK: usize = 12;

/// An event as read back, before the join with its job.
enum Stored {
    Entry(Entry),
    /// The layout before: the whole event.
    Whole(Box<Event>),
}

#[derive(Clone, Debug)]
pub struct DynamoEventLog {
    client: Client,
    table: String,
    /// The jobs table, which the entries point into.
    jobs: String,
    /// A chunk expires this long after its newest event.
    retention: std::time::Duration,
}

impl DynamoEventLog {
    pub fn new(
        client: Client,
        table: impl Into<String>,
        jobs: impl Into<String>,
        retention: std::time::Duration,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            jobs: jobs.into(),
            retention,
        }
    }

    fn head_key(&self, user: &UserId) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("userId".to_owned(), s(user.as_str())),
            ("seq".to_owned(), n(COUNTER_SEQ)),
        ])
    }

    /// The user's head, read strongly.
    async fn head(&self, user: &UserId) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.head_key(user)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out.item)
    }

    /// Appends the entry and answers its seq: the user's next.
    pub(crate) async fn append(&self, user: &UserId, entry: &Entry) -> Result<u64> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.head_key(user)))
            .update_expression(
                "SET lastSeq = if_not_exists(lastSeq, :zero) + :one, \
                 recent = list_append(if_not_exists(recent, :none), :entry)",
            )
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":entry", AttributeValue::L(vec![s(entry.encode())]))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk)?;
        let head = out
            .attributes
            .ok_or_else(|| Error::internal("the head came back empty"))?;
        // Ours is the last entry: the increment and the append were one write.
        let last: u64 = get_n(&head, "lastSeq")?;
        let recent = entries_of(&head);
        if recent.len() >= CHUNK {
            // The event is durable already: a failed archive is retried by
            // the next append, and never fails this one.
            if let Err(e) = self.archive_all(user, last, recent).await {
                warn!(user = %user, error = %e, "could not archive events; the next append retries");
            }
        }
        Ok(last)
    }

    /// Archives until the head holds fewer than [`CHUNK`]: in a burst of
    /// appends many see a full head at once, only one of them trims it,
    /// and the others' entries would stay on the head (and make each
    /// append cost two units) until the next append. Rereading costs one
    /// read unit per [`CHUNK`] events.
    async fn archive_all(
        &self,
        user: &UserId,
        mut last: u64,
        mut recent: Vec<String>,
    ) -> Result<()> {
        for _ in 0..4 {
            self.archive(user, last, &recent).await?;
            let Some(head) = self.head(user).await? else {
                return Ok(());
            };
            recent = entries_of(&head);
            if recent.len() < CHUNK {
                return Ok(());
            }
            last = get_n(&head, "lastSeq")?;
        }
        Ok(())
    }

    /// Copies the head's oldest [`CHUNK`] entries into a chunk, then takes
    /// them off the head if nobody else has.
    async fn archive(&self, user: &UserId, last: u64, recent: &[String]) -> Result<()> {
        let first = first_seq(last, recent.len())?;
        let chunk = &recent[..CHUNK];
        let newest = Entry::decode(&chunk[CHUNK - 1])?;
        let ttl =
            newest.at.timestamp() + i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX / 2);
        self.client
            .put_item()
            .table_name(&self.table)
            .item("userId", s(user.as_str()))
            .item("seq", n(first + CHUNK as u64 - 1))
            .item(
                "events",
                AttributeValue::L(chunk.iter().map(|e| s(e.as_str())).collect()),
            )
            .item(TTL, n(ttl))
            .send()
            .await
            .map_err(sdk)?;
        let remove: Vec<String> = (0..CHUNK).map(|i| format!("recent[{i}]")).collect();
        let trimmed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.head_key(user)))
            .update_expression(format!("REMOVE {}", remove.join(", ")))
            .condition_expression("recent[0] = :first")
            .expression_attribute_values(":first", s(chunk[0].as_str()))
            .send()
            .await;
        match trimmed {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                // Another appender archived them first.
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(()),
                other => Err(sdk(other)),
            },
        }
    }

    /// Whether the log holds the event of `job`'s move to `kind` at `at`.
    /// Newest first: the head, then chunks (and events of the layout
    /// before). An entry is appended by the invocation that moved its job,
    /// which runs at most `writer_max` (Lambda: 15 minutes), so every entry
    /// appended after it has a time past `at - writer_max`: the search
    /// stops at the first entry older than that.
    pub(crate) async fn holds(
        &self,
        user: &UserId,
        job: &JobId,
        kind: EventType,
        at: DateTime<Utc>,
        writer_max: chrono::Duration,
    ) -> Result<bool> {
        let floor = at - writer_max;
        // Some(found) once the answer is known.
        let look = |entry: &Entry| {
            if entry.job == *job && entry.kind == kind && entry.at == at {
                Some(true)
            } else if entry.at < floor {
                Some(false)
            } else {
                None
            }
        };
        if let Some(head) = self.head(user).await? {
            for e in entries_of(&head).iter().rev() {
                if let Some(found) = look(&Entry::decode(e)?) {
                    return Ok(found);
                }
            }
        }
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("userId = :u AND seq > :head")
                .expression_attribute_values(":u", s(user.as_str()))
                .expression_attribute_values(":head", n(COUNTER_SEQ))
                .scan_index_forward(false)
                .consistent_read(true)
                .limit(8)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            for item in out.items() {
                let found = match get_opt_s(item, "body") {
                    Some(body) => {
                        let event: Event = serde_json::from_str(body).map_err(Error::internal)?;
                        let entry = Entry {
                            kind: event.kind,
                            truncated: false,
                            at: event.time().unwrap_or_default(),
                            job: JobId::parse(event.job.id.as_str())?,
                        };
                        look(&entry)
                    }
                    None => {
                        let mut found = None;
                        for e in entries_of(item).iter().rev() {
                            found = look(&Entry::decode(e)?);
                            if found.is_some() {
                                break;
                            }
                        }
                        found
                    }
                };
                if let Some(found) = found {
                    return Ok(found);
                }
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(false),
            }
        }
    }
}

/// The seq of the first of `len` entries whose last is `last` (a head's
/// `lastSeq`, a chunk's key). An item edited into holding more entries
/// than seqs is an error, not a panic.
fn first_seq(last: u64, len: usize) -> Result<u64> {
    last.checked_add(1)
        .and_then(|next| next.checked_sub(len as u64))
        .filter(|first| *first >= 1 || len == 0)
        .ok_or_else(|| Error::internal(format!("{len} events stored under seq {last}")))
}

fn entries_of(item: &Item) -> Vec<String> {
    item.get("recent")
        .or_else(|| item.get("events"))
        .and_then(|v| v.as_l().ok())
        .map(|l| l.iter().filter_map(|e| e.as_s().ok().cloned()).collect())
        .unwrap_or_default()
}

#[async_trait]
impl EventLog for DynamoEventLog {
    async fn since(&self, user: &UserId, after: u64, limit: usize) -> Result<Vec<Event>> {
        Ok(self.page(user, after, limit).await?.0)
    }

    /// One read of the head serves both: its `lastSeq` is read before
    /// everything else.
    async fn page(&self, user: &UserId, after: u64, limit: usize) -> Result<(Vec<Event>, u64)> {
        let mut found: BTreeMap<u64, Stored> = BTreeMap::new();
        let mut newest = 0;
        // The head first: an archive between the two reads then shows its
        // entries twice (one seq, one event), never not at all.
        if let Some(head) = self.head(user).await? {
            if let Ok(last) = get_n::<u64>(&head, "lastSeq") {
                newest = last;
                let recent = entries_of(&head);
                let first = first_seq(last, recent.len())?;
                for (i, e) in recent.iter().enumerate() {
                    let seq = first + i as u64;
                    if seq > after {
                        found.insert(seq, Stored::Entry(Entry::decode(e)?));
                    }
                }
            }
        }
        // Then the chunks (keyed by their last seq) and older single
        // events after `after`, oldest first, until `limit` events.
        let mut start = None;
        let mut older = 0;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("userId = :u AND seq > :after")
                .expression_attribute_values(":u", s(user.as_str()))
                .expression_attribute_values(":after", n(after))
                .consistent_read(true)
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            for item in out.items() {
                let key: u64 = get_n(item, "seq")?;
                if let Some(body) = get_opt_s(item, "body") {
                    let event: Event = serde_json::from_str(body).map_err(Error::internal)?;
                    found.insert(event.seq, Stored::Whole(Box::new(event)));
                    older += 1;
                    continue;
                }
                let chunk = entries_of(item);
                let first = first_seq(key, chunk.len())?;
                for (i, e) in chunk.iter().enumerate() {
                    let seq = first + i as u64;
                    if seq > after {
                        found.insert(seq, Stored::Entry(Entry::decode(e)?));
                        older += 1;
                    }
                }
            }
            match out.last_evaluated_key {
                Some(key) if older < limit => start = Some(key),
                _ => break,
            }
        }
        let page: Vec<(u64, Stored)> = found.into_iter().take(limit).collect();
        // Read strongly: an entry is appended after its job's write, so the
        // job is never older than it.
        let jobs = jobs_by_id(
            &self.client,
            &self.jobs,
            page.iter().filter_map(|(_, st)| match st {
                Stored::Entry(e) => Some(e.job.as_str()),
                Stored::Whole(_) => None,
            }),
        )
        .await?;
        let mut events = Vec::with_capacity(page.len());
        for (seq, stored) in page {
            match stored {
                Stored::Whole(event) => events.push(*event),
                Stored::Entry(entry) => match jobs.get(entry.job.as_str()) {
                    Some(item) => events.push(entry.event(seq, item)?),
                    // Its job has expired: so has the event.
                    None => debug!(seq, job_id = %entry.job, "event of a job that is gone"),
                },
            }
        }
        Ok((events, newest))
    }

    async fn last_seq(&self, user: &UserId) -> Result<u64> {
        // The whole head costs what its counter alone would: it stays
        // under one 4 KB read unit.
        match self.head(user).await? {
            Some(head) => get_n(&head, "lastSeq"),
            None => Ok(0),
        }
    }

    /// DynamoDB's TTL deletes chunks (each carries `ttl`); the head has
    /// none, so seqs never restart.
    async fn forget_before(&self, _before: DateTime<Utc>) -> Result<u64> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_or_chunk_holding_more_entries_than_seqs_is_an_error() {
        assert_eq!(first_seq(30, 6).unwrap(), 25);
        assert_eq!(first_seq(0, 0).unwrap(), 1);
        assert!(first_seq(3, 5).is_err());
    }
}
