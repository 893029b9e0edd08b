//! The whole bill for docs/cost.md's stated workload, metered on the wire
//! where it can be: a million uploads of a 1 MiB file, each sent inside
//! `POST /uploads` to a third party that accepts in 2 s, each answered by
//! a 1 KB result pushed to one browser (two tabs: one socket).
//!
//! A proxy in front of moto prices each DynamoDB request by DynamoDB's own
//! rules (the items' sizes before and after each write, 1 KB write units,
//! 4 KB read units, transactions at double, every index an item is in) and
//! counts S3 requests; the third party measures the bytes it was sent and
//! how long the upload function waited for it; the pushes' sizes are
//! priced in 32 KB WebSocket increments and the requests in 512 KB HTTP API
//! increments. The fixed monthly costs are counted from template.yaml
//! (alarm metrics, secrets, keys, the dashboard). docs/cost.md, and the
//! README's summary of it, are this test's output: it fails when they part.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use boomerang_e2e::{Moto, TestApp};
use boomerang_local::emulator::provision::{table_defs, TableDef, TEMPLATE};
use serde_json::{json, Value};

use boomerang_e2e::Mode;

use super::{pass_on, stack_through_to_with};

/// On-demand prices, us-east-1 (per unit).
const WRITE_UNIT: f64 = 0.625 / 1e6;
const READ_UNIT: f64 = 0.125 / 1e6;
const S3_PUT: f64 = 0.005 / 1e3;
const S3_GET: f64 = 0.0004 / 1e3;
const HTTP_REQUEST: f64 = 1.00 / 1e6;
const WS_MESSAGE: f64 = 1.00 / 1e6;
const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
/// arm64, per GB-second.
const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
/// Data transfer out to the internet, per GB (the first 10 TB a month).
const TRANSFER_OUT_GB: f64 = 0.09;
const S3_GB_MONTH: f64 = 0.023;
const DYNAMO_GB_MONTH: f64 = 0.25;
const PITR_GB_MONTH: f64 = 0.20;
/// Per trace recorded.
const XRAY_TRACE: f64 = 5.00 / 1e6;
/// CloudWatch Logs ingestion, per GB.
const LOGS_GB: f64 = 0.50;
/// Monthly: a custom metric, an alarm's metric (standard resolution), a
/// dashboard (beyond the account's three free), a secret, a KMS key.
const METRIC_MONTH: f64 = 0.30;
const ALARM_METRIC_MONTH: f64 = 0.10;
const DASHBOARD_MONTH: f64 = 3.00;
const SECRET_MONTH: f64 = 0.40;
const KMS_KEY_MONTH: f64 = 1.00;
const GB: f64 = 1024.0 * 1024.0 * 1024.0;

#[derive(Default, Debug, Clone, Copy)]
struct Meter {
    write_units: f64,
    read_units: f64,
    /// The uploaded file's own PUT: file storage, which the $12 target
    /// leaves out.
    file_puts: u32,
    s3_puts: u32,
    s3_gets: u32,
    /// The job's item as last written: what DynamoDB stores for it.
    job_item_bytes: usize,
    /// The events' items written: what DynamoDB stores for them.
    event_item_bytes: usize,
}

#[derive(Clone)]
struct Proxy {
    moto: String,
    http: reqwest::Client,
    meter: Arc<Mutex<Meter>>,
    /// Table name -> its definition in template.yaml.
    tables: Arc<HashMap<String, TableDef>>,
}

/// DynamoDB's size of an item: each attribute's name plus its value.
fn item_size(item: &serde_json::Map<String, Value>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(v: &Value) -> usize {
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, str::len),
        // Numbers: about one byte per two significant digits, plus one.
        "N" => inner.as_str().map_or(1, |n| {
            let digits = n.trim_start_matches('-').replace('.', "");
            digits.trim_start_matches('0').len().div_ceil(2) + 1
        }),
        "B" => inner.as_str().map_or(0, |b| b.len() * 3 / 4),
        "BOOL" | "NULL" => 1,
        "M" => 3 + inner.as_object().map_or(0, item_size),
        "L" => {
            3 + inner
                .as_array()
                .map_or(0, |l| l.iter().map(|x| 1 + value_size(x)).sum())
        }
        _ => inner.to_string().len(),
    }
}

