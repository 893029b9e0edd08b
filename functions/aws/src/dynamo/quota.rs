//! `DynamoUploadQuota`: each user's uploads per minute, one item per
//! (`userId`, `minute`) in the quotas table, counted by one conditional
//! UpdateItem, which DynamoDB applies one at a time: however many
//! instances take at once, the count never passes the limit. Items expire
//! (TTL) a minute after their minute.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::Client;
use boomerang_core::ports::{minute_of, UploadQuota};
use boomerang_core::{Result, UserId};
use chrono::{DateTime, Utc};

use super::{n, s, sdk};
use crate::tables::TTL;

#[derive(Clone, Debug)]
pub struct DynamoUploadQuota {
    client: Client,
    table: String,
}

impl DynamoUploadQuota {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl UploadQuota for DynamoUploadQuota {
    async fn take(
        &self,
        user: &UserId,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let (minute, end) = minute_of(now);
        let taken = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("userId", s(user.as_str()))
            .key("minute", n(minute))
            .update_expression("SET #n = if_not_exists(#n, :zero) + :one, #ttl = :ttl")
            .condition_expression("attribute_not_exists(#n) OR #n < :max")
            .expression_attribute_names("#n", "uploads")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .expression_attribute_values(":ttl", n(end.timestamp() + 60))
            .send()
            .await;
        match taken {
            Ok(_) => Ok(None),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(Some(end)),
                other => Err(sdk(other)),
            },
        }
    }
}
