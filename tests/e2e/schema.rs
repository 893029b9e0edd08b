//! The document is the truth: schemathesis generates requests from
//! docs/openapi.yaml (valid and invalid), sends them to the running stack,
//! and checks every answer against the document: no 5xx, only documented
//! statuses and bodies, valid requests accepted, invalid ones refused.
//! Settings in tools/schemathesis.toml (fixed seed, bounded examples).

use boomerang_e2e::lambda::root;
use boomerang_e2e::spawn_app_with;

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_to_generated_requests_is_the_one_openapi_yaml_documents() {
    // Generated requests come by the hundred a minute: the per-user limit
    // would answer valid ones 429 (tested on its own, in limits.rs).
    let app = spawn_app_with(|c| {
        c.shared.max_uploads_per_minute = 1_000_000;
        c.shared.max_open_uploads = 1_000_000;
    })
    .await;
    let installed = root().join(".venv/bin/schemathesis");
    let schemathesis = if installed.exists() {
        installed
    } else {
        "schemathesis".into() // on PATH; `make test` installs it in .venv
    };
    let mut run = std::process::Command::new(&schemathesis);
    run.arg("--config-file")
        .arg(root().join("tools/schemathesis.toml"))
        .arg("--no-color")
        .arg("run")
        .arg(root().join("docs/openapi.yaml"))
        .args(["--url", &app.stack.http_url()])
        .args([
            "-H",
            &format!("Authorization: Bearer {}", app.token("alice")),
        ]);
    // The stack serves on this runtime while schemathesis runs beside it.
    let out = tokio::task::spawn_blocking(move || run.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", schemathesis.display()));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found answers the document does not allow:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("passed"), "{report}");
}
