//! One deployment's AWS resources, and the core's ports built on them.
//! The Lambdas build this once at init from their environment; the local
//! stack builds it from its flags with `BOOMERANG_BACKEND=aws`.

use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use boomerang_core::ports::{Clock, Processor};
use boomerang_core::Ports;

use crate::tables::Tables;
use crate::{
    ApiGatewayPusher, DynamoConnectionStore, DynamoEventLog, DynamoIdempotencyKeys, DynamoJobStore,
    DynamoUploadQuota, S3FileStore,
};

/// How long the SDK may take, per client: a call to a slow or unreachable
/// service fails in time instead of running into the function's timeout
/// (29 s for an upload, inside API Gateway's 30 s) with a job half-moved.
/// DynamoDB answers in milliseconds: an attempt gets 2 s, the SDK's three
/// attempts with their backoff 5 s.
pub fn dynamo_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(5))
        .build()
}

/// S3 moves files (4 MiB through a PUT, results up to 1 MiB): an attempt
/// gets 8 s, all of them 15 s. A streamed GetObject's body is read after
/// the operation returns, at the reader's pace: the hand-over to the
/// third party bounds it.
pub fn s3_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(8))
        .operation_timeout(Duration::from_secs(15))
        .build()
}

/// API Gateway's Management API: one small message. An attempt gets 2 s;
/// all of them (throttled pushes are retried) 6 s.
pub fn management_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(6))
        .build()
}

/// A DynamoDB client with `dynamo_timeouts`.
pub fn dynamo_client(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .timeout_config(dynamo_timeouts())
            .interceptor(crate::xray::XRayInterceptor)
            .build(),
    )
}

/// Where one deployment keeps things.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub tables: Tables,
    /// Uploads under `uploads/`, oversized results under `results/`.
    pub bucket: String,
    /// The WebSocket API stage's Management API endpoint,
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`.
    pub connections_endpoint: String,
    /// How long events are kept (`BOOMERANG_EVENT_RETENTION_SECS`): their
    /// DynamoDB TTL.
    pub event_retention: std::time::Duration,
    /// How long a finished job and its result are kept
    /// (`BOOMERANG_JOB_RETENTION_DAYS`): the job's DynamoDB TTL; S3's
    /// lifecycle ends its result copy.
    pub job_retention: std::time::Duration,
}

impl Deployment {
    /// Who is connected, in the connections table.
    pub fn connection_store(&self, dynamo: &aws_sdk_dynamodb::Client) -> DynamoConnectionStore {
        DynamoConnectionStore::new(dynamo.clone(), &self.tables.connections)
    }

    /// Jobs in the jobs table, their events in the events table, results
    /// too large for an item in `files` (the bucket).
    pub fn job_store(
        &self,
        dynamo: &aws_sdk_dynamodb::Client,
        files: S3FileStore,
        clock: Arc<dyn Clock>,
    ) -> DynamoJobStore {
        DynamoJobStore::new(
            dynamo.clone(),
            &self.tables.jobs,
            &self.tables.events,
            files,
            self.event_retention,
        )
        .with_job_retention(self.job_retention)
        .with_clock(clock)
    }

    /// The events table, read.
    pub fn event_log(
        &self,
        dynamo: &aws_sdk_dynamodb::Client,
        clock: Arc<dyn Clock>,
    ) -> DynamoEventLog {
        DynamoEventLog::new(dynamo.clone(), &self.tables.events, self.event_retention)
            .with_clock(clock)
    }

    /// Uploads per user and minute, in the quotas table.
    pub fn upload_quota(&self, dynamo: &aws_sdk_dynamodb::Client) -> DynamoUploadQuota {
        DynamoUploadQuota::new(dynamo.clone(), &self.tables.quotas)
    }

    /// Idempotency keys, in their own table.
    pub fn idempotency_keys(&self, dynamo: &aws_sdk_dynamodb::Client) -> DynamoIdempotencyKeys {
        DynamoIdempotencyKeys::new(dynamo.clone(), &self.tables.idempotency)
    }

    pub fn file_store(&self, sdk: &SdkConfig) -> S3FileStore {
        S3FileStore::new(s3_client(sdk), &self.bucket)
    }

    /// Pushes through the WebSocket stage's Management API.
    pub fn pusher(&self, sdk: &SdkConfig) -> ApiGatewayPusher {
        ApiGatewayPusher::new(sdk, &self.connections_endpoint)
    }

    /// Every port, for a door that serves every use case (the local stack
    /// with `BOOMERANG_BACKEND=aws`, tests). Builds the SDK clients; no
    /// request is made until a port is used.
    pub fn ports(
        &self,
        sdk: &SdkConfig,
        processor: Arc<dyn Processor>,
        clock: Arc<dyn Clock>,
    ) -> Ports {
        let (dynamo, files) = (dynamo_client(sdk), self.file_store(sdk));
        Ports {
            connections: Arc::new(self.connection_store(&dynamo)),
            jobs: Arc::new(self.job_store(&dynamo, files.clone(), clock.clone())),
            events: Arc::new(self.event_log(&dynamo, clock.clone())),
            files: Arc::new(files),
            idempotency: Arc::new(self.idempotency_keys(&dynamo)),
            quota: Arc::new(self.upload_quota(&dynamo)),
            pusher: Arc::new(self.pusher(sdk)),
            processor,
            clock,
            issuer_keys: None,
        }
    }
}

/// An S3 client with `s3_timeouts`. Against a configured endpoint (`AWS_ENDPOINT_URL`,
/// `AWS_ENDPOINT_URL_S3`: moto, MinIO, LocalStack) buckets go in the path,
/// since `bucket.127.0.0.1` does not resolve.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let custom_endpoint =
        sdk.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(custom_endpoint)
            .timeout_config(s3_timeouts())
            .interceptor(crate::xray::XRayInterceptor)
            .build(),
    )
}
