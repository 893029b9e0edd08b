//! DynamoDB adapters for the core's ports.

mod connections;
mod events;
mod idempotency;
mod jobs;
mod quota;

pub use connections::DynamoConnectionStore;
pub use events::DynamoEventLog;
pub use idempotency::DynamoIdempotencyKeys;
pub use jobs::{DynamoJobStore, MAX_INLINE_RESULT_BYTES};
pub use quota::DynamoUploadQuota;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;
use boomerang_core::Error;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, key: &str) -> Result<&'a str, Error> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| corrupt(key))
}

pub(crate) fn get_opt_s<'a>(item: &'a Item, key: &str) -> Option<&'a str> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub(crate) fn get_n<T: std::str::FromStr>(item: &Item, key: &str) -> Result<T, Error> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| corrupt(key))
}

fn corrupt(key: &str) -> Error {
    Error::internal(format!("stored item lacks a valid {key:?}"))
}

/// An SDK error, for logs only: `Internal` never reaches a client.
pub(crate) fn sdk<E: std::error::Error + Send + Sync + 'static>(e: E) -> Error {
    Error::internal(e)
}

/// `BatchGetItem` takes at most 100 keys.
const BATCH_GET_KEYS: usize = 100;

/// The jobs `table` holds under these ids (each asked once), by id, read
/// strongly: what a list, the sweep and a catch-up join their keys with.
pub(crate) async fn jobs_by_id<'a>(
    client: &Client,
    table: &str,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, Item>, Error> {
    let mut ids: Vec<&str> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut found = HashMap::new();
    for batch in ids.chunks(BATCH_GET_KEYS) {
        let keys = batch
            .iter()
            .map(|id| HashMap::from([("jobId".to_owned(), s(*id))]))
            .collect();
        for item in batch_get(client, table, keys).await? {
            if let Some(id) = get_opt_s(&item, "jobId") {
                found.insert(id.to_owned(), item);
            }
        }
    }
    Ok(found)
}

/// Every item at these keys of `table` (strongly consistent), asking
/// again for what DynamoDB left unprocessed.
async fn batch_get(
    client: &Client,
    table: &str,
    keys: Vec<HashMap<String, AttributeValue>>,
) -> Result<Vec<Item>, Error> {
    let mut items = Vec::new();
    let mut pending = Some(
        KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(Error::internal)?,
    );
    let mut attempt = 0u32;
    while let Some(ask) = pending.take() {
        if ask.keys().is_empty() {
            break;
        }
        if attempt > 0 {
            // Throttled: back off, with jitter, before asking again.
            let cap = 10u64 << attempt.min(6);
            tokio::time::sleep(std::time::Duration::from_millis(rand::random_range(
                0..=cap,
            )))
            .await;
        }
        attempt += 1;
        if attempt > 10 {
            return Err(Error::internal(
                "BatchGetItem left keys unprocessed ten times",
            ));
        }
        let out = client
            .batch_get_item()
            .request_items(table, ask)
            .send()
            .await
            .map_err(sdk)?;
        if let Some(mut got) = out.responses {
            items.extend(got.remove(table).unwrap_or_default());
        }
        pending = out.unprocessed_keys.and_then(|mut u| u.remove(table));
    }
    Ok(items)
}
