//! `POST /webhooks/third-party`: verifies the signed result, saves it and
//! pushes it to every open tab of the job's owner.

use boomerang_aws::lambda::serve_http;
use boomerang_handlers::http;
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    serve_http(
        |init| async move { init.webhooks().await },
        |webhooks, req| async move { http::webhook(&webhooks, req).await },
    )
    .await
}
