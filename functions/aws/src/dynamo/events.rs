//! `DynamoEventLog`: each user's numbered events, the same record the
//! SQLite log keeps.
//!
//! A user's events live in the events table under their `userId`:
//! - the head, at seq 0: `lastSeq`, the user's newest seq. It never
//!   expires, so seqs never restart, whatever has expired.
//! - one item per event at its seq: `body`, the event as it was pushed
//!   (JSON), and a `ttl` (its time plus the retention).
//!
//! An event is appended only together with its job's move, in one
//! `TransactWriteItems` ([`crate::DynamoJobStore`]): the head moves from
//! the `lastSeq` read just before to the next, on condition that it is
//! still that; the event is put at the next. Two moves of one user's jobs
//! at once: one of them finds the head moved, reads it again and retries.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use std::sync::Arc;

use boomerang_core::ports::{Clock, EventLog, SystemClock};
use boomerang_core::{Error, Event, Result, UserId};
use chrono::{DateTime, Utc};

use super::{get_n, get_opt_s, n, s, sdk, Item};
use crate::tables::{COUNTER_SEQ, TTL};

#[derive(Clone)]
pub struct DynamoEventLog {
    client: Client,
    table: String,
    /// An event expires this long after its time.
    retention: std::time::Duration,
    /// What "now" is for expiry.
    clock: Arc<dyn Clock>,
}

impl DynamoEventLog {
    pub fn new(client: Client, table: impl Into<String>, retention: std::time::Duration) -> Self {
        Self {
            client,
            table: table.into(),
            retention,
            clock: Arc::new(SystemClock),
        }
    }

    /// Time read through this clock (the deployment's), for expiry.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn head_key(&self, user: &UserId) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("userId".to_owned(), s(user.as_str())),
            ("seq".to_owned(), n(COUNTER_SEQ)),
        ])
    }

    /// The user's newest seq, read strongly: 0 if none.
    pub(crate) async fn head(&self, user: &UserId) -> Result<u64> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.head_key(user)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        match out.item {
            Some(head) => get_n(&head, "lastSeq"),
            None => Ok(0),
        }
    }

    /// The writes that append `event` (numbered `last + 1`) to its user's
    /// log, for a transaction: the head moved on from `last` (on condition
    /// that it is still there), and the event put.
    pub(crate) fn append(
        &self,
        user: &UserId,
        last: u64,
        event: &Event,
    ) -> Result<[TransactWriteItem; 2]> {
        let head = Update::builder()
            .table_name(&self.table)
            .set_key(Some(self.head_key(user)))
            .update_expression("SET lastSeq = :next")
            .condition_expression(if last == 0 {
                "attribute_not_exists(lastSeq) OR lastSeq = :last"
            } else {
                "lastSeq = :last"
            })
            .expression_attribute_values(":next", n(event.seq))
            .expression_attribute_values(":last", n(last))
            .build()
            .map_err(Error::internal)?;
        let ttl =
            event.at.timestamp() + i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX / 2);
        let body = serde_json::to_string(event).map_err(Error::internal)?;
        let put = Put::builder()
            .table_name(&self.table)
            .item("userId", s(user.as_str()))
            .item("seq", n(event.seq))
            .item("body", s(body))
            .item(TTL, n(ttl))
            .build()
            .map_err(Error::internal)?;
        Ok([
            TransactWriteItem::builder().update(head).build(),
            TransactWriteItem::builder().put(put).build(),
        ])
    }
}

/// An event as stored; `None` once past its `ttl` (DynamoDB's TTL lags by
/// up to days: reads hide it at once).
fn event_of(item: &Item, now: DateTime<Utc>) -> Result<Option<Event>> {
    if get_n::<i64>(item, TTL).is_ok_and(|ttl| ttl <= now.timestamp()) {
        return Ok(None);
    }
    let body = get_opt_s(item, "body").ok_or_else(|| Error::internal("an event without a body"))?;
    serde_json::from_str(body)
        .map(Some)
        .map_err(Error::internal)
}

#[async_trait]
impl EventLog for DynamoEventLog {
    async fn since(&self, user: &UserId, after: u64, limit: usize) -> Result<Vec<Event>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let mut events = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("userId = :u AND seq > :after")
                .expression_attribute_values(":u", s(user.as_str()))
                // The head, at seq 0, is never an event: `after` is at least 0.
                .expression_attribute_values(":after", n(after))
                .consistent_read(true)
                .limit(i32::try_from(limit - events.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            for item in out.items() {
                events.extend(event_of(item, now)?);
            }
            match out.last_evaluated_key {
                Some(key) if events.len() < limit => start = Some(key),
                _ => return Ok(events),
            }
        }
    }

    async fn last_seq(&self, user: &UserId) -> Result<u64> {
        self.head(user).await
    }
}
