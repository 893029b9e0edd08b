//! `POST /uploads`: stores the file in S3 and sends it to the third party.

use boomerang_aws::lambda::{serve_http, Needs};
use boomerang_handlers::http;
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let needs = Needs {
        jwt_secret: true,
        third_party: true,
        ..Needs::default()
    };
    serve_http(
        needs,
        |app, req| async move { http::upload(&app, req).await },
    )
    .await
}
