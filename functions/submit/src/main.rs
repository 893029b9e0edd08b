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

use boomerang_aws::lambda::serve;
use boomerang_handlers::submit;
use lambda_runtime::Error;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    serve(
        |init| async move { init.uploads().await },
        |uploads, event: Value| async move { Ok::<_, Error>(submit::handle(&uploads, event).await?) },
    )
    .await
}
