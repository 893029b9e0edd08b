//! `$default`: answers what a tab sends (`ping`) on the two-way route;
//! needs no storage, no key and no configuration.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest as WsEvent;
use boomerang_handlers::ws;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|event: LambdaEvent<WsEvent>| async move {
        Ok::<_, Error>(ws::default(event.payload))
    }))
    .await
}
