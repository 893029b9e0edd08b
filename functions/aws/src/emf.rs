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
    /// The line's `level`. Lambda filters application lines by the
    /// function's log level (the template's `LogLevel`) and takes a line
    /// with no level as INFO: at WARN or above every metric would be
    /// dropped, and the alarms on them would go quiet. A line at the
    /// function's own level passes its filter, whatever the level is.
    level: String,
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
        Metric::SweepCompleted => "SweepsCompleted",
        Metric::SweepSkipped => "SweepSkippedJobs",
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
    /// Writing to stdout, where Lambda sends it to CloudWatch Logs, at the
    /// level Lambda filters this function's lines by
    /// (`AWS_LAMBDA_LOG_LEVEL`, from `ApplicationLogLevel`).
    pub fn stdout(stack: impl Into<String>) -> Self {
        let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_default();
        Self::with_writer(stack, &level, |line| println!("{line}"))
    }

    /// `level`: the function's log level (empty: INFO, Lambda's default).
    pub fn with_writer(
        stack: impl Into<String>,
        level: &str,
        write: impl Fn(&str) + Send + Sync + 'static,
    ) -> Self {
        let level = match level.trim() {
            "" => "INFO".to_owned(),
            l => l.to_ascii_uppercase(),
        };
        Self {
            stack: stack.into(),
            level,
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
        line.insert("level".into(), json!(self.level));
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
        let m = EmfMetrics::with_writer("prod", "", move |l| sink.lock().unwrap().push(l.into()));
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
        assert_eq!(v["level"], "INFO", "Lambda's default level");
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

    /// Lambda's order of levels: a line passes when it is at least as
    /// severe as the function's level.
    const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

    #[test]
    fn metric_lines_pass_lambdas_filter_at_every_log_level_the_template_allows() {
        let template = include_str!("../../../template.yaml");
        assert!(
            template.contains("AllowedValues: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]"),
            "the template's LogLevel values changed: list them here"
        );
        for level in LEVELS {
            // GIVEN the function at this LogLevel
            let lines = Arc::new(Mutex::new(Vec::<String>::new()));
            let sink = lines.clone();
            let m = EmfMetrics::with_writer("prod", &level.to_lowercase(), move |l| {
                sink.lock().unwrap().push(l.into())
            });
            // WHEN a metric is written
            m.record(Metric::SweepCompleted);
            m.flush();
            // THEN its line is at least as severe as the filter
            let v: Value = serde_json::from_str(&lines.lock().unwrap()[0]).unwrap();
            let at = LEVELS.iter().position(|l| v["level"] == *l).unwrap();
            let filter = LEVELS.iter().position(|l| *l == level).unwrap();
            assert!(at >= filter, "{level}: the metric line is {}", v["level"]);
        }
    }
}
