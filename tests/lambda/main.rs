//! The eight Lambda binaries themselves (their real `main.rs`: init from the
//! environment, the runtime loop, JSON logs), run under `cargo lambda watch
//! --only-lambda-apis` (the Lambda Runtime API emulator) and invoked with
//! API Gateway event fixtures. They talk to moto for DynamoDB and S3 and to
//! the local gateway's Management API, where a real tab listens. Each runs
//! with the environment template.yaml gives it and signs as an IAM user
//! holding only its template.yaml policy, with moto enforcing IAM (and
//! `tools/moto_server.py` the tables and indexes of each DynamoDB call).
//!
//! `make test` builds the binaries (`cargo build --workspace --bins`) and
//! installs cargo-lambda into `.venv` before this runs.

use base64::Engine;
use boomerang_aws::tables::Tables;
use boomerang_aws::Deployment;
use boomerang_e2e::lambda::{
    debug_bootstrap, fixture, invoke, lambda_apis, start_function, store_keys, store_secret,
    template_env, Local, Process,
};
use std::sync::Arc;

use boomerang_e2e::{sign, spawn_on_moto, FakeThirdParty, Mode, Moto, TestApp};
use serde_json::Value;

/// What function `logical_id` gets from template.yaml, pointed at moto, the
/// local gateway and the test's third party.
fn env_for(
    app: &TestApp,
    tp: &FakeThirdParty,
    arns: &(String, String, String),
    logical_id: &str,
) -> Vec<(String, String)> {
    let c = &app.stack.config;
    let moto = app.moto.as_ref().expect("the aws backend runs on moto");
    let deployment = Deployment {
        tables: Tables::with_prefix(&c.table_prefix),
        bucket: c.bucket.clone(),
        connections_endpoint: format!("{}/local", app.stack.http_url()),
        event_retention: boomerang_core::Limits::default().event_retention,
        job_retention: boomerang_core::Limits::default().job_retention,
    };
    let local = Local {
        moto_url: &moto.url,
        deployment: &deployment,
        jwt_secret_arn: arns.0.clone(),
        webhook_secret_arn: arns.1.clone(),
        third_party_url: tp.url(),
        callback_url: app.stack.callback_url.clone(),
        third_party_auth_secret_arn: Some(arns.2.clone()),
    };
    template_env(logical_id, &local)
}

fn body_json(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("a text body")).expect("a JSON body")
}

/// The functions, by binary and by template.yaml logical id.
const FUNCTIONS: [(&str, &str); 8] = [
    ("ws-connect", "WsConnectFunction"),
    ("ws-disconnect", "WsDisconnectFunction"),
    ("ws-default", "WsDefaultFunction"),
    ("upload", "UploadFunction"),
    ("webhook", "WebhookFunction"),
    ("api", "ApiFunction"),
    ("sweep", "SweepFunction"),
    ("submit", "SubmitFunction"),
];

/// What each bootstrap test runs against.
struct Stack {
    app: TestApp,
    tp: FakeThirdParty,
    /// The token key's, the webhook key's and the hand-over credentials'
    /// secrets.
    arns: (String, String, String),
    /// Each function's IAM user: its template.yaml policy alone.
    keys: std::collections::HashMap<String, (String, String)>,
}

impl Stack {
    /// What function `logical_id` runs with: its template.yaml environment,
    /// pointed here, signing as its IAM user.
    fn env_of(&self, logical_id: &str) -> Vec<(String, String)> {
        let mut env = env_for(&self.app, &self.tp, &self.arns, logical_id);
        let (key, secret) = self.keys[logical_id].clone();
        env.push(("AWS_ACCESS_KEY_ID".into(), key));
        env.push(("AWS_SECRET_ACCESS_KEY".into(), secret));
        env
    }
}

