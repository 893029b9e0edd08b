//! `make smoke` and `make token`, run here against the local stack:
//! `boomerang-smoke` passes against a working stack and names the step
//! that fails against a broken one; `tools/stack.py token` mints, from a
//! key in Secrets Manager (moto's), a token the stack accepts.

use std::process::Command;

use boomerang_e2e::{spawn_app, spawn_app_with_third_party, Mode, Moto, TestApp};

/// Runs a command off the test's runtime, which serves the stack meanwhile.
async fn run(mut command: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output().expect("the command runs"))
        .await
        .expect("the command's thread")
}

async fn smoke(app: &TestApp, token: &str) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_boomerang-smoke"));
    command
        .args(["--api", &app.stack.http_url(), "--ws", &app.stack.ws_url()])
        .args(["--timeout-secs", "15"])
        .env("BOOMERANG_SMOKE_TOKEN", token);
    let out = run(command).await;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!printed.contains(token), "the token was printed: {printed}");
    (out.status.success(), printed)
}

#[tokio::test]
async fn the_smoke_test_passes_against_a_working_stack() {
    let app = spawn_app().await;
    let (ok, printed) = smoke(&app, &app.token("smoke-ok")).await;
    assert!(ok, "{printed}");
    for step in [
        "WebSocket open",
        "ping answered pong",
        "uploaded",
        "result on the socket",
        "has the result",
    ] {
        assert!(printed.contains(step), "{step}: {printed}");
    }
}

#[tokio::test]
async fn the_smoke_test_fails_naming_the_step_that_broke() {
    // A third party that refuses everything: the upload is the step.
    let (app, _tp) =
        spawn_app_with_third_party(Mode::Refuses, |c| c.third_party_backoff_ms = 1).await;
    let (ok, printed) = smoke(&app, &app.token("smoke-broken")).await;
    assert!(!ok, "{printed}");
    assert!(
        printed.contains("smoke test failed: POST /uploads answered 502"),
        "{printed}"
    );
    // A token the stack refuses: the socket is the step.
    let app = spawn_app().await;
    let (ok, printed) = smoke(&app, "not.a.token").await;
    assert!(!ok);
    assert!(
        printed.contains("smoke test failed: the WebSocket did not open"),
        "{printed}"
    );
}

#[tokio::test]
async fn make_token_mints_from_the_key_in_secrets_manager_a_token_the_stack_accepts() {
    // GIVEN the stack's key in Secrets Manager, as the template keeps it
    // (during a rotation: {"current", "previous"})
    let app = spawn_app().await;
    let moto = Moto::start().await;
    let key = String::from_utf8(app.jwt_secret().to_vec()).unwrap();
    let sdk = moto.sdk_config().await;
    let rotated =
        serde_json::json!({"current": key, "previous": "an-older-key-of-at-least-32-bytes!!"})
            .to_string();
    for stored in [key.clone(), rotated] {
        let arn = aws_sdk_secretsmanager::Client::new(&sdk)
            .create_secret()
            .name(format!("jwt-{}", uuid::Uuid::new_v4().simple()))
            .secret_string(stored)
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_owned();
        // WHEN tools/stack.py mints a token for erin from it
        let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
        let python = std::env::var("BOOMERANG_TEST_PYTHON")
            .unwrap_or_else(|_| format!("{root}/.venv/bin/python"));
        let mut command = Command::new(python);
        command
            .arg(format!("{root}/tools/stack.py"))
            .args(["token", "--secret-arn", &arn, "--user", "erin"])
            .env("AWS_ENDPOINT_URL", &moto.url)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1");
        let out = run(command).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8(out.stdout).unwrap();
        let token = printed.trim().to_owned();
        // THEN the stack takes it, as erin's
        let res = app
            .http
            .get(app.url("/jobs"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let mut tab = app.tab_with_token(&token).await.expect("the socket opens");
        tab.send(r#"{"action":"ping"}"#).await;
        assert_eq!(tab.next().await["type"], "pong");
        // AND the key was never printed
        assert!(!printed.contains(&key));
    }
}
