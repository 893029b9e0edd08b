//! The sweep, run by an EventBridge schedule once a minute: every job that
//! waited longer than `BOOMERANG_JOB_TIMEOUT_SECS` for the third party
//! fails and its owner's tabs are told. Jobs are found through the jobs
//! table's sparse `waiting` index (one Query per shard, never a Scan).
//! Old events and jobs need nothing here: DynamoDB's TTL deletes them.

use boomerang_aws::lambda::serve;
use lambda_runtime::Error;
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The scheduled event's content does not matter: the time is ours.
    serve(
        |init| async move { init.sweeper() },
        |sweeper, _: Value| async move {
            let swept = sweeper.sweep().await?;
            Ok::<_, Error>(json!({
                "timedOut": swept.timed_out,
                "uploadsExpired": swept.uploads_expired,
                "skipped": swept.skipped,
            }))
        },
    )
    .await
}
