//! `$disconnect`: forgets the connection. API Gateway delivers it only
//! best-effort; a push's 410 cleans up the rows it misses.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest as WsEvent;
use boomerang_aws::lambda::serve;
use boomerang_handlers::ws;
use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    serve(
        |init| async move { init.connections() },
        |conns, event: WsEvent| async move { Ok::<_, Error>(ws::disconnect(&conns, event).await) },
    )
    .await
}
