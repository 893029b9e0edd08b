//! `$connect`: verifies the tab's token and stores connection id -> user.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest as WsEvent;
use boomerang_aws::lambda::{serve, Needs};
use boomerang_handlers::ws;
use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    serve(
        Needs {
            jwt_secret: true,
            ..Needs::default()
        },
        |app, event: WsEvent| async move { Ok::<_, Error>(ws::connect(&app, event).await) },
    )
    .await
}
