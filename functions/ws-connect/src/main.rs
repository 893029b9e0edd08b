//! `$connect`: verifies the tab's token and stores connection id -> user.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest as WsEvent;
use boomerang_aws::lambda::serve;
use boomerang_handlers::ws;
use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    serve(
        |init| async move { Ok((init.authenticator().await?, init.connections()?)) },
        |built, event: WsEvent| async move {
            let (auth, conns) = &*built;
            Ok::<_, Error>(ws::connect(auth, conns, event).await)
        },
    )
    .await
}