/// Moto with the tables and bucket, enforcing IAM: each function signs as
/// a user holding only its template.yaml policy; the local gateway on it,
/// a silent third party, and the stack's keys in Secrets Manager, where
/// the functions read them.
async fn stack() -> Stack {
    let defaults = boomerang_local::Config::with_data_dir("unused");
    let deployment = Deployment {
        tables: Tables::with_prefix(&defaults.table_prefix),
        bucket: defaults.bucket.clone(),
        connections_endpoint: "unused".into(),
        event_retention: boomerang_core::Limits::default().event_retention,
        job_retention: boomerang_core::Limits::default().job_retention,
    };
    let (moto, _) = Moto::with(&deployment).await;
    let keys = moto.enforce_iam(&deployment);
    let moto = Arc::new(moto);
    let tp = FakeThirdParty::start(Mode::Silent).await;
    let tp_url = tp.url();
    // (Moto::with made the tables and bucket; the submit bootstrap, not the
    // stack, takes S3's events here.)
    let app = spawn_on_moto(moto, |c| {
        c.shared.third_party_url = Some(tp_url);
        c.create_resources = false;
    })
    .await;
    let admin = app.moto.as_ref().expect("moto").sdk_config().await;
    let jwt_key = String::from_utf8(app.jwt_secret().to_vec()).expect("a text key");
    let (jwt_arn, webhook_arn) = store_keys(&admin, &jwt_key, &app.stack.webhook_secret).await;
    // The third party's credentials, as ThirdPartyAuthSecretArn names (or,
    // with ThirdPartyStub, the stub's own).
    let auth_arn = store_secret(&admin, "Bearer sk_test_lambda").await;
    Stack {
        app,
        tp,
        arns: (jwt_arn, webhook_arn, auth_arn),
        keys,
    }
}

