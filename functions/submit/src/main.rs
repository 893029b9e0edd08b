//! The submit Lambda. Two event sources, one job each:
//!
//! - S3's object-created notification for `uploads/direct/` (invoked
//!   asynchronously): the bytes of a presigned PUT are stored, so the job
//!   moves to `pending` and its file is streamed from S3 to the third
//!   party, with the contract's retries; `job.submitted` or `job.failed`
//!   is pushed. An error fails the invocation, and Lambda retries it.
//! - Its on-failure destination, an SQS queue: once Lambda's retries are
//!   spent, each record fails its job (if it still waits) and is pushed,
//!   instead of the job waiting for the sweep.

use std::sync::Arc;

use boomerang_aws::lambda::{boot, Needs};
use boomerang_handlers::{submit, SystemClock};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = boot(
        Needs {
            third_party: true,
            ..Needs::default()
        },
        Arc::new(SystemClock),
    )
    .await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let handled = submit::handle(app, event.payload).await;
        // This invocation's CloudWatch metrics, one log line.
        app.ports.metrics.flush();
        Ok::<_, Error>(handled?)
    }))
    .await
}
