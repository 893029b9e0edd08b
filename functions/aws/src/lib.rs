//! Adapters to the services Boomerang uses when deployed on AWS: DynamoDB
//! for connections, jobs, event logs and webhook dedupe; S3 for files and
//! oversized results; and the HTTP third-party client, which the local
//! stack shares.

pub mod dynamo;
mod http_processor;
pub mod s3;
pub mod tables;

pub use dynamo::{DynamoConnectionStore, DynamoDeliveryLog, DynamoEventLog, DynamoJobStore};
pub use http_processor::{HttpProcessor, DEFAULT_TIMEOUT};
pub use s3::S3FileStore;
