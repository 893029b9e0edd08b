//! `GET /jobs`, `/jobs/{id}`, `/events`: what a tab reads to catch up.

use std::sync::Arc;

use boomerang_aws::lambda::{boot, Needs};
use boomerang_handlers::{http, SystemClock};
use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = boot(
        Needs {
            jwt_secret: true,
            ..Needs::default()
        },
        Arc::new(SystemClock),
    )
    .await?;
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(http::api(app, req).await)
    }))
    .await
}
