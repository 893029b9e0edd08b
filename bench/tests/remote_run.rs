//! The load generator against a running stack through the same
//! `--api/--ws/--token` flags a deployed stack takes (docs/deploy.md):
//! here the local stack, whose simulated third party calls the webhook.

use std::process::Command;

use boomerang_e2e::spawn_app;
use serde_json::Value;

async fn loadgen(args: Vec<String>, token: &str) -> (Option<i32>, Value, String) {
    let token = token.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(&args)
            .env("BOOMERANG_LOADGEN_TOKEN", token)
            .output()
            .expect("loadgen runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        out.status.code(),
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        format!("{stdout}{stderr}"),
    )
}

#[tokio::test]
async fn a_load_run_against_a_running_stack_reports_every_delivery_and_no_loss() {
    // GIVEN a running stack and a user's token
    let app = spawn_app().await;
    let token = app.token("loadgen-user");
    // WHEN the load generator runs against its URLs: 2 tabs, 20 uploads
    let args = [
        "--api",
        &app.stack.http_url(),
        "--ws",
        &app.stack.ws_url(),
        "--tabs",
        "2",
        "--uploads",
        "20",
        "--rate",
        "50",
        "--timeout-secs",
        "60",
    ]
    .map(str::to_owned)
    .to_vec();
    let (code, figures, printed) = loadgen(args, &token).await;
    // THEN every job's end reached both tabs once, nothing was lost, and
    // latencies were measured; the token was never printed
    assert_eq!(code, Some(0), "{printed}");
    assert_eq!(figures["accepted"], 20, "{printed}");
    assert_eq!(figures["deliveriesExpected"], 40);
    assert_eq!(figures["deliveries"], 40);
    assert_eq!(figures["lost"], 0);
    assert_eq!(figures["duplicates"], 0);
    assert!(figures["uploadToTabMs"]["p99"].as_f64().unwrap() > 0.0);
    assert!(!printed.contains(&token), "the token was printed");
}

#[tokio::test]
async fn a_load_run_with_a_token_the_stack_refuses_fails_and_says_where() {
    // GIVEN a running stack
    let app = spawn_app().await;
    let args = [
        "--api",
        &app.stack.http_url(),
        "--ws",
        &app.stack.ws_url(),
        "--uploads",
        "3",
    ]
    .map(str::to_owned)
    .to_vec();
    // WHEN it runs with a token the stack refuses
    let (code, _, printed) = loadgen(args, "not.a.token").await;
    // THEN it fails, naming the step, without printing the token
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("the WebSocket did not open"), "{printed}");
    assert!(!printed.contains("not.a.token"), "{printed}");
}