fn units(bytes: usize, unit: usize) -> f64 {
    bytes.max(1).div_ceil(unit) as f64
}

impl Proxy {
    async fn dynamo(&self, op: &str, body: &Value) -> Value {
        let res = self
            .http
            .post(&self.moto)
            .header("x-amz-target", format!("DynamoDB_20120810.{op}"))
            .header("content-type", "application/x-amz-json-1.0")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x",
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        res.json().await.unwrap_or(Value::Null)
    }

    /// The item at `key` now, if any.
    async fn item(&self, table: &str, key: &Value) -> Option<serde_json::Map<String, Value>> {
        let got = self
            .dynamo(
                "GetItem",
                &json!({"TableName": table, "Key": key, "ConsistentRead": true}),
            )
            .await;
        got.get("Item").and_then(Value::as_object).cloned()
    }

    fn key_of(&self, table: &str, item: &Value) -> Value {
        let def = &self.tables[table];
        let mut key = serde_json::Map::new();
        for (name, _) in &def.key {
            key.insert(name.clone(), item[name].clone());
        }
        Value::Object(key)
    }

    /// What one write costs: the larger of the item before and after, in
    /// 1 KB units (doubled in a transaction), plus a write to every index
    /// the item is in, was in, or moves within.
    fn write_cost(
        &self,
        table: &str,
        before: &Option<serde_json::Map<String, Value>>,
        after: &Option<serde_json::Map<String, Value>>,
        transactional: bool,
    ) -> f64 {
        let size = |i: &Option<serde_json::Map<String, Value>>| i.as_ref().map_or(0, item_size);
        let base =
            units(size(before).max(size(after)), 1024) * if transactional { 2.0 } else { 1.0 };
        let def = &self.tables[table];
        let mut index = 0.0;
        for (name, keys) in &def.indexes {
            let key_of = |i: &Option<serde_json::Map<String, Value>>| {
                i.as_ref().and_then(|i| {
                    keys.iter()
                        .map(|(k, _)| i.get(k).cloned())
                        .collect::<Option<Vec<Value>>>()
                })
            };
            let keys_only = def.keys_only.contains(name);
            // An entry: the whole item, or only the index's and the
            // table's keys.
            let entry = |i: &Option<serde_json::Map<String, Value>>| {
                let Some(i) = i else { return 0 };
                if !keys_only {
                    return item_size(i);
                }
                let names: Vec<&String> =
                    keys.iter().chain(def.key.iter()).map(|(k, _)| k).collect();
                i.iter()
                    .filter(|(k, _)| names.contains(k))
                    .map(|(k, v)| k.len() + value_size(v))
                    .sum()
            };
            index += match (key_of(before), key_of(after)) {
                (None, None) => 0.0,
                (Some(_), None) => units(entry(before), 1024),
                (None, Some(_)) => units(entry(after), 1024),
                // A key that moves: the old entry deleted, the new one put.
                (Some(b), Some(a)) if a != b => {
                    units(entry(before), 1024) + units(entry(after), 1024)
                }
                // Same keys: an ALL index is rewritten when the item
                // changes; a KEYS_ONLY one has nothing that changed.
                (Some(_), Some(_)) if keys_only || before == after => 0.0,
                (Some(_), Some(_)) => units(entry(after), 1024),
            };
        }
        base + index
    }
}

