//! `$default`: answers what a tab sends (`ping`) on the two-way route;
//! touches no storage.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest as WsEvent;
use boomerang_aws::lambda::{serve, Needs};
use boomerang_handlers::ws;
use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    serve(
        Needs {
            stateless: true,
            ..Needs::default()
        },
        |app, event: WsEvent| async move { Ok::<_, Error>(ws::default(&app, event).await) },
    )
    .await
}
