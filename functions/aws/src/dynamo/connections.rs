//! `DynamoConnectionStore`: one item per connection, keyed by its id, with
//! an index by user. `$connect` is one write, `$disconnect` one write, a
//! fan-out one Query (never a Scan).

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use boomerang_core::ports::ConnectionStore;
use boomerang_core::{Connection, ConnectionId, Result, UserId};
use chrono::DateTime;

use super::{get_n, get_s, n, s, sdk, Item};
use crate::tables::{CONNECTIONS_BY_USER, TTL};

#[derive(Clone, Debug)]
pub struct DynamoConnectionStore {
    client: Client,
    table: String,
}

impl DynamoConnectionStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
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

#[async_trait]
impl ConnectionStore for DynamoConnectionStore {
    async fn add(&self, conn: &Connection) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("connectionId", s(conn.id.as_str()))
            .item("userId", s(conn.user.as_str()))
            .item("connectedAt", n(conn.connected_at.timestamp_millis()))
            // API Gateway closes a connection after 2 hours; DynamoDB's TTL
            // deletes the row some time after that, and readers filter.
            .item(TTL, n(conn.expires_at.timestamp()))
            .send()
            .await
            .map_err(sdk)?;
        Ok(())
    }

    async fn remove(&self, id: &ConnectionId) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("connectionId", s(id.as_str()))
            .send()
            .await
            .map_err(sdk)?;
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