#[tokio::test]
async fn the_eight_bootstraps_carry_jobs_from_connect_to_a_pushed_result_or_timeout_with_only_their_own_permissions(
) {
    // GIVEN moto enforcing IAM, the local gateway on it, a silent third
    // party, the stack's keys in Secrets Manager, the Lambda APIs emulator
    // and the eight bootstraps (the sweep with a 1 s job timeout)
    let stack = stack().await;
    let Stack { app, tp, keys, .. } = &stack;
    let (_apis, port) = lambda_apis().await;
    let logs = tempfile::tempdir().unwrap();
    let names = FUNCTIONS.map(|(name, _)| name);
    let _functions: Vec<Process> = FUNCTIONS
        .iter()
        .map(|(n, logical_id)| {
            let log = logs.path().join(format!("{n}.log"));
            let mut env = stack.env_of(logical_id);
            if *n == "sweep" {
                env.retain(|(k, _)| k != "BOOMERANG_JOB_TIMEOUT_SECS");
                env.push(("BOOMERANG_JOB_TIMEOUT_SECS".into(), "1".into()));
            }
            start_function(&debug_bootstrap(n), n, port, &env, &log)
        })
        .collect();
    let http = reqwest::Client::new();
    let token = app.token("alice");

    // WHEN ws-connect gets a bad token, then alice's
    let refused = fixture(
        "ws-connect",
        &[
            ("TOKEN", "nope".into()),
            ("CONNECTION_ID", "Refused000000=".into()),
        ],
    );
    assert_eq!(
        invoke(&http, port, "ws-connect", &refused).await["statusCode"],
        401
    );
    let stale = fixture(
        "ws-connect",
        &[
            ("TOKEN", token.clone()),
            ("CONNECTION_ID", "StaleTab0000=".into()),
        ],
    );
    assert_eq!(
        invoke(&http, port, "ws-connect", &stale).await["statusCode"],
        200
    );
    // THEN only alice's connection is stored, under alice
    assert_eq!(app.connection_ids("alice").await, ["StaleTab0000="]);

    // WHEN ws-default gets a ping
    let ping = fixture("ws-default", &[("CONNECTION_ID", "StaleTab0000=".into())]);
    let pong = invoke(&http, port, "ws-default", &ping).await;
    // THEN the two-way route's answer is the pong
    assert_eq!(body_json(&pong)["type"], "pong");

    // GIVEN a real tab of alice's on the gateway (StaleTab0000= is no socket)
    let mut tab = app.tab("alice").await;

    // WHEN upload gets a multipart file
    let boundary = "----boomerangfixture";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nhello from a fixture\r\n--{boundary}--\r\n"
    );
    let upload = fixture(
        "upload",
        &[
            ("TOKEN", token.clone()),
            ("BOUNDARY", boundary.into()),
            ("BODY_LENGTH", multipart.len().to_string()),
            (
                "BODY_BASE64",
                base64::engine::general_purpose::STANDARD.encode(&multipart),
            ),
        ],
    );
    let answer = invoke(&http, port, "upload", &upload).await;
    assert_eq!(answer["statusCode"], 202, "{answer}");
    let job_id = body_json(&answer)["job"]["id"].as_str().unwrap().to_owned();

    // THEN the third party got the file with the callback URL, the tab got
    // job.submitted through the Management API, and the connection with no
    // socket was deleted by its 410
    let got = tp.next().await;
    assert_eq!(got.job_id, job_id);
    assert_eq!(got.bytes, b"hello from a fixture");
    assert_eq!(got.authorization.as_deref(), Some("Bearer sk_test_lambda"));
    assert_eq!(got.callback_url, app.stack.callback_url);
    assert_eq!(tab.expect("job.submitted").await["job"]["id"], job_id);
    boomerang_e2e::eventually("the stale connection is deleted", || async {
        !app.connection_ids("alice")
            .await
            .contains(&"StaleTab0000=".to_owned())
    })
    .await;

    // WHEN webhook gets the third party's signed result
    let body = serde_json::json!({
        "job_id": job_id, "status": "completed", "result": {"words": 4}
    })
    .to_string();
    let ts = chrono::Utc::now().timestamp();
    let signature = sign::webhook(&app.stack.webhook_secret, "msg_fixture_1", ts, &body);
    let webhook = fixture(
        "webhook",
        &[
            ("WEBHOOK_ID", "msg_fixture_1".into()),
            ("TIMESTAMP", ts.to_string()),
            ("SIGNATURE", signature),
            ("BODY_LENGTH", body.len().to_string()),
            ("BODY_JSON_STRING", serde_json::to_string(&body).unwrap()),
        ],
    );
    let applied = invoke(&http, port, "webhook", &webhook).await;
    assert_eq!(applied["statusCode"], 200, "{applied}");

    // THEN the tab gets the result, and api serves the completed job
    let completed = tab.expect("job.completed").await;
    assert_eq!(completed["job"]["result"]["words"], 4);
    let read = fixture(
        "api-job",
        &[("TOKEN", token.clone()), ("JOB_ID", job_id.clone())],
    );
    let job = invoke(&http, port, "api", &read).await;
    assert_eq!(job["statusCode"], 200, "{job}");
    assert_eq!(body_json(&job)["job"]["status"], "completed");

    // WHEN a second job is never answered, and the schedule runs the sweep
    let answer = invoke(&http, port, "upload", &upload).await;
    assert_eq!(answer["statusCode"], 202, "{answer}");
    let waiting = body_json(&answer)["job"]["id"].as_str().unwrap().to_owned();
    assert_eq!(tab.expect("job.submitted").await["job"]["id"], waiting);
    assert_eq!(tp.next().await.job_id, waiting);
    let scheduled = fixture("sweep", &[]);
    boomerang_e2e::eventually("the sweep times the job out", || async {
        invoke(&http, port, "sweep", &scheduled).await["timedOut"] == 1
    })
    .await;
    // THEN the tab is told it failed, and why
    let failed = tab.expect("job.failed").await;
    assert_eq!(failed["job"]["id"], waiting);
    assert_eq!(
        failed["job"]["error"],
        "timed out waiting for the third party"
    );

    // WHEN api lists alice's jobs, and a tab that was closed catches up
    let list = invoke(
        &http,
        port,
        "api",
        &fixture("api-jobs", &[("TOKEN", token.clone())]),
    )
    .await;
    let events = invoke(
        &http,
        port,
        "api",
        &fixture("api-events", &[("TOKEN", token.clone())]),
    )
    .await;
    // THEN, through the list's index and the jobs the events name, under
    // its own policy: her two jobs, newest first, and every event she was
    // pushed, in order
    assert_eq!(list["statusCode"], 200, "{list}");
    let ids: Vec<Value> = body_json(&list)["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| j["id"].clone())
        .collect();
    assert_eq!(ids, [waiting.as_str(), job_id.as_str()]);
    assert_eq!(events["statusCode"], 200, "{events}");
    let kinds: Vec<Value> = body_json(&events)["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(
        kinds,
        [
            "job.submitted",
            "job.completed",
            "job.submitted",
            "job.failed"
        ]
    );

    // WHEN upload gets a JSON declaration of a large file
    let declare = |size: usize| {
        let body = serde_json::json!({"fileName": "big.bin", "size": size, "contentType": "application/octet-stream"}).to_string();
        fixture(
            "upload-json",
            &[
                ("TOKEN", token.clone()),
                ("BODY_LENGTH", body.len().to_string()),
                ("BODY_JSON_STRING", serde_json::to_string(&body).unwrap()),
            ],
        )
    };
    let big = vec![42u8; 2 * 1024 * 1024];
    let answer = invoke(&http, port, "upload", &declare(big.len())).await;
    assert_eq!(answer["statusCode"], 201, "{answer}");
    let created = body_json(&answer);
    assert_eq!(created["job"]["status"], "uploading");
    let direct = created["job"]["id"].as_str().unwrap().to_owned();
    // AND the bytes are PUT where the URL says, with the rights of the
    // upload function that signed it: moto's IAM checks cannot read a
    // presigned URL's query-string signature (it answers 500), so the same
    // PutObject goes signed in a header instead. (tests/aws and the aws
    // backend's end-to-end tests PUT to presigned URLs without IAM.)
    let url = created["upload"]["url"].as_str().unwrap();
    let key = format!("uploads/direct/{direct}");
    assert!(url.contains(&key), "{url}");
    let (id, secret) = keys["UploadFunction"].clone();
    let moto_url = app.moto.as_ref().unwrap().url.clone();
    let as_upload = boomerang_aws::s3_client(
        &boomerang_e2e::moto::sdk_config_with(&moto_url, &id, &secret).await,
    );
    as_upload
        .put_object()
        .bucket(&app.stack.config.bucket)
        .key(&key)
        .content_type("application/octet-stream")
        .content_length(big.len() as i64)
        .body(big.clone().into())
        .send()
        .await
        .expect("the upload function's policy lets it PUT what it presigns");
    // AND S3's Object Created reaches submit through EventBridge
    let stored = fixture(
        "submit-object-created",
        &[
            ("BUCKET", app.stack.config.bucket.clone()),
            ("KEY", key.clone()),
            ("SIZE", big.len().to_string()),
        ],
    );
    let handed = invoke(&http, port, "submit", &stored).await;
    assert_eq!(handed["handedOver"], 1, "{handed}");
    // THEN the third party got the file, streamed from S3, and the tab
    // heard the job submitted
    let got = tp.next().await;
    assert_eq!(got.job_id, direct);
    assert_eq!(got.bytes, big);
    assert_eq!(got.authorization.as_deref(), Some("Bearer sk_test_lambda"));
    assert_eq!(got.file_name, "big.bin");
    assert_eq!(tab.expect("job.submitted").await["job"]["id"], direct);
    // AND the same event again (S3 and EventBridge deliver at least once)
    // hands nothing over twice
    let again = invoke(&http, port, "submit", &stored).await;
    assert_eq!(again["handedOver"], 0, "{again}");

    // WHEN another upload's hand-over failed every retry, and Lambda's
    // on-failure destination passes the event to submit through SQS
    let answer = invoke(&http, port, "upload", &declare(3)).await;
    let lost = body_json(&answer)["job"]["id"].as_str().unwrap().to_owned();
    let lost_event = fixture(
        "submit-object-created",
        &[
            ("BUCKET", app.stack.config.bucket.clone()),
            ("KEY", format!("uploads/direct/{lost}")),
            ("SIZE", "3".into()),
        ],
    );
    let record = serde_json::json!({
        "version": "1.0",
        "timestamp": "2026-11-26T10:05:00.000Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
            "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:submit:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": lost_event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "Task timed out after 360.00 seconds", "errorType": "Sandbox.Timedout"}
    });
    let failure = fixture(
        "submit-failure",
        &[(
            "DESTINATION_RECORD_JSON_STRING",
            serde_json::to_string(&record.to_string()).unwrap(),
        )],
    );
    let batch = invoke(&http, port, "submit", &failure).await;
    // THEN the message is done with (no item to retry), and the tab hears
    // the job failed, and why
    assert_eq!(batch["batchItemFailures"], serde_json::json!([]), "{batch}");
    let failed = tab.expect("job.failed").await;
    assert_eq!(failed["job"]["id"], lost);
    assert!(
        failed["job"]["error"]
            .as_str()
            .unwrap()
            .contains("RetriesExhausted (Sandbox.Timedout)"),
        "{failed}"
    );

    // WHEN ws-disconnect gets the tab's $disconnect
    let tab_id = app.connection_ids("alice").await.remove(0);
    let bye = fixture("ws-disconnect", &[("CONNECTION_ID", tab_id)]);
    assert_eq!(
        invoke(&http, port, "ws-disconnect", &bye).await["statusCode"],
        200
    );
    // THEN alice has no stored connection left
    assert!(app.connection_ids("alice").await.is_empty());

    // AND the webhook reported its CloudWatch metrics: the event pushed to
    // the tab, the webhook applied, and how long that took
    let webhook_log = std::fs::read_to_string(logs.path().join("webhook.log")).unwrap();
    let emf: Vec<Value> = webhook_log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Boomerang")
        .collect();
    // (one document per label set, each at the function's log level and
    // with the stack's dimension)
    let has = |f: &dyn Fn(&Value) -> bool| emf.iter().any(|v| f(v) && v["level"] == "INFO");
    assert!(
        has(&|v| v["boomerang_events_pushed_total"] == 1 && v["Stack"].is_string()),
        "{webhook_log}"
    );
    assert!(
        has(&|v| v["boomerang_webhooks_total"] == 1 && v["outcome"] == "applied"),
        "{webhook_log}"
    );
    assert!(has(&|v| v["boomerang_webhook_to_push_seconds"].is_array()));

    // AND the functions logged JSON lines, and no secret or token
    drop(_functions);
    let webhook_key = app.stack.webhook_secret.clone();
    let jwt_key = String::from_utf8(app.jwt_secret().to_vec()).unwrap();
    for name in names {
        let log = std::fs::read_to_string(logs.path().join(format!("{name}.log"))).unwrap();
        // (ws-default reads nothing at init and answers pings in silence)
        assert!(
            name == "ws-default" || !log.is_empty(),
            "{name} logged nothing"
        );
        for line in log.lines() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|_| panic!("{name} logged a non-JSON line: {line}"));
            // A log record, or an embedded-metric-format record of metrics.
            assert!(
                v["level"].is_string() || v["_aws"]["CloudWatchMetrics"].is_array(),
                "{name}: {line}"
            );
        }
        for secret in [&token, &webhook_key, &jwt_key] {
            assert!(!log.contains(secret.as_str()), "{name} logged a secret");
        }
        // The init's warm-up call is one its policy allows.
        assert!(
            !log.contains("warm-up call is not allowed"),
            "{name}: {log}"
        );
    }
}