async fn forward(
    State(p): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.rsplit('.').next().unwrap_or(t).to_owned());
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // The writes' items as they were.
    let mut writes: Vec<(String, Value, bool)> = Vec::new();
    match target.as_deref() {
        Some("PutItem") => {
            let t = request["TableName"].as_str().unwrap_or_default().to_owned();
            let k = p.key_of(&t, &request["Item"]);
            writes.push((t, k, false));
        }
        Some("UpdateItem" | "DeleteItem") => writes.push((
            request["TableName"].as_str().unwrap_or_default().to_owned(),
            request["Key"].clone(),
            false,
        )),
        Some("TransactWriteItems") => {
            for it in request["TransactItems"].as_array().into_iter().flatten() {
                let (kind, op) = it.as_object().and_then(|o| o.iter().next()).unwrap();
                let t = op["TableName"].as_str().unwrap_or_default().to_owned();
                let k = if kind == "Put" {
                    p.key_of(&t, &op["Item"])
                } else {
                    op["Key"].clone()
                };
                writes.push((t, k, true));
            }
        }
        _ => {}
    }
    let mut before = Vec::new();
    for (t, k, _) in &writes {
        before.push(p.item(t, k).await);
    }
    // The request itself, to moto.
    let (status, out, answer) =
        pass_on(&p.http, &p.moto, method.clone(), &uri, &headers, body).await;
    let mut cost = Meter::default();
    match target.as_deref() {
        None if method == Method::PUT && uri.path().contains("/uploads/") => cost.file_puts += 1,
        None if method == Method::PUT => cost.s3_puts += 1,
        None if method == Method::GET => cost.s3_gets += 1,
        Some("GetItem") => {
            let v: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
            let size = v["Item"].as_object().map_or(0, item_size);
            let strong = request["ConsistentRead"] == true;
            cost.read_units += units(size, 4096) * if strong { 1.0 } else { 0.5 };
        }
        Some("Query") => {
            let v: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
            let size: usize = v["Items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .map(item_size)
                .sum();
            let strong = request["ConsistentRead"] == true;
            cost.read_units += units(size, 4096) * if strong { 1.0 } else { 0.5 };
        }
        _ => {}
    }
    for ((t, k, transactional), b) in writes.iter().zip(before) {
        let after = p.item(t, k).await;
        cost.write_units += p.write_cost(t, &b, &after, *transactional);
        if p.tables[t].logical_id == "JobsTable" {
            cost.job_item_bytes = after.as_ref().map_or(0, item_size);
        }
        if p.tables[t].logical_id == "EventsTable"
            && after.as_ref().is_some_and(|i| i.contains_key("body"))
        {
            cost.event_item_bytes += after.as_ref().map_or(0, item_size);
        }
    }
    {
        let mut m = p.meter.lock().unwrap();
        m.write_units += cost.write_units;
        m.read_units += cost.read_units;
        m.file_puts += cost.file_puts;
        m.s3_puts += cost.s3_puts;
        m.s3_gets += cost.s3_gets;
        m.job_item_bytes = m.job_item_bytes.max(cost.job_item_bytes);
        m.event_item_bytes += cost.event_item_bytes;
    }
    (status, out, answer).into_response()
}

/// A bill: its lines, per million uploads or per month.
#[derive(Debug, Default)]
struct Bill {
    lines: Vec<(String, f64)>,
}

impl Bill {
    fn line(&mut self, what: impl Into<String>, usd: f64) {
        self.lines.push((what.into(), usd));
    }

    fn total(&self) -> f64 {
        self.lines.iter().map(|(_, v)| v).sum()
    }

    fn print(&self, title: &str) {
        eprintln!("{title}:");
        for (what, usd) in &self.lines {
            eprintln!("  {what}: ${usd:.2}");
        }
        eprintln!("  total: ${:.2}", self.total());
    }
}

/// The workload's file and result, and how long its third party takes to
/// accept a file.
const FILE_BYTES: usize = 1024 * 1024;
const RESULT_BYTES: usize = 1024;
const THIRD_PARTY_ACCEPTS_IN: std::time::Duration = std::time::Duration::from_secs(2);
/// What the functions do besides waiting, per invocation (verifying,
/// storing, pushing): an estimate, since the local stack is not Lambda.
const OWN_WORK_SECONDS: f64 = 0.1;
/// The functions' memory (template.yaml's Globals), in GB.
const MEMORY_GB: f64 = 0.25;
/// Log bytes per invocation (Lambda's START and REPORT, our lines, one
/// metrics line) and per HTTP request (one access-log line): an estimate.
const LOG_BYTES_PER_INVOCATION: f64 = 1500.0;
const ACCESS_LOG_BYTES: f64 = 400.0;

