//! `EmfMetrics`: the core's figures as CloudWatch metrics, written as one
//! embedded-metric-format line per invocation (CloudWatch Logs turns it
//! into metrics; no PutMetricData call, nothing on the request's path).
//! Namespace `Boomerang`, dimension `Stack`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use boomerang_core::metrics::{Metric, Metrics, WebhookOutcome};
use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "Boomerang";

pub struct EmfMetrics {
    stack: String,
    recorded: Mutex<Recorded>,
    write: Box<dyn Fn(&str) + Send + Sync>,
}

#[derive(Default)]
struct Recorded {
    counts: BTreeMap<&'static str, u64>,
    /// Webhook-to-push latencies, in milliseconds.
    latencies: Vec<f64>,
}

/// The metric names, as the template's alarms and dashboard use them.
fn name(metric: &Metric) -> &'static str {
    match metric {
        Metric::EventPushed => "EventsPushed",
        Metric::ConnectionGone => "ConnectionsGone",
        Metric::PushFailed => "PushFailures",
        Metric::ThirdPartyFailed => "ThirdPartyFailures",
        Metric::JobTimedOut => "JobsTimedOut",
        Metric::WebhookToPush(_) => "WebhookToPush",
        Metric::Webhook(o) => match o {
            WebhookOutcome::Applied => "WebhooksApplied",
            WebhookOutcome::AlreadyDone => "WebhooksAlreadyDone",
            WebhookOutcome::BadSignature => "WebhooksBadSignature",
            WebhookOutcome::UnknownJob => "WebhooksUnknownJob",
            WebhookOutcome::Malformed => "WebhooksMalformed",
            WebhookOutcome::Error => "WebhooksFailed",
        },
    }
}

impl EmfMetrics {
    /// Writing to stdout, where Lambda sends it to CloudWatch Logs.
    pub fn stdout(stack: impl Into<String>) -> Self {
        Self::with_writer(stack, |line| println!("{line}"))
    }

    pub fn with_writer(
        stack: impl Into<String>,
        write: impl Fn(&str) + Send + Sync + 'static,
    ) -> Self {
        Self {
            stack: stack.into(),
            recorded: Mutex::default(),
            write: Box::new(write),
        }
    }
}

impl Metrics for EmfMetrics {
    fn record(&self, metric: Metric) {
        let mut r = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        match metric {
            Metric::WebhookToPush(d) => r.latencies.push(d.as_secs_f64() * 1000.0),
            other => *r.counts.entry(name(&other)).or_default() += 1,
        }
    }

    fn flush(&self) {
        let r = std::mem::take(&mut *self.recorded.lock().unwrap_or_else(|p| p.into_inner()));
        if r.counts.is_empty() && r.latencies.is_empty() {
            return;
        }
        let mut line = Map::new();
        let mut defs = Vec::new();
        for (name, n) in &r.counts {
            defs.push(json!({"Name": name, "Unit": "Count"}));
            line.insert((*name).into(), json!(n));
        }
        if !r.latencies.is_empty() {
            defs.push(json!({"Name": "WebhookToPush", "Unit": "Milliseconds"}));
            line.insert("WebhookToPush".into(), json!(r.latencies));
        }
        line.insert("Stack".into(), json!(self.stack));
        line.insert(
            "_aws".into(),
            json!({
                "Timestamp": chrono::Utc::now().timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Stack"]],
                    "Metrics": defs,
                }],
            }),
        );
        (self.write)(&Value::Object(line).to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn one_invocation_is_one_embedded_metric_format_line() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let m = EmfMetrics::with_writer("prod", move |l| sink.lock().unwrap().push(l.into()));
        m.flush(); // nothing recorded: nothing written
        m.record(Metric::EventPushed);
        m.record(Metric::EventPushed);
        m.record(Metric::Webhook(WebhookOutcome::Applied));
        m.record(Metric::WebhookToPush(Duration::from_millis(12)));
        m.flush();
        m.flush(); // recorded once, written once
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1);
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["EventsPushed"], 2);
        assert_eq!(v["WebhooksApplied"], 1);
        assert_eq!(v["WebhookToPush"], json!([12.0]));
        assert_eq!(v["Stack"], "prod");
        let cw = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], NAMESPACE);
        assert_eq!(cw["Dimensions"], json!([["Stack"]]));
        let names: Vec<&str> = cw["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["EventsPushed", "WebhooksApplied", "WebhookToPush"]);
    }
}