#[tokio::test]
async fn a_function_missing_a_setting_fails_its_init_naming_the_variable() {
    let deployment = Deployment {
        tables: Tables::with_prefix("unused"),
        bucket: "unused".into(),
        connections_endpoint: "http://127.0.0.1:9/unused".into(),
        event_retention: boomerang_core::Limits::default().event_retention,
        job_retention: boomerang_core::Limits::default().job_retention,
    };
    let local = Local {
        moto_url: "http://127.0.0.1:9",
        deployment: &deployment,
        jwt_secret_arn: "arn:aws:secretsmanager:us-east-1:000000000000:secret:jwt".into(),
        webhook_secret_arn: String::new(),
        third_party_url: String::new(),
        callback_url: String::new(),
        third_party_auth_secret_arn: None,
    };
    // Each function needs only what it builds: each case leaves out one
    // variable the function's own parts need.
    for (logical_id, function, missing) in [
        (
            "WsConnectFunction",
            "ws-connect",
            "BOOMERANG_JWT_SECRET_ARN",
        ),
        (
            "WsDisconnectFunction",
            "ws-disconnect",
            "BOOMERANG_CONNECTIONS_TABLE",
        ),
        ("SweepFunction", "sweep", "BOOMERANG_JOBS_TABLE"),
    ] {
        // GIVEN the function's environment from template.yaml, without it
        let mut env = template_env(logical_id, &local);
        assert!(
            env.iter().any(|(k, _)| k == missing),
            "{function}: {missing}"
        );
        env.retain(|(k, _)| k != missing);
        // WHEN its bootstrap starts
        let out = std::process::Command::new(debug_bootstrap(function))
            .env_clear()
            .envs(env)
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .output()
            .expect("the bootstrap runs");
        // THEN init fails, and says which variable is missing
        assert!(!out.status.success(), "{function}");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            printed.contains(&format!("environment variable {missing} is not set")),
            "{function}: {printed}"
        );
    }
}

