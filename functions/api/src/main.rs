//! `GET /jobs`, `/jobs/{id}`, `/events`: what a tab reads to catch up.

use boomerang_aws::lambda::{serve_http, Needs};
use boomerang_handlers::http;
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    serve_http(
        Needs {
            jwt_secret: true,
            ..Needs::default()
        },
        |app, req| async move { http::api(&app, req).await },
    )
    .await
}
