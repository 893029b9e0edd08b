//! Adapters to the services Boomerang uses when deployed on AWS: DynamoDB
//! for connections, jobs, and event logs; S3 for files and
//! oversized results; the API Gateway Management API pusher; the HTTP
//! third-party client, which the local stack shares; and what every
//! Lambda does at init.

mod deployment;
pub mod dynamo;
pub mod emf;
mod http_processor;
pub mod jwks;
pub mod lambda;
mod pusher;
pub mod s3;
pub mod secrets;
pub mod tables;
pub mod xray;

pub use deployment::{dynamo_client, s3_client, Deployment};
pub use dynamo::{DynamoConnectionStore, DynamoEventLog, DynamoJobStore};
pub use emf::EmfMetrics;
pub use http_processor::HttpProcessor;
pub use jwks::JwksCache;
pub use pusher::{ApiGatewayPusher, PUSH_ATTEMPTS};
pub use s3::S3FileStore;
