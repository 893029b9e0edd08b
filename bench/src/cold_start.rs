//! `make bench`: each release `bootstrap`'s size, its cold start (process
//! start to the first invocation's answer, init included) and its warm
//! invocations, under `cargo lambda watch --only-lambda-apis` with moto on
//! loopback. Prints the markdown tables of docs/benchmarks.md.
//!
//! Usage: cold-start [RUNS] (default 20); bootstraps from target/lambda,
//! built by `cargo lambda build --release` (`make bench` does).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use boomerang_aws::tables::Tables;
use boomerang_aws::Deployment;
use boomerang_e2e::lambda::{
    fixture, invoke, lambda_apis, root, start_function, store_keys, template_env, Local,
};
use boomerang_e2e::{sign, Moto};

const FUNCTIONS: [&str; 8] = [
    "ws-connect",
    "ws-disconnect",
    "ws-default",
    "upload",
    "webhook",
    "api",
    "sweep",
    "submit",
];
const WARM_INVOCATIONS: usize = 200;

fn release_bootstrap(name: &str) -> PathBuf {
    let dir = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target"));
    dir.join("lambda").join(name).join("bootstrap")
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("RUNS is a number"))
        .unwrap_or(20);

    println!("| function | bootstrap size |");
    println!("| --- | --- |");
    for name in FUNCTIONS {
        let bin = release_bootstrap(name);
        let size = std::fs::metadata(&bin)
            .unwrap_or_else(|_| panic!("{} missing: `make bench` builds it", bin.display()))
            .len();
        println!(
            "| {name} | {size} bytes ({:.2} MiB) |",
            size as f64 / 1048576.0
        );
    }

    let deployment = Deployment {
        tables: Tables::with_prefix("bench"),
        bucket: "bench-files".into(),
        connections_endpoint: "http://127.0.0.1:9/local".into(),
        event_retention: std::time::Duration::from_secs(7 * 24 * 3600),
        job_retention: std::time::Duration::from_secs(30 * 24 * 3600),
    };
    let (moto, sdk) = Moto::with(&deployment).await;
    let (_apis, port) = lambda_apis().await;
    let jwt_key = "bench-key-bench-key-bench-key-bench-key";
    // The keys in Secrets Manager, as the template's functions read them.
    let (jwt_secret_arn, webhook_secret_arn) = store_keys(
        &sdk,
        jwt_key,
        "whsec_YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktYmVu",
    )
    .await;
    let local = Local {
        moto_url: &moto.url,
        deployment: &deployment,
        jwt_secret_arn,
        webhook_secret_arn,
        third_party_url: String::new(),
        callback_url: String::new(),
        third_party_auth_secret_arn: None,
    };
    let token = sign::jwt(
        "alice",
        chrono::Utc::now().timestamp() + 3600,
        jwt_key.as_bytes(),
    );
    let http = reqwest::Client::new();
    let logs = tempfile::tempdir().expect("temp dir");

    println!();
    println!("| function | what the invocation does | cold start p50 | p90 | max | warm p50 | warm p99 |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let cases: [(&str, &str, &str); 3] = [
        (
            "ws-default",
            "WsDefaultFunction",
            "answers a ping; no storage",
        ),
        (
            "ws-connect",
            "WsConnectFunction",
            "verifies a token; one DynamoDB UpdateItem (a slot of the per-user limit) and one PutItem",
        ),
        (
            "api",
            "ApiFunction",
            "verifies a token; one DynamoDB GetItem (404)",
        ),
    ];
    for (name, logical_id, what) in cases {
        // The environment template.yaml gives the function.
        let env = template_env(logical_id, &local);
        let event = |n: usize| {
            let conn = format!("Bench{n:08}=");
            match name {
                "ws-default" => fixture("ws-default", &[("CONNECTION_ID", conn)]),
                // A user of its own per connection, as tabs of many users
                // connect: one user's rows would pile up to the limit.
                "ws-connect" => fixture(
                    "ws-connect",
                    &[
                        (
                            "TOKEN",
                            sign::jwt(
                                &format!("user{n}"),
                                chrono::Utc::now().timestamp() + 3600,
                                jwt_key.as_bytes(),
                            ),
                        ),
                        ("CONNECTION_ID", conn),
                    ],
                ),
                _ => fixture(
                    "api-job",
                    &[
                        ("TOKEN", token.clone()),
                        ("JOB_ID", uuid::Uuid::now_v7().to_string()),
                    ],
                ),
            }
        };
        let bin = release_bootstrap(name);
        let mut cold = Vec::with_capacity(runs);
        let mut warm = Vec::with_capacity(runs * WARM_INVOCATIONS);
        for run in 0..runs {
            let first = event(run);
            let log = logs.path().join(format!("{name}-{run}.log"));
            let started = Instant::now();
            let process = start_function(&bin, name, port, &env, &log);
            let answer = invoke(&http, port, name, &first).await;
            cold.push(started.elapsed());
            assert!(answer["statusCode"].is_number(), "{name}: {answer}");
            if name == "ws-connect" {
                assert_eq!(answer["statusCode"], 200, "{name}: {answer}");
            }
            // A few warm invocations per process.
            for n in 0..WARM_INVOCATIONS / runs.max(1) + 1 {
                let e = event(runs + run * WARM_INVOCATIONS + n);
                let t = Instant::now();
                invoke(&http, port, name, &e).await;
                warm.push(t.elapsed());
            }
            drop(process);
        }
        cold.sort();
        warm.sort();
        println!(
            "| {name} | {what} | {} ms | {} ms | {} ms | {} ms | {} ms |",
            ms(quantile(&cold, 0.5)),
            ms(quantile(&cold, 0.9)),
            ms(*cold.last().expect("runs > 0")),
            ms(quantile(&warm, 0.5)),
            ms(quantile(&warm, 0.99)),
        );
    }
}
