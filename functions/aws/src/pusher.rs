//! `ApiGatewayPusher`: sends a message down one WebSocket connection with
//! API Gateway's Management API (`POST /@connections/{id}`).
//!
//! - `GoneException` (410): the tab is gone, whatever `$disconnect` said;
//!   the core deletes exactly that connection's row.
//! - `LimitExceededException` (429: the account's post rate, or the tab's
//!   own buffer is full): retried with jittered exponential backoff by the
//!   SDK's standard retry strategy, which classes it as throttling.
//! - Anything else fails this connection only; the core goes on with the
//!   user's other connections and the event stays in the log.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::config::retry::RetryConfig;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_apigatewaymanagement::operation::delete_connection::DeleteConnectionError;
use aws_sdk_apigatewaymanagement::operation::get_connection::GetConnectionError;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::Client;
use boomerang_core::ports::{PushError, Pusher};
use boomerang_core::ConnectionId;

/// Attempts per post, the first included, when API Gateway throttles.
pub const PUSH_ATTEMPTS: u32 = 4;
/// The first retry's delay; the SDK doubles it (with jitter) per retry.
pub const PUSH_INITIAL_BACKOFF: Duration = Duration::from_millis(50);

#[derive(Clone, Debug)]
pub struct ApiGatewayPusher {
    client: Client,
}

impl ApiGatewayPusher {
    /// `endpoint` is the WebSocket API's stage URL,
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}` on AWS.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .timeout_config(crate::deployment::management_timeouts())
            .interceptor(crate::xray::XRayInterceptor)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(PUSH_ATTEMPTS)
                    .with_initial_backoff(PUSH_INITIAL_BACKOFF),
            )
            .build();
        Self {
            client: Client::from_conf(config),
        }
    }
}

#[async_trait]
impl Pusher for ApiGatewayPusher {
    async fn push(&self, conn: &ConnectionId, message: &str) -> Result<(), PushError> {
        let sent = self
            .client
            .post_to_connection()
            .connection_id(conn.as_str())
            .data(Blob::new(message.as_bytes()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                PostToConnectionError::GoneException(_) => Err(PushError::Gone),
                PostToConnectionError::LimitExceededException(_) => Err(PushError::Throttled),
                other => Err(failed(other)),
            },
        }
    }

    /// `DELETE /@connections/{id}`: API Gateway closes the socket (and runs
    /// `$disconnect`). Already gone is fine.
    async fn close(&self, conn: &ConnectionId) -> Result<(), PushError> {
        match self
            .client
            .delete_connection()
            .connection_id(conn.as_str())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                DeleteConnectionError::GoneException(_) => Ok(()),
                other => Err(failed(other)),
            },
        }
    }

    /// `GET /@connections/{id}`: 410 when the socket is gone.
    async fn probe(&self, conn: &ConnectionId) -> Result<(), PushError> {
        match self
            .client
            .get_connection()
            .connection_id(conn.as_str())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                GetConnectionError::GoneException(_) => Err(PushError::Gone),
                other => Err(failed(other)),
            },
        }
    }
}

/// A Management API error, with its code: the connection may still be there.
fn failed<E: ProvideErrorMetadata + std::error::Error>(e: E) -> PushError {
    let text = format!(
        "{}: {}",
        e.code().unwrap_or("error"),
        DisplayErrorContext(&e)
    );
    PushError::Failed(text.into())
}
