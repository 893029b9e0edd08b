//! `DynamoDeliveryLog`: webhook ids already acted upon, expiring by TTL.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use boomerang_core::ports::DeliveryLog;
use boomerang_core::Result;
use chrono::{DateTime, Utc};

use super::{get_n, n, s, sdk};
use crate::tables::TTL;

#[derive(Clone, Debug)]
pub struct DynamoDeliveryLog {
    client: Client,
    table: String,
}

impl DynamoDeliveryLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl DeliveryLog for DynamoDeliveryLog {
    async fn seen(&self, webhook_id: &str, now: DateTime<Utc>) -> Result<bool> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("webhookId", s(webhook_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        Ok(match out.item() {
            // Expired but not yet deleted by TTL counts as unseen.
            Some(item) => get_n::<i64>(item, TTL)? > now.timestamp(),
            None => false,
        })
    }

    async fn remember(&self, webhook_id: &str, expires_at: DateTime<Utc>) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("webhookId", s(webhook_id))
            .item(TTL, n(expires_at.timestamp()))
            .send()
            .await
            .map_err(sdk)?;
        Ok(())
    }
}
