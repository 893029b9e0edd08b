//! moto server: DynamoDB and S3 over their real wire protocols, one server
//! per test, from the virtualenv `make test` installs.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use boomerang_aws::Deployment;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

pub struct Moto {
    child: Child,
    pub url: String,
    /// The access key pair clients of this server sign with.
    credentials: Mutex<(String, String)>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts `tools/moto_server.py` (moto one request at a time: that file
    /// says why) on a free port and waits until it answers HTTP. A port
    /// can be taken between being found free and moto binding it (moto
    /// then exits, and a bare connect may even reach itself): then it
    /// starts again on another.
    pub async fn start() -> Moto {
        let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
        let python = python_path();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(2))
            .build()
            .unwrap();
        for _ in 0..5 {
            let port = crate::free_port();
            let child = crate::dies_with_test(&mut Command::new(python_path()))
                .arg(format!("{root}/tools/moto_server.py"))
                .arg("127.0.0.1")
                .arg(port.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start moto with {python} ({e}): `make test` installs it into .venv"
                    )
                });
            let mut moto = Moto {
                child,
                url: format!("http://127.0.0.1:{port}"),
                credentials: Mutex::new(("test".into(), "test".into())),
            };
            if moto.answers(&http).await {
                return moto;
            }
        }
        panic!("moto server did not start on any of five ports");
    }

    /// Waits until this server answers moto's own API, or its process
    /// has exited (its port was taken): whether it answers.
    async fn answers(&mut self, http: &reqwest::Client) -> bool {
        let started = tokio::time::Instant::now();
        let api = format!("{}/moto-api/data.json", self.url);
        while started.elapsed() < crate::DEADLINE {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            if let Ok(r) = http.get(&api).send().await {
                if r.status().is_success() {
                    return true;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    }

    /// An SDK configuration that sends every service to this server.
    pub async fn sdk_config(&self) -> SdkConfig {
        let (key, secret) = self.lock().clone();
        sdk_config_with(&self.url, &key, &secret).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (String, String)> {
        self.credentials.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives each function of template.yaml an IAM user holding only its
    /// policy, and turns on moto's IAM enforcement, with `deployment`'s
    /// tables and indexes checked by `tools/moto_server.py` (moto checks
    /// DynamoDB actions alone: `tools/moto_iam.py` says how its checks
    /// differ from AWS's). From then on this server's own clients sign as
    /// an admin user. Returns each function's key pair by logical id
    /// (`UploadFunction`).
    pub fn enforce_iam(&self, deployment: &Deployment) -> HashMap<String, (String, String)> {
        let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
        let t = &deployment.tables;
        let out = Command::new(python_path())
            .arg(format!("{root}/tools/moto_iam.py"))
            .arg(&self.url)
            .arg(format!("{root}/template.yaml"))
            .arg(&deployment.bucket)
            .arg(format!("ConnectionsTable={}", t.connections))
            .arg(format!("JobsTable={}", t.jobs))
            .arg(format!("EventsTable={}", t.events))
            .arg(format!("IdempotencyTable={}", t.idempotency))
            .arg(format!("QuotasTable={}", t.quotas))
            .output()
            .expect("tools/moto_iam.py runs");
        assert!(
            out.status.success(),
            "moto_iam.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let keys: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&out.stdout).expect("keys as JSON");
        let mut pairs: HashMap<String, (String, String)> = keys
            .into_iter()
            .map(|(name, k)| {
                let id = k["AccessKeyId"].as_str().unwrap_or_default().to_owned();
                let secret = k["SecretAccessKey"].as_str().unwrap_or_default().to_owned();
                (name, (id, secret))
            })
            .collect();
        *self.lock() = pairs.remove("admin").expect("an admin key");
        pairs
    }

    /// A fresh moto holding `deployment`'s tables and bucket, created as
    /// template.yaml defines them, and an SDK configuration for it.
    pub async fn with(deployment: &Deployment) -> (Moto, SdkConfig) {
        let moto = Moto::start().await;
        let sdk = moto.sdk_config().await;
        boomerang_local::emulator::provision::create_resources(&sdk, deployment)
            .await
            .expect("tables and bucket created in moto");
        (moto, sdk)
    }
}

/// An SDK configuration that sends every service to `url`, with test
/// credentials (nothing local checks them).
pub async fn sdk_config_for(url: &str) -> SdkConfig {
    sdk_config_with(url, "test", "test").await
}

pub async fn sdk_config_with(url: &str, key: &str, secret: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            key, secret, None, None, "moto",
        ))
        .load()
        .await
}

/// The virtualenv's Python (`make test` installs moto there).
fn python_path() -> String {
    std::env::var("BOOMERANG_TEST_PYTHON")
        .unwrap_or_else(|_| format!("{}/../.venv/bin/python", env!("CARGO_MANIFEST_DIR")))
}
