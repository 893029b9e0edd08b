//! Adapters to the services Boomerang uses when deployed on AWS: DynamoDB
//! for connections, jobs, and event logs; S3 for files and oversized
//! results; the API Gateway Management API pusher; and what every Lambda
//! does at init and per invocation.

mod deployment;
pub mod dynamo;
pub mod lambda;
mod pusher;
pub mod s3;
pub mod secrets;
pub mod tables;
pub mod xray;

pub use deployment::{dynamo_client, s3_client, Deployment};
pub use dynamo::{
    DynamoConnectionStore, DynamoEventLog, DynamoIdempotencyKeys, DynamoJobStore, DynamoUploadQuota,
};
pub use pusher::{ApiGatewayPusher, PUSH_ATTEMPTS};
pub use s3::S3FileStore;
