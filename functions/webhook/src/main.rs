//! `POST /webhooks/third-party`: verifies the signed result, saves it and
//! pushes it to every open tab of the job's owner.

use boomerang_aws::lambda::{serve_http, Needs};
use boomerang_handlers::http;
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    serve_http(
        Needs {
            webhook_secret: true,
            ..Needs::default()
        },
        |app, req| async move { http::webhook(&app, req).await },
    )
    .await
}
