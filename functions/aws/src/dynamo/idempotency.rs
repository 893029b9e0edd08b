//! `DynamoIdempotencyKeys`: each user's upload requests by idempotency key,
//! one item per (`userId`, `idempotencyKey`) in a table of their own (so
//! the upload function may delete a key, and no job). A claim is one
//! conditional PutItem; its TTL ends it after 24 hours.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::Client;
use boomerang_core::ports::{
    Answer, Claim, IdempotencyKeys, Outcome, IDEMPOTENCY_WINDOW, UNFINISHED_CLAIM_LIFETIME,
};
use boomerang_core::{Error, JobId, Result, UserId};
use chrono::DateTime;

use super::{get_n, get_opt_s, get_s, n, s, sdk, Item};
use crate::tables::TTL;

#[derive(Clone, Debug)]
pub struct DynamoIdempotencyKeys {
    client: Client,
    table: String,
}

impl DynamoIdempotencyKeys {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

/// The item's attribute that holds the client's key.
const KEY: &str = "idempotencyKey";

fn millis_before(at: DateTime<chrono::Utc>, d: std::time::Duration) -> i64 {
    at.timestamp_millis() - d.as_millis() as i64
}

fn from_item(user: &UserId, key: &str, item: &Item) -> Result<Claim> {
    let outcome = match (get_opt_s(item, "claimJob"), item.get("answer")) {
        (Some(job), Some(_)) => Some(Outcome {
            job: JobId::parse(job)?,
            answer: Answer::parse(get_s(item, "answer")?)
                .ok_or_else(|| Error::internal("bad stored answer"))?,
        }),
        _ => None,
    };
    Ok(Claim {
        user: user.clone(),
        key: key.to_owned(),
        fingerprint: get_s(item, "fingerprint")?.to_owned(),
        claimed_at: DateTime::from_timestamp_millis(get_n(item, "claimedAt")?).unwrap_or_default(),
        outcome,
    })
}

#[async_trait]
impl IdempotencyKeys for DynamoIdempotencyKeys {
    async fn claim(&self, claim: &Claim) -> Result<Option<Claim>> {
        let (user, key) = (s(claim.user.as_str()), s(&claim.key));
        let expires = claim.claimed_at.timestamp() + IDEMPOTENCY_WINDOW.as_secs() as i64;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("userId", user.clone())
            .item(KEY, key.clone())
            .item("fingerprint", s(&claim.fingerprint))
            .item("claimedAt", n(claim.claimed_at.timestamp_millis()))
            .item(TTL, n(expires))
            // Free: never claimed, past the window (TTL deletes late), or
            // never finished by a function long dead.
            .condition_expression(
                "attribute_not_exists(userId) OR claimedAt < :window \
                 OR (attribute_not_exists(answer) AND claimedAt < :unfinished)",
            )
            .expression_attribute_values(
                ":window",
                n(millis_before(claim.claimed_at, IDEMPOTENCY_WINDOW)),
            )
            .expression_attribute_values(
                ":unfinished",
                n(millis_before(claim.claimed_at, UNFINISHED_CLAIM_LIFETIME)),
            )
            .send()
            .await;
        match put {
            Ok(_) => return Ok(None),
            Err(e) => match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => {}
                other => return Err(sdk(other)),
            },
        }
        let held = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("userId", user)
            .key(KEY, key)
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        match held.item {
            Some(item) => from_item(&claim.user, &claim.key, &item).map(Some),
            // Freed in between (a refused first request): claim again.
            None => Box::pin(self.claim(claim)).await,
        }
    }

    async fn finish(&self, user: &UserId, key: &str, outcome: Option<&Outcome>) -> Result<()> {
        let (user, key) = (s(user.as_str()), s(key));
        match outcome {
            Some(o) => {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key("userId", user)
                    .key(KEY, key)
                    .update_expression("SET claimJob = :job, answer = :answer")
                    .condition_expression("attribute_exists(userId)")
                    .expression_attribute_values(":job", s(o.job.as_str()))
                    .expression_attribute_values(":answer", s(o.answer.as_str()))
                    .send()
                    .await
                    .map_err(sdk)?;
            }
            None => {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("userId", user)
                    .key(KEY, key)
                    .send()
                    .await
                    .map_err(sdk)?;
            }
        }
        Ok(())
    }
}