#[tokio::test]
async fn with_an_identity_provider_and_no_secret_ws_connect_takes_the_issuers_tokens_and_refuses_hs256(
) {
    use boomerang_e2e::idp::{Issuer, AUDIENCE};
    // GIVEN ws-connect as the template deploys it with JwtIssuer set and no
    // JwtSecretArn (no HS256 secret), against moto and an issuer's JWKS
    let deployment = Deployment {
        tables: Tables::with_prefix("idp"),
        bucket: "idp-files".into(),
        connections_endpoint: "http://127.0.0.1:9/unused".into(),
        event_retention: boomerang_core::Limits::default().event_retention,
        job_retention: boomerang_core::Limits::default().job_retention,
    };
    let (moto, _) = Moto::with(&deployment).await;
    let issuer = Issuer::start(&["rsa-a"]).await;
    let local = Local {
        moto_url: &moto.url,
        deployment: &deployment,
        jwt_secret_arn: String::new(),
        webhook_secret_arn: String::new(),
        third_party_url: String::new(),
        callback_url: String::new(),
        third_party_auth_secret_arn: None,
    };
    let mut env = template_env("WsConnectFunction", &local);
    env.retain(|(k, _)| {
        !matches!(
            k.as_str(),
            "BOOMERANG_JWT_SECRET_ARN" | "BOOMERANG_JWT_ISSUER" | "BOOMERANG_JWT_AUDIENCE"
        )
    });
    env.push(("BOOMERANG_JWT_ISSUER".into(), issuer.url.clone()));
    env.push(("BOOMERANG_JWT_AUDIENCE".into(), AUDIENCE.into()));
    let (_apis, port) = lambda_apis().await;
    let logs = tempfile::tempdir().unwrap();
    let _f = start_function(
        &debug_bootstrap("ws-connect"),
        "ws-connect",
        port,
        &env,
        &logs.path().join("ws-connect.log"),
    );
    let http = reqwest::Client::new();
    let connect = |token: String, id: &str| {
        fixture(
            "ws-connect",
            &[("TOKEN", token), ("CONNECTION_ID", id.to_owned())],
        )
    };

    // WHEN the issuer's RS256 token connects
    let rs256 = connect(
        issuer.token("rsa-a", serde_json::json!({})),
        "Idp0000000001=",
    );
    // THEN it is taken, and the connection stored under its sub
    assert_eq!(
        invoke(&http, port, "ws-connect", &rs256).await["statusCode"],
        200
    );
    // WHEN an HS256 token comes, signed with any key at all
    let hs256 = boomerang_e2e::sign::jwt(
        "mallory",
        chrono::Utc::now().timestamp() + 60,
        b"a key of thirty-two bytes or more!!",
    );
    // THEN it is refused: with an issuer and no secret, HS256 is not accepted
    let refused = invoke(&http, port, "ws-connect", &connect(hs256, "Idp0000000002=")).await;
    assert_eq!(refused["statusCode"], 401);
    // AND a token from another issuer, too
    let other = issuer.token("rsa-a", serde_json::json!({"iss": "https://other.example"}));
    let refused = invoke(&http, port, "ws-connect", &connect(other, "Idp0000000003=")).await;
    assert_eq!(refused["statusCode"], 401);
}

