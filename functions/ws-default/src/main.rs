//! `$default`: answers what a tab sends (`ping`) on the two-way route;
//! touches no storage.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use boomerang_aws::lambda::{boot, Needs};
use boomerang_handlers::{ws, SystemClock};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = boot(
        Needs {
            stateless: true,
            ..Needs::default()
        },
        Arc::new(SystemClock),
    )
    .await?;
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            Ok::<_, Error>(ws::default(app, event.payload).await)
        },
    ))
    .await
}