/// One upload of the workload, priced per million, and the upload
/// function's wait (which it is billed for) as the third party measured it.
async fn one_upload(
    app: &TestApp,
    tp: &boomerang_e2e::FakeThirdParty,
    meter: &Arc<Mutex<Meter>>,
) -> Bill {
    // One browser: its tabs share the leader tab's socket.
    let mut tab = app.tab("alice").await;
    *meter.lock().unwrap() = Meter::default();
    let file = vec![b'x'; FILE_BYTES];
    let res = app.upload("alice", "a.bin", &file).await;
    let answer = res.bytes().await.unwrap();
    let job: Value = serde_json::from_slice(&answer).unwrap();
    let id = job["job"]["id"].as_str().unwrap().to_owned();
    let handed = tp.next().await;
    // Url mode: the third party fetches the file from S3 itself (a GET
    // the proxy counts), straight from its presigned URL.
    let fetched = match &handed.json {
        Some(j) => {
            let url = j["file_url"].as_str().unwrap();
            let got = app.http.get(url).send().await.unwrap();
            assert_eq!(got.status(), 200);
            got.bytes().await.unwrap().len()
        }
        None => 0,
    };
    let body =
        json!({"job_id": id, "status": "completed", "result": {"blob": "r".repeat(RESULT_BYTES)}})
            .to_string();
    assert_eq!(app.webhook("msg_bill", &body).await.status(), 200);
    let mut pushed = Vec::new();
    for kind in ["job.submitted", "job.completed"] {
        pushed.push(tab.expect(kind).await.to_string().len());
    }
    let m = *meter.lock().unwrap();
    let million = 1e6;
    let mut bill = Bill::default();

    // The upload's request: the file and its multipart framing.
    let upload_bytes = FILE_BYTES + 200;
    let http_units = units(upload_bytes, 512 * 1024) + units(body.len(), 512 * 1024);
    bill.line(
        format!("HTTP API: {http_units} request units (512 KB each: the 1 MiB upload is 3)"),
        http_units * HTTP_REQUEST * million,
    );
    let ws_units: f64 = pushed.iter().map(|b| units(*b, 32 * 1024)).sum();
    bill.line(
        format!("WebSocket: {ws_units} message units (32 KB each) to one browser"),
        ws_units * WS_MESSAGE * million,
    );
    bill.line("Lambda: 2 invocations", 2.0 * LAMBDA_REQUEST * million);
    // The upload function waits for the third party's answer, billed.
    let waited = handed.held.as_secs_f64();
    assert!(
        waited >= THIRD_PARTY_ACCEPTS_IN.as_secs_f64(),
        "the third party answered before its work: {waited} s"
    );
    let gb_s = (waited + 2.0 * OWN_WORK_SECONDS) * MEMORY_GB;
    bill.line(
        format!(
            "Lambda duration: upload waits {:.1} s for the third party, + 2 × {OWN_WORK_SECONDS} s of work (estimate), at 256 MB",
            waited
        ),
        gb_s * LAMBDA_GB_SECOND * million,
    );
    bill.line(
        format!("DynamoDB: {} write units", m.write_units),
        m.write_units * WRITE_UNIT * million,
    );
    bill.line(
        format!("DynamoDB: {} read units", m.read_units),
        m.read_units * READ_UNIT * million,
    );
    // The job a month (JobRetentionDays 30), its events a week
    // (EventRetentionSeconds 604,800).
    let kept_gb = (m.job_item_bytes as f64 + m.event_item_bytes as f64 * 7.0 / 30.0) / GB * million;
    bill.line(
        format!(
            "DynamoDB storage and PITR: the {} B job kept a month, its {} B of events a week",
            m.job_item_bytes, m.event_item_bytes
        ),
        kept_gb * (DYNAMO_GB_MONTH + PITR_GB_MONTH),
    );
    bill.line(
        format!(
            "S3: {} PUT (the file), {} more PUT, {} GET",
            m.file_puts, m.s3_puts, m.s3_gets
        ),
        (f64::from(m.file_puts + m.s3_puts) * S3_PUT + f64::from(m.s3_gets) * S3_GET) * million,
    );
    bill.line(
        "S3 storage: the 1 MiB file kept a month (UploadRetentionDays 30)",
        FILE_BYTES as f64 / GB * million * S3_GB_MONTH,
    );
    // Out to the internet: the file to the third party, as it was sent
    // (multipart, by the function; url mode, from S3 at the same rate,
    // beside the hand-over's JSON).
    let to_third_party =
        (handed.request_bytes.expect("the hand-over's length") as usize + fetched) as f64;
    assert!(to_third_party >= FILE_BYTES as f64);
    bill.line(
        format!("Data transfer to the third party: {to_third_party} B (the file)"),
        to_third_party / GB * million * TRANSFER_OUT_GB,
    );
    let to_browser = (pushed.iter().sum::<usize>() + answer.len()) as f64;
    bill.line(
        format!("Data transfer to the browser: {to_browser} B (two events, the upload's answer)"),
        to_browser / GB * million * TRANSFER_OUT_GB,
    );
    // Lambda's sampling records the first request each second and 5 % of
    // the rest: below about one upload a second, every invocation is a
    // trace (a million a month is 0.4 a second).
    bill.line(
        "X-Ray: 2 traces (every invocation, at this rate)",
        2.0 * XRAY_TRACE * million,
    );
    let log_bytes = 2.0 * LOG_BYTES_PER_INVOCATION + 2.0 * ACCESS_LOG_BYTES;
    bill.line(
        format!("CloudWatch Logs: ~{log_bytes} B (estimate)"),
        log_bytes / GB * million * LOGS_GB,
    );
    bill
}

