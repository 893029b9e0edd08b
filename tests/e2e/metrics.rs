//! `GET /metrics`: the figures move as the system works.

use boomerang_e2e::third_party::Mode;
use boomerang_e2e::{json_of, spawn_app_with_third_party, TestApp};

async fn scrape(app: &TestApp) -> String {
    let res = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    res.text().await.unwrap()
}

/// The value of the sample named exactly `series` (labels included).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} missing:\n{text}"))
}

#[tokio::test]
async fn pushes_webhooks_and_their_latency_show_in_the_metrics() {
    // GIVEN a silent third party, and two of alice's tabs
    let (app, tp) = spawn_app_with_third_party(Mode::Silent, |_| {}).await;
    let before = scrape(&app).await;
    let mut tabs = [app.tab("alice").await, app.tab("alice").await];
    // WHEN she uploads, the third party answers, and a webhook is forged
    let job = json_of(app.upload("alice", "a.txt", b"abc").await, 202).await;
    let id = job["job"]["id"].as_str().unwrap().to_owned();
    tp.next().await;
    let body = serde_json::json!({"job_id": id, "status": "completed", "result": 1}).to_string();
    json_of(app.webhook("msg_m1", &body).await, 200).await;
    json_of(app.webhook("msg_m1", &body).await, 200).await; // redelivered
    let forged = app
        .webhook_raw("msg_m2", chrono::Utc::now().timestamp(), &body, "v1,AAAA")
        .await;
    assert_eq!(forged.status(), 401);
    for tab in &mut tabs {
        tab.expect("job.submitted").await;
        tab.expect("job.completed").await;
    }
    // THEN the metrics say so
    let after = scrape(&app).await;
    let moved = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(value(&after, "boomerang_connections"), 2.0);
    assert_eq!(moved("boomerang_events_pushed_total"), 4.0);
    assert_eq!(moved("boomerang_webhooks_total{outcome=\"applied\"}"), 1.0);
    assert_eq!(
        moved("boomerang_webhooks_total{outcome=\"already_done\"}"),
        1.0
    );
    assert_eq!(
        moved("boomerang_webhooks_total{outcome=\"bad_signature\"}"),
        1.0
    );
    assert_eq!(moved("boomerang_webhook_to_push_seconds_count"), 1.0);
    assert_eq!(
        value(
            &after,
            "boomerang_webhook_to_push_seconds_bucket{le=\"+Inf\"}"
        ),
        value(&after, "boomerang_webhook_to_push_seconds_count")
    );
}

#[tokio::test]
async fn gone_connections_failed_submissions_and_timeouts_show_in_the_metrics() {
    // GIVEN a third party that refuses every file
    let (app, _tp) = spawn_app_with_third_party(Mode::Refuses, |_| {}).await;
    json_of(app.upload("alice", "a.txt", b"abc").await, 502).await;
    assert_eq!(
        value(&scrape(&app).await, "boomerang_third_party_failures_total"),
        1.0
    );

    // GIVEN a stack that drops $disconnect, a closed tab and a 1 s deadline
    let (app, _tp) = spawn_app_with_third_party(Mode::Silent, |c| {
        c.drop_disconnect = true;
        c.shared.job_timeout_secs = 1;
    })
    .await;
    app.tab("alice").await.close().await;
    let mut open = app.tab("alice").await;
    json_of(app.upload("alice", "a.txt", b"abc").await, 202).await;
    open.expect("job.submitted").await;
    // WHEN the job times out
    open.expect("job.failed").await;
    // THEN the closed tab's row went with the first push, and the timeout counted
    let text = scrape(&app).await;
    assert_eq!(value(&text, "boomerang_connections_gone_total"), 1.0);
    assert_eq!(value(&text, "boomerang_jobs_timed_out_total"), 1.0);
}

/// The `boomerang_*` names a text mentions, each once.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("boomerang_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

#[tokio::test]
async fn the_grafana_dashboard_queries_only_what_metrics_serves_and_mirrors_cloudwatchs() {
    let root = boomerang_e2e::lambda::root();
    let dashboard: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("docs/grafana/boomerang.json")).unwrap())
            .expect("docs/grafana/boomerang.json is JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            t["expr"]
                .as_str()
                .expect("every target has an expr")
                .to_owned()
        })
        .collect();
    let queried = metric_names(&exprs.join("\n"));
    assert!(!queried.is_empty());
    // GIVEN a stack that has done one job's round (so the histogram has
    // buckets to show)
    let (app, _tp) = spawn_app_with_third_party(Mode::Silent, |_| {}).await;
    let mut tab = app.tab("alice").await;
    let job = json_of(app.upload("alice", "a.txt", b"abc").await, 202).await;
    let id = job["job"]["id"].as_str().unwrap();
    tab.expect("job.submitted").await;
    let body = format!(r#"{{"job_id":"{id}","status":"completed","result":{{}}}}"#);
    assert_eq!(app.webhook("msg_1", &body).await.status(), 200);
    tab.expect("job.completed").await;
    // THEN every series the dashboard queries is on /metrics
    let served: std::collections::BTreeSet<String> = scrape(&app)
        .await
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next().map(str::to_owned))
        .collect();
    for name in &queried {
        assert!(
            served.contains(name),
            "the dashboard queries {name}, which /metrics lacks"
        );
    }
    // AND every figure of ours on the CloudWatch dashboard has its panel
    let template = boomerang_local::emulator::provision::TEMPLATE;
    let cloudwatch = &template[template
        .find("DashboardBody")
        .expect("a CloudWatch dashboard")..];
    let cloudwatch = &cloudwatch[..cloudwatch.find("\nOutputs:").unwrap_or(cloudwatch.len())];
    for name in metric_names(cloudwatch) {
        let local = name.clone();
        let histogram = format!("{name}_bucket");
        assert!(
            queried.contains(&local) || queried.contains(&histogram),
            "CloudWatch shows {name}; the Grafana dashboard does not"
        );
    }
}
