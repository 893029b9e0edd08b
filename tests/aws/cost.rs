//! What one notification costs on AWS, metered on the wire: a proxy in
//! front of moto prices each DynamoDB request by DynamoDB's own rules
//! (the items' sizes before and after each write, 1 KB write units, 4 KB
//! read units, transactions at double, every index an item is in), and
//! counts S3 requests; the pushes' sizes are priced in 32 KB WebSocket
//! increments and the requests in 512 KB HTTP API increments. The README's
//! bill ("What it costs") is this test's output: it fails when they part.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use boomerang_e2e::{json_of, Moto, TestApp};
use boomerang_local::provision::{table_defs, TableDef, TEMPLATE};
use serde_json::{json, Value};

use super::{pass_on, stack_through};

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

#[derive(Default, Debug, Clone, Copy)]
struct Meter {
    write_units: f64,
    read_units: f64,
    /// The uploaded file's own PUT: file storage, which the $12 target
    /// leaves out.
    file_puts: u32,
    s3_puts: u32,
    s3_gets: u32,
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
    }
    {
        let mut m = p.meter.lock().unwrap();
        m.write_units += cost.write_units;
        m.read_units += cost.read_units;
        m.file_puts += cost.file_puts;
        m.s3_puts += cost.s3_puts;
        m.s3_gets += cost.s3_gets;
    }
    (status, out, answer).into_response()
}

/// One notification's bill, per million of them.
#[derive(Debug)]
struct Bill {
    lines: Vec<(String, f64)>,
    /// Of the total: storing the uploaded file (its PUT).
    file_storage: f64,
}

impl Bill {
    fn total(&self) -> f64 {
        self.lines.iter().map(|(_, v)| v).sum()
    }

    /// What the $12 target counts: all but file storage (data transfer is
    /// not in the measured lines).
    fn without_file_storage(&self) -> f64 {
        self.total() - self.file_storage
    }
}

/// Uploads a small file and completes it with a result of `result_bytes`,
/// with `devices` browsers open (the tabs of one share one socket: the
/// client module's leader tab holds it), and prices what that took.
async fn notification(
    app: &TestApp,
    meter: &Arc<Mutex<Meter>>,
    result_bytes: usize,
    n: usize,
    devices: usize,
) -> Bill {
    let mut tabs = Vec::new();
    for _ in 0..devices {
        tabs.push(app.tab("alice").await);
    }
    let file = b"name,score\nalice,3\n";
    *meter.lock().unwrap() = Meter::default();
    let job = json_of(app.upload("alice", "a.csv", file).await, 202).await;
    let id = job["job"]["id"].as_str().unwrap().to_owned();
    let body =
        json!({"job_id": id, "status": "completed", "result": {"blob": "r".repeat(result_bytes)}})
            .to_string();
    assert_eq!(
        app.webhook(&format!("msg_bill_{n}"), &body).await.status(),
        200
    );
    // What each tab received: two events.
    let mut pushed = Vec::new();
    for tab in tabs.iter_mut() {
        for kind in ["job.submitted", "job.completed"] {
            let event = tab.expect(kind).await;
            pushed.push(event.to_string().len());
        }
    }
    let m = *meter.lock().unwrap();
    // The upload request: the multipart body; the webhook: its body.
    let http_units = units(file.len() + 200, 512 * 1024) + units(body.len(), 512 * 1024);
    let ws_units: f64 = pushed.iter().map(|b| units(*b, 32 * 1024)).sum();
    let million = 1e6;
    Bill {
        lines: vec![
            (
                format!("HTTP API: {http_units} request units (512 KB each)"),
                http_units * HTTP_REQUEST * million,
            ),
            (
                format!("WebSocket: {ws_units} message units (32 KB each) to {devices} browser(s)"),
                ws_units * WS_MESSAGE * million,
            ),
            (
                "Lambda: 2 invocations".to_owned(),
                2.0 * LAMBDA_REQUEST * million,
            ),
            // An estimate: not measurable here (see the README).
            (
                "Lambda duration: 2 × 100 ms at 256 MB (estimate)".to_owned(),
                2.0 * 0.1 * 0.25 * LAMBDA_GB_SECOND * million,
            ),
            (
                format!("DynamoDB: {} write units", m.write_units),
                m.write_units * WRITE_UNIT * million,
            ),
            (
                format!("DynamoDB: {} read units", m.read_units),
                m.read_units * READ_UNIT * million,
            ),
            (
                format!("S3: {} PUT, {} GET (results)", m.s3_puts, m.s3_gets),
                (m.s3_puts as f64 * S3_PUT + m.s3_gets as f64 * S3_GET) * million,
            ),
            (
                format!("S3: {} PUT (the file: file storage)", m.file_puts),
                m.file_puts as f64 * S3_PUT * million,
            ),
        ],
        file_storage: m.file_puts as f64 * S3_PUT * million,
    }
}

#[tokio::test]
async fn the_readmes_bill_is_what_a_notification_costs_on_the_wire() {
    // GIVEN the aws backend, talking to moto through a pricing proxy
    let moto = Arc::new(Moto::start().await);
    let defaults = boomerang_local::Config::with_data_dir("unused");
    let tables = boomerang_aws::tables::Tables::with_prefix(&defaults.table_prefix);
    let defs = table_defs(TEMPLATE).unwrap();
    let by_id = |id: &str| defs.iter().find(|d| d.logical_id == id).unwrap().clone();
    let tables = HashMap::from([
        (tables.connections.clone(), by_id("ConnectionsTable")),
        (tables.jobs.clone(), by_id("JobsTable")),
        (tables.events.clone(), by_id("EventsTable")),
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
    let (app, _tp) = stack_through(router, moto).await;

    // WHEN a notification with a 1 KB result, then one with 64 KiB, is made
    let small = notification(&app, &proxy.meter, 1024, 1, 1).await;
    let large = notification(&app, &proxy.meter, 64 * 1024, 2, 1).await;
    // (and the small one reaching two devices, which the target leaves out)
    let two_devices = notification(&app, &proxy.meter, 1024, 3, 2).await;
    for (name, bill) in [
        ("1 KB result", &small),
        ("64 KiB result", &large),
        ("1 KB result, two devices", &two_devices),
    ] {
        eprintln!("per million notifications, {name}:");
        for (what, usd) in &bill.lines {
            eprintln!("  {what}: ${usd:.2}");
        }
        eprintln!("  total: ${:.2}", bill.total());
        eprintln!(
            "  without file storage: ${:.2}",
            bill.without_file_storage()
        );
    }
    // THEN a small result costs at most $12 a million, file storage and
    // data transfer aside
    assert!(
        small.without_file_storage() <= 12.0,
        "a 1 KB notification costs ${:.2} a million without file storage: {small:#?}",
        small.without_file_storage()
    );
    // AND the README states these totals (to the dollar)
    let readme =
        std::fs::read_to_string(format!("{}/../README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let stated = |marker: &str| -> f64 {
        readme
            .split(&format!("<!-- {marker}: $"))
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("README.md has no <!-- {marker}: $N --> line"))
    };
    for (marker, measured) in [
        ("bill-small", small.total()),
        ("bill-large", large.total()),
        ("bill-small-two-devices", two_devices.without_file_storage()),
    ] {
        let stated = stated(marker);
        assert!(
            (stated - measured).abs() < 1.0,
            "README says ${stated} for {marker}; measured ${measured:.2}"
        );
    }
}
