//! `POST /uploads`: stores the file in S3 and sends it to the third party.

use boomerang_aws::lambda::serve_http;
use boomerang_handlers::http;
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    serve_http(
        |init| async move {
            let auth = init.authenticator().await?;
            Ok((auth, init.uploads().await?, init.idempotency()?))
        },
        |built, req| async move {
            let (auth, uploads, keys) = &*built;
            http::upload(auth, uploads, keys, req).await
        },
    )
    .await
}