/// One upload of the workload on a fresh stack (its own moto, behind the
/// pricing proxy) handing files over in `mode`, priced per million.
async fn measured(mode: boomerang_config::Mode) -> (Bill, TestApp) {
    let moto = Arc::new(Moto::start().await);
    let defaults = boomerang_local::Config::with_data_dir("unused");
    let tables = boomerang_aws::tables::Tables::with_prefix(&defaults.table_prefix);
    let defs = table_defs(TEMPLATE).unwrap();
    let by_id = |id: &str| defs.iter().find(|d| d.logical_id == id).unwrap().clone();
    let tables = HashMap::from([
        (tables.connections.clone(), by_id("ConnectionsTable")),
        (tables.jobs.clone(), by_id("JobsTable")),
        (tables.events.clone(), by_id("EventsTable")),
        (tables.idempotency.clone(), by_id("IdempotencyTable")),
        (tables.quotas.clone(), by_id("QuotasTable")),
    ]);
    let proxy = Proxy {
        moto: moto.url.clone(),
        http: reqwest::Client::new(),
        meter: Arc::default(),
        tables: Arc::new(tables),
    };
    let router = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    let accepts = Mode::AcceptsAfter(THIRD_PARTY_ACCEPTS_IN);
    let (app, tp) = stack_through_to_with(router, moto, accepts, |c| {
        c.shared.third_party_mode = mode;
    })
    .await;
    (one_upload(&app, &tp, &proxy.meter).await, app)
}

/// What one stack costs a month with no traffic, from template.yaml.
fn fixed_monthly() -> Bill {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(TEMPLATE).unwrap();
    let resources = doc["Resources"].as_mapping().unwrap();
    // A production stack's: not the development stub's (ThirdPartyStub).
    let of_type = |kind: &str| {
        resources
            .values()
            .filter(move |r| r["Type"].as_str() == Some(kind))
            .filter(|r| r["Condition"].as_str() != Some("WithStub"))
            .collect::<Vec<_>>()
    };
    let alarm_metrics: usize = of_type("AWS::CloudWatch::Alarm")
        .iter()
        .map(|a| match a["Properties"]["Metrics"].as_sequence() {
            Some(m) => m.iter().filter(|q| !q["MetricStat"].is_null()).count(),
            None => 1,
        })
        .sum();
    let secrets = of_type("AWS::SecretsManager::Secret").len();
    let keys = of_type("AWS::KMS::Key").len();
    let dashboards = of_type("AWS::CloudWatch::Dashboard").len();
    // Our metrics (namespace Boomerang, dimension Stack: seven counters,
    // the internal errors, a series per webhook outcome, the latency
    // histogram; the connections gauge is local only) and the WebSocket
    // stage's detailed route metrics (5 for each of $connect,
    // $disconnect, $default and ping), both billed as custom metrics.
    let ours = 7 + 1 + boomerang_core::metrics::WebhookOutcome::ALL.len() + 1;
    let routes = 4 * 5;
    let mut bill = Bill::default();
    bill.line(
        format!("{alarm_metrics} alarm metrics"),
        alarm_metrics as f64 * ALARM_METRIC_MONTH,
    );
    bill.line(
        format!(
            "{} custom metrics ({ours} of ours, {routes} route metrics)",
            ours + routes
        ),
        (ours + routes) as f64 * METRIC_MONTH,
    );
    bill.line(
        format!("{dashboards} dashboard"),
        dashboards as f64 * DASHBOARD_MONTH,
    );
    bill.line(
        format!("{secrets} secrets (the HS256 key, the webhook key)"),
        secrets as f64 * SECRET_MONTH,
    );
    bill.line(
        format!("{keys} KMS key (the alarm topic)"),
        keys as f64 * KMS_KEY_MONTH,
    );
    // The sweep: once a minute, 43,200 runs a month, ~50 ms each, 24
    // Queries of half a read unit (8 shards each of the waits and marks),
    // and a trace each (a run is always its second's first request).
    let runs = 43_200.0;
    bill.line(
        "the sweep: 43,200 runs (requests, 50 ms each, 24 queries, traces)",
        runs * (LAMBDA_REQUEST
            + 0.05 * MEMORY_GB * LAMBDA_GB_SECOND
            + 24.0 * 0.5 * READ_UNIT
            + XRAY_TRACE),
    );
    bill
}

