//! The ports' conformance suite (`boomerang_e2e::conformance`) on the
//! DynamoDB and S3 adapters, each test on a fresh moto with the tables and
//! bucket as template.yaml defines them, built as every door builds them
//! (`Deployment::ports`).

use std::sync::Arc;

use boomerang_aws::tables::Tables;
use boomerang_aws::Deployment;
use boomerang_core::ports::SystemClock;
use boomerang_e2e::conformance::Stores;
use boomerang_e2e::Moto;

async fn dynamodb() -> Stores {
    let deployment = Deployment {
        tables: Tables::with_prefix("conformance"),
        bucket: "conformance-files".into(),
        connections_endpoint: "http://127.0.0.1:9/unused".into(),
        event_retention: boomerang_core::Limits::default().event_retention,
        job_retention: boomerang_core::Limits::default().job_retention,
    };
    let (moto, sdk) = Moto::with(&deployment).await;
    let processor = boomerang_http::HttpProcessor::new("http://127.0.0.1:9/").unwrap();
    let ports = deployment.ports(&sdk, Arc::new(processor), Arc::new(SystemClock));
    Stores {
        connections: ports.connections,
        jobs: ports.jobs,
        events: ports.events,
        idempotency: ports.idempotency,
        quota: ports.quota,
        files: ports.files,
        keep: Box::new(moto),
    }
}

boomerang_e2e::conformance_suite!(dynamodb());
