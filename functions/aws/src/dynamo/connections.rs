//! `DynamoConnectionStore`: one item per connection, keyed by its id, with
//! an index by user, and one item per user counting its stored rows (the
//! per-user limit, held under a burst of connects): each row, live or past
//! its expiry, holds one slot until it is removed. The count errs high,
//! never low: only a deleted row gives its slot back, and once.
//! `$connect` is two writes (the count, the row), `$disconnect` two (the
//! row, the count), a fan-out one Query (never a Scan).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use boomerang_core::ports::ConnectionStore;
use boomerang_core::{Connection, ConnectionId, Result, UserId};
use chrono::{DateTime, Utc};

use super::{get_n, get_s, n, s, sdk, Item};
use crate::tables::{CONNECTIONS_BY_USER, TTL};

#[derive(Clone, Debug)]
pub struct DynamoConnectionStore {
    client: Client,
    table: String,
    settle: std::time::Duration,
}

/// A count is checked against the rows only once no connect has taken a
/// slot for this long: a connect between its slot and its row is never
/// counted out. API Gateway gives `$connect` at most 29 seconds.
pub const SLOTS_SETTLE: std::time::Duration = std::time::Duration::from_secs(30);

impl DynamoConnectionStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            settle: SLOTS_SETTLE,
        }
    }

    /// As `new`, checking a full count after `settle` instead of
    /// [`SLOTS_SETTLE`]: for tests, which cannot wait half a minute.
    pub fn with_settle(mut self, settle: std::time::Duration) -> Self {
        self.settle = settle;
        self
    }
}

fn from_item(item: &Item) -> Result<Connection> {
    Ok(Connection {
        id: ConnectionId::parse(get_s(item, "connectionId")?)?,
        user: UserId::parse(get_s(item, "userId")?)?,
        connected_at: DateTime::from_timestamp_millis(get_n(item, "connectedAt")?)
            .unwrap_or_default(),
        expires_at: DateTime::from_timestamp(get_n(item, TTL)?, 0).unwrap_or_default(),
    })
}

/// The item counting a user's live connections: in the connections
/// table, under a key no connection id has (API Gateway's ids are base64,
/// without `#`), and with no `userId`, so the index by user leaves it out.
fn slots_key(user: &UserId) -> AttributeValue {
    s(format!("slots#{}", user.as_str()))
}

impl DynamoConnectionStore {
    /// Takes one of `user`'s `max` slots: one conditional UpdateItem, which
    /// DynamoDB applies one at a time, so a burst of connects never takes
    /// more than `max`. When the count says full and has settled (no slot
    /// taken for [`SLOTS_SETTLE`]), it is checked against the stored rows:
    /// a count left too high (a row TTL deleted, a stop between the count
    /// and the row) is set to the rows, once, and the slot tried again.
    /// Rows past their expiry count until removed: the core removes them
    /// when a user is at the limit.
    async fn take_slot(&self, user: &UserId, max: usize, now: DateTime<Utc>) -> Result<bool> {
        let Some((held, taken_at)) = self.try_take_slot(user, max, now).await? else {
            return Ok(true);
        };
        let settled = now.timestamp_millis() - taken_at >= self.settle.as_millis() as i64;
        if !settled {
            return Ok(false);
        }
        let live = self.for_user(user).await?.len();
        if live >= max || live as u64 >= held {
            return Ok(false);
        }
        // Set only if nobody moved it meanwhile; a race lost is a refusal.
        let reset = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("connectionId", slots_key(user))
            .update_expression("SET #open = :live")
            .condition_expression("#open = :held AND takenAt = :taken")
            .expression_attribute_names("#open", "open")
            .expression_attribute_values(":live", n(live))
            .expression_attribute_values(":held", n(held))
            .expression_attribute_values(":taken", n(taken_at))
            .send()
            .await;
        match reset {
            Ok(_) => Ok(self.try_take_slot(user, max, now).await?.is_none()),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(sdk(other)),
            },
        }
    }

    /// `None` when a slot was taken; else how many the count says are
    /// held, and when the last one was taken (Unix milliseconds).
    async fn try_take_slot(
        &self,
        user: &UserId,
        max: usize,
        now: DateTime<Utc>,
    ) -> Result<Option<(u64, i64)>> {
        let taken = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("connectionId", slots_key(user))
            .update_expression("SET #open = if_not_exists(#open, :zero) + :one, takenAt = :now")
            .condition_expression("attribute_not_exists(#open) OR #open < :max")
            .expression_attribute_names("#open", "open")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match taken {
            Ok(_) => Ok(None),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let item = failed.item.unwrap_or_default();
                    let held = get_n::<u64>(&item, "open").unwrap_or(max as u64);
                    let taken_at = get_n::<i64>(&item, "takenAt").unwrap_or(i64::MAX);
                    Ok(Some((held, taken_at)))
                }
                other => Err(sdk(other)),
            },
        }
    }

    /// Gives a slot back, for a row that was deleted. A failure is logged,
    /// not raised: the count is then too high by one, which the next full
    /// connect sets right once it has settled. Never retried: an attempt
    /// that timed out may still land, and a retry would then give back
    /// twice, letting one more in than the limit.
    async fn give_slot_back(&self, user: &UserId) {
        let once = aws_sdk_dynamodb::Config::builder()
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled());
        let given = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("connectionId", slots_key(user))
            .update_expression("SET #open = #open - :one")
            .condition_expression("#open > :zero")
            .expression_attribute_names("#open", "open")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .customize()
            .config_override(once)
            .send()
            .await;
        if let Err(e) = given {
            match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => {}
                other => {
                    tracing::warn!(user = %user, error = %sdk(other), "could not give a connection slot back")
                }
            }
        }
    }
}

#[async_trait]
impl ConnectionStore for DynamoConnectionStore {
    async fn add_within(&self, conn: &Connection, max: usize, now: DateTime<Utc>) -> Result<bool> {
        if !self.take_slot(&conn.user, max, now).await? {
            return Ok(false);
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("connectionId", s(conn.id.as_str()))
            .item("userId", s(conn.user.as_str()))
            .item("connectedAt", n(conn.connected_at.timestamp_millis()))
            // API Gateway closes a connection after 2 hours; DynamoDB's TTL
            // deletes the row some time after that, and readers filter.
            .item(TTL, n(conn.expires_at.timestamp()))
            .send()
            .await;
        // A failed write keeps its slot: it may have landed all the same
        // (an attempt that timed out), and the row's removal, when the
        // socket is found gone, gives the slot back. The count may then be
        // one too high until a full connect recounts; never too low, which
        // would let one more in than the limit.
        put.map_err(sdk)?;
        Ok(true)
    }

    async fn remove(&self, id: &ConnectionId) -> Result<()> {
        let old = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("connectionId", s(id.as_str()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk)?;
        // Every stored row holds a slot, live or past its expiry; one gone
        // already was given back by whoever deleted it.
        if let Some(conn) = old.attributes.as_ref().and_then(|a| from_item(a).ok()) {
            self.give_slot_back(&conn.user).await;
        }
        Ok(())
    }

    async fn for_user(&self, user: &UserId) -> Result<Vec<Connection>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(CONNECTIONS_BY_USER)
                .key_condition_expression("userId = :u")
                // TTL deletion lags by up to days: expired rows still come
                // back, and the fan-out closes them (DeleteConnection).
                .expression_attribute_values(":u", s(user.as_str()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk)?;
            for item in page.items() {
                out.push(from_item(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }
}
