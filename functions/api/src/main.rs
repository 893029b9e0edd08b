//! `GET /jobs`, `/jobs/{id}`, `/events`: what a tab reads to catch up.

use boomerang_aws::lambda::serve_http;
use boomerang_handlers::http;
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    serve_http(
        |init| async move { Ok((init.authenticator().await?, init.queries()?)) },
        |built, req| async move {
            let (auth, queries) = &*built;
            http::api(auth, queries, req).await
        },
    )
    .await
}
