//! Running the Lambda bootstraps on this machine: `cargo lambda watch
//! --only-lambda-apis` (the Runtime and Invoke APIs), bootstraps polling it
//! with a Lambda-like environment, and API Gateway event fixtures from
//! `tests/fixtures/lambda`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use boomerang_aws::Deployment;
use serde_json::Value;

use crate::{free_port, wait_for_port, DEADLINE};

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A child process killed when the test ends.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cargo lambda watch --only-lambda-apis`: the Lambda Runtime API the
/// bootstraps poll, and the Invoke API the test calls.
pub async fn lambda_apis() -> (Process, u16) {
    let port = free_port();
    let venv_bin = root().join(".venv/bin");
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let child = crate::dies_with_test(&mut Command::new("cargo"))
        .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1"])
        .args(["-P", &port.to_string()])
        .current_dir(root())
        .env("PATH", path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cargo lambda (make test installs it into .venv)");
    let process = Process(child);
    wait_for_port(port, "cargo lambda watch").await;
    (process, port)
}

/// A Lambda's `bootstrap`: the workspace binary next to this test's.
pub fn debug_bootstrap(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (make test does)",
        bin.display()
    );
    bin
}

/// Stores the keys in Secrets Manager (moto), as the template's generated
/// secrets hold them; returns the token key's and the webhook key's ARNs.
pub async fn store_keys(
    sdk: &aws_config::SdkConfig,
    jwt_key: &str,
    webhook_key: &str,
) -> (String, String) {
    (
        store_secret(sdk, jwt_key).await,
        store_secret(sdk, webhook_key).await,
    )
}

/// Stores `value` as a plain secret (the third party's credentials);
/// returns its ARN.
pub async fn store_secret(sdk: &aws_config::SdkConfig, value: &str) -> String {
    let out = aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(format!(
            "boomerang-secret-{}",
            uuid::Uuid::new_v4().simple()
        ))
        .secret_string(value)
        .send()
        .await
        .expect("moto stores the secret");
    out.arn().expect("an ARN").to_owned()
}

/// What the references in template.yaml stand for on this machine.
pub struct Local<'a> {
    pub moto_url: &'a str,
    pub deployment: &'a Deployment,
    /// The Secrets Manager secrets holding the keys (see [`store_keys`]).
    pub jwt_secret_arn: String,
    pub webhook_secret_arn: String,
    pub third_party_url: String,
    pub callback_url: String,
    /// `ThirdPartyAuthSecretArn`, when the deployment sets one.
    pub third_party_auth_secret_arn: Option<String>,
}

/// The environment template.yaml gives function `logical_id` (its
/// `Globals` and its own variables), each `!Ref` resolved to its local
/// counterpart, plus what Lambda and the SDK read (region, credentials,
/// moto as the endpoint, JSON logs). A variable the template forgets is
/// missing here too, so the bootstraps fail as they would on AWS.
pub fn template_env(logical_id: &str, local: &Local) -> Vec<(String, String)> {
    let template: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(boomerang_local::emulator::provision::TEMPLATE)
            .expect("template.yaml");
    let vars = |v: Option<&serde_yaml_ng::Value>| -> serde_yaml_ng::Mapping {
        v.and_then(|v| v.get("Environment"))
            .and_then(|e| e.get("Variables"))
            .and_then(|v| v.as_mapping())
            .cloned()
            .unwrap_or_default()
    };
    let globals = vars(template.get("Globals").and_then(|g| g.get("Function")));
    let function = template["Resources"]
        .get(logical_id)
        .unwrap_or_else(|| panic!("template.yaml has no {logical_id}"));
    let own = vars(function.get("Properties"));
    let t = &local.deployment.tables;
    let refs = [
        ("ConnectionsTable", t.connections.clone()),
        ("JobsTable", t.jobs.clone()),
        ("EventsTable", t.events.clone()),
        ("IdempotencyTable", t.idempotency.clone()),
        ("QuotasTable", t.quotas.clone()),
        ("FilesBucket", local.deployment.bucket.clone()),
        ("ThirdPartyUrl", local.third_party_url.clone()),
        ("AWS::StackName", "boomerang-test".to_owned()),
    ];
    let mut env: Vec<(String, String)> = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_ENDPOINT_URL", local.moto_url),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        // What Lambda makes of LoggingConfig's ApplicationLogLevel (the
        // LogLevel parameter's default).
        ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (key, value) in globals.iter().chain(own.iter()) {
        let key = key.as_str().expect("variable names are strings").to_owned();
        // `!If [WithStub, !Ref StubSecret, !If [HasThirdPartyAuth, ...,
        // !Ref AWS::NoValue]]`: set or absent (the stub's is always set).
        if key == "BOOMERANG_THIRD_PARTY_AUTH_SECRET_ARN" {
            if let Some(arn) = &local.third_party_auth_secret_arn {
                env.push((key, arn.clone()));
            }
            continue;
        }
        let resolved = match value {
            serde_yaml_ng::Value::String(s) => s.clone(),
            serde_yaml_ng::Value::Tagged(t) if t.tag == "!Ref" => {
                let name = t.value.as_str().unwrap_or_default();
                refs.iter()
                    .find(|(r, _)| *r == name)
                    .map(|(_, v)| v.clone())
                    // Otherwise a parameter's default, as a deploy without it gets.
                    .or_else(|| match &template["Parameters"][name]["Default"] {
                        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
                        serde_yaml_ng::Value::String(s) => Some(s.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| panic!("{logical_id} {key}: no local value for !Ref {name}"))
            }
            // The URLs the template builds with !Sub and !If.
            _ => match key.as_str() {
                "BOOMERANG_WS_ENDPOINT" => local.deployment.connections_endpoint.clone(),
                "BOOMERANG_CALLBACK_URL" => local.callback_url.clone(),
                // `!If [WithStub, <the stub's route>, !Ref ThirdPartyUrl]`.
                "BOOMERANG_THIRD_PARTY_URL" => local.third_party_url.clone(),
                "BOOMERANG_JWT_SECRET_ARN" => local.jwt_secret_arn.clone(),
                "BOOMERANG_WEBHOOK_SECRET_ARN" => local.webhook_secret_arn.clone(),
                // No identity provider: the template's defaults.
                "BOOMERANG_JWT_ISSUER" | "BOOMERANG_JWT_AUDIENCE" => String::new(),
                _ => panic!("{logical_id} {key}: no local value for {value:?}"),
            },
        };
        env.retain(|(k, _)| *k != key);
        env.push((key, resolved));
    }
    env
}

/// Starts `bin` polling the emulator as function `name`, with a
/// Lambda-like environment (nothing inherited), logging into `log`.
pub fn start_function(
    bin: &Path,
    name: &str,
    port: u16,
    env: &[(String, String)],
    log: &Path,
) -> Process {
    let out = std::fs::File::create(log).expect("log file");
    let child = crate::dies_with_test(&mut Command::new(bin))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{port}/.rt/{name}"),
        )
        .stdout(out.try_clone().expect("log file"))
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    Process(child)
}

/// A fixture from tests/fixtures/lambda with its `{{PLACEHOLDERS}}` filled.
pub fn fixture(name: &str, fill: &[(&str, String)]) -> Value {
    let path = root().join(format!("tests/fixtures/lambda/{name}.json"));
    let mut text = std::fs::read_to_string(&path).expect("fixture");
    let now = chrono::Utc::now().timestamp_millis().to_string();
    text = text.replace("{{NOW_MS}}", &now);
    for (key, value) in fill {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    assert!(
        !text.contains("{{"),
        "{name}: a placeholder is left: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Invokes function `name` through the emulator's Invoke API.
pub async fn invoke(http: &reqwest::Client, port: u16, name: &str, event: &Value) -> Value {
    let res = http
        .post(format!(
            "http://127.0.0.1:{port}/2015-03-31/functions/{name}/invocations"
        ))
        .json(event)
        .timeout(DEADLINE)
        .send()
        .await
        .unwrap_or_else(|e| panic!("invoking {name}: {e}"));
    let status = res.status();
    let body = res.text().await.unwrap();
    assert!(status.is_success(), "{name} failed: {status} {body}");
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{name} answered {body}"))
}