#[tokio::test]
async fn the_stub_bootstrap_takes_only_the_stacks_hand_overs_and_calls_the_webhook_back_signed() {
    // GIVEN the stack on moto, and the stub third party's bootstrap with
    // what template.yaml gives it (ThirdPartyStub=true), signing as its
    // IAM user
    let stack = stack().await;
    let Stack { app, tp, .. } = &stack;
    let (_apis, port) = lambda_apis().await;
    let logs = tempfile::tempdir().unwrap();
    let env = stack.env_of("ThirdPartyStubFunction");
    let stub = "third-party-stub";
    let log = logs.path().join("stub.log");
    let _function = start_function(&debug_bootstrap(stub), stub, port, &env, &log);
    let http = reqwest::Client::new();
    // AND a job of alice's waiting for its third party
    let mut tab = app.tab("alice").await;
    let file = b"one two\nthree\n";
    boomerang_e2e::json_of(app.upload("alice", "a.txt", file).await, 202).await;
    let handed = tp.next().await;
    tab.expect("job.submitted").await;
    let hand_over = |authorization: &str, callback: &str| {
        let boundary = "----stubfixture";
        let mut body = Vec::new();
        for (name, value) in [
            ("job_id", handed.job_id.as_str()),
            ("callback_url", callback),
        ] {
            body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes());
        }
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n").bytes());
        body.extend(file);
        body.extend(format!("\r\n--{boundary}--\r\n").bytes());
        fixture(
            stub,
            &[
                ("AUTHORIZATION", authorization.to_owned()),
                ("BOUNDARY", boundary.into()),
                ("BODY_LENGTH", body.len().to_string()),
                (
                    "BODY_BASE64",
                    base64::engine::general_purpose::STANDARD.encode(&body),
                ),
            ],
        )
    };
    let callback = app.stack.callback_url.clone();

    // WHEN someone else hands it the job, or names another callback
    let forged = invoke(&http, port, stub, &hand_over("Bearer guess", &callback)).await;
    let elsewhere = hand_over("Bearer sk_test_lambda", "https://evil.example.com/hook");
    let elsewhere = invoke(&http, port, stub, &elsewhere).await;
    // THEN it refuses both, and signs nothing: the job still waits
    assert_eq!(forged["statusCode"], 401, "{forged}");
    assert_eq!(elsewhere["statusCode"], 400, "{elsewhere}");
    tab.assert_nothing_pending().await;

    // WHEN the stack's own hand-over reaches it
    let taken = invoke(
        &http,
        port,
        stub,
        &hand_over("Bearer sk_test_lambda", &callback),
    )
    .await;
    // THEN it answers 202 once the webhook took its signed result, and the
    // tab gets its progress, then the file's figures, as the local
    // simulator reports them
    assert_eq!(taken["statusCode"], 202, "{taken}");
    let progress = tab.expect_progress().await;
    assert_eq!(progress["job"]["progress"], 0.5, "{progress}");
    let completed = tab.expect("job.completed").await;
    assert_eq!(completed["job"]["id"], handed.job_id.as_str());
    assert_eq!(
        completed["job"]["result"],
        boomerang_local::simulator::analyse(file)
    );
}