#[tokio::test]
async fn the_readmes_bill_is_what_the_stated_workload_costs_on_the_wire() {
    // GIVEN the aws backend, talking to moto through a pricing proxy, and
    // a third party that accepts a file in 2 s
    // WHEN one upload of the workload is made, in each hand-over mode, and
    // the stack's fixed costs are counted
    // (Each stack lives to the test's end: its background work needs its moto.)
    let (bill, _multipart) = measured(boomerang_config::Mode::Multipart).await;
    let (url_bill, _url) = measured(boomerang_config::Mode::Url).await;
    let fixed = fixed_monthly();
    bill.print("per million uploads of a 1 MiB file, 1 KB result, one browser");
    url_bill.print("the same, ThirdPartyMode url");
    fixed.print("fixed, per month");
    let transfer = bill
        .lines
        .iter()
        .find(|(what, _)| what.starts_with("Data transfer to the third party"))
        .unwrap()
        .1;

    // THEN docs/cost.md states each total within 2 %
    let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(format!("{root}/docs/cost.md")).unwrap();
    let stated = |marker: &str| -> f64 {
        doc.split(&format!("<!-- {marker}: $"))
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("docs/cost.md has no <!-- {marker}: $N --> line"))
    };
    let close = |stated: f64, measured: f64| (stated - measured).abs() <= measured * 0.02;
    for (marker, measured) in [
        ("bill-workload", bill.total()),
        ("bill-beyond-transfer", bill.total() - transfer),
        ("bill-fixed", fixed.total()),
        ("bill-url-mode", url_bill.total()),
    ] {
        let stated = stated(marker);
        assert!(
            close(stated, measured),
            "docs/cost.md says ${stated} for {marker}; measured ${measured:.2}"
        );
    }
    // AND each line this test priced is in its tables, and the README's
    // summary gives the totals and the transfer (within 2 %: the wait is
    // measured)
    let amounts = |text: &str| -> Vec<f64> {
        text.split('$')
            .skip(1)
            .filter_map(|rest| {
                let n: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                n.trim_end_matches('.').parse().ok()
            })
            .collect()
    };
    let in_doc = amounts(&doc);
    for (what, usd) in bill.lines.iter().chain(&fixed.lines).chain(&url_bill.lines) {
        assert!(
            in_doc
                .iter()
                .any(|a| (a - usd).abs() <= (usd * 0.02).max(0.01)),
            "docs/cost.md has no ${usd:.2} ({what})"
        );
    }
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let in_readme = amounts(&readme);
    for (what, usd) in [
        ("the total", bill.total()),
        ("the transfer", transfer),
        ("the fixed costs", fixed.total()),
    ] {
        assert!(
            in_readme.iter().any(|a| close(*a, usd)),
            "the README's summary has no ${usd:.2} ({what})"
        );
    }
}
