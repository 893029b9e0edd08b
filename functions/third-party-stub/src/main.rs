//! The stub third party's Lambda (`ThirdPartyStub=true`, development
//! only): `POST /stub/third-party` on the stack's own HTTP API.

use boomerang_aws::lambda::serve_http;
use boomerang_core::auth::Secret;
use boomerang_handlers::json_response;
use boomerang_third_party_stub::{StubSettings, ThirdPartyStub};
use lambda_http::{Body, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    serve_http(
        |init| async move {
            let (key, authorization, callback_url) = init.stub_settings().await?;
            Ok(ThirdPartyStub::new(StubSettings {
                key,
                authorization: Secret::new(authorization.into_bytes()),
                callback_url,
            }))
        },
        |stub, req| async move {
            let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
            let body = match req.body() {
                Body::Binary(b) => bytes::Bytes::copy_from_slice(b),
                Body::Text(t) => bytes::Bytes::copy_from_slice(t.as_bytes()),
                Body::Empty => bytes::Bytes::new(),
                _ => bytes::Bytes::new(),
            };
            let answer = stub
                .take(header("authorization"), header("content-type"), body)
                .await;
            json_response(answer.status, &answer.body)
        },
    )
    .await
}
