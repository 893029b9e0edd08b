//! DynamoDB adapters for the core's ports.

mod connections;
mod events;
mod jobs;

pub use connections::DynamoConnectionStore;
pub use events::{DynamoEventLog, CHUNK};
pub use jobs::{DynamoJobStore, MAX_INLINE_RESULT_BYTES};

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
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
    Error::internal(aws_sdk_dynamodb::error::DisplayErrorContext(e))
}
