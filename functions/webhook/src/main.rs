//! `POST /webhooks/third-party`: verifies the signed result, saves it and
//! pushes it to every open tab of the job's owner.

use std::sync::Arc;

use boomerang_aws::lambda::{boot, Needs};
use boomerang_handlers::{http, SystemClock};
use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = boot(
        Needs {
            webhook_secret: true,
            ..Needs::default()
        },
        Arc::new(SystemClock),
    )
    .await?;
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        let response = http::webhook(app, req).await;
        // This invocation's CloudWatch metrics, one log line.
        app.ports.metrics.flush();
        Ok::<_, Error>(response)
    }))
    .await
}
