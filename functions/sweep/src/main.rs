//! The sweep, run by an EventBridge schedule once a minute: every job that
//! waited longer than `BOOMERANG_JOB_TIMEOUT_SECS` for the third party
//! fails and its owner's tabs are told. Jobs are found through the jobs
//! table's sparse `waiting` index (one Query per shard, never a Scan).
//! Old events need nothing here: DynamoDB's TTL deletes them.

use std::sync::Arc;

use boomerang_aws::lambda::{boot, Needs};
use boomerang_handlers::SystemClock;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = boot(Needs::default(), Arc::new(SystemClock)).await?;
    let app = &app;
    // The scheduled event's content does not matter: the time is ours.
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let swept = app.sweep().await;
        app.ports.metrics.flush();
        let swept = swept?;
        Ok::<_, Error>(json!({
            "timedOut": swept.timed_out,
            "eventsForgotten": swept.events_forgotten,
            "skipped": swept.skipped,
        }))
    }))
    .await
}
