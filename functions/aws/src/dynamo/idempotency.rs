//! `DynamoIdempotencyKeys`: each user's upload requests by idempotency key,
//! one item per key in the jobs table (its `jobId` is `idem#...`, which no
//! job id is; it has no `owner` or wait attribute, so no index holds it).
//! A claim is one conditional PutItem; its TTL ends it after 24 hours.

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

/// The item's key: the user's length first, so no user and key pair can
/// spell another's.
fn item_key(user: &UserId, key: &str) -> String {
    format!("idem#{}#{}#{key}", user.as_str().len(), user.as_str())
}

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
        let id = item_key(&claim.user, &claim.key);
        let expires = claim.claimed_at.timestamp() + IDEMPOTENCY_WINDOW.as_secs() as i64;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("jobId", s(&id))
            .item("fingerprint", s(&claim.fingerprint))
            .item("claimedAt", n(claim.claimed_at.timestamp_millis()))
            .item(TTL, n(expires))
            // Free: never claimed, past the window (TTL deletes late), or
            // never finished by a function long dead.
            .condition_expression(
                "attribute_not_exists(jobId) OR claimedAt < :window \
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
            .key("jobId", s(&id))
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
        let id = item_key(user, key);
        match outcome {
            Some(o) => {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key("jobId", s(&id))
                    .update_expression("SET claimJob = :job, answer = :answer")
                    .condition_expression("attribute_exists(jobId)")
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
                    .key("jobId", s(&id))
                    .send()
                    .await
                    .map_err(sdk)?;
            }
        }
        Ok(())
    }
}
