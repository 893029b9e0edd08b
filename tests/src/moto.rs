//! moto server: DynamoDB and S3 over their real wire protocols, one server
//! per test, from the virtualenv `make test` installs.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use boomerang_aws::Deployment;
use std::process::{Child, Command, Stdio};

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts `tools/moto_server.py` (moto one request at a time: that file
    /// says why) on a free port and waits until it answers.
    pub async fn start() -> Moto {
        let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
        let python = std::env::var("BOOMERANG_TEST_PYTHON")
            .unwrap_or_else(|_| format!("{root}/.venv/bin/python"));
        let port = crate::free_port();
        let child = Command::new(&python)
            .arg(format!("{root}/tools/moto_server.py"))
            .arg("127.0.0.1")
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start moto with {python} ({e}): `make test` installs it into .venv")
            });
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        crate::wait_for_port(port, "moto server").await;
        moto
    }

    /// An SDK configuration that sends every service to this server.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.url).await
    }

    /// A fresh moto holding `deployment`'s tables and bucket, created as
    /// template.yaml defines them, and an SDK configuration for it.
    pub async fn with(deployment: &Deployment) -> (Moto, SdkConfig) {
        let moto = Moto::start().await;
        let sdk = moto.sdk_config().await;
        boomerang_local::provision::create_resources(&sdk, deployment)
            .await
            .expect("tables and bucket created in moto");
        (moto, sdk)
    }
}

/// An SDK configuration that sends every service to `url`, with test
/// credentials (nothing local checks them).
pub async fn sdk_config_for(url: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .load()
        .await
}
