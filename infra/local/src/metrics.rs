//! `PrometheusMetrics`: the core's figures, kept in memory and served at
//! `GET /metrics` in Prometheus's text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use boomerang_core::metrics::{Metric, Metrics, WebhookOutcome};

/// Upper bounds of the webhook-to-push histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Default)]
pub struct PrometheusMetrics {
    events_pushed: AtomicU64,
    connections_gone: AtomicU64,
    push_failures: AtomicU64,
    third_party_failures: AtomicU64,
    jobs_timed_out: AtomicU64,
    sweeps_completed: AtomicU64,
    sweep_skipped: AtomicU64,
    webhooks: [AtomicU64; WebhookOutcome::ALL.len()],
    latency: Mutex<Histogram>,
}

#[derive(Debug, Default)]
struct Histogram {
    /// Observations at or under each bound (not yet cumulative).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics for PrometheusMetrics {
    fn record(&self, metric: Metric) {
        let bump = |c: &AtomicU64| {
            c.fetch_add(1, Ordering::Relaxed);
        };
        match metric {
            Metric::EventPushed => bump(&self.events_pushed),
            Metric::ConnectionGone => bump(&self.connections_gone),
            Metric::PushFailed => bump(&self.push_failures),
            Metric::ThirdPartyFailed => bump(&self.third_party_failures),
            Metric::JobTimedOut => bump(&self.jobs_timed_out),
            Metric::SweepCompleted => bump(&self.sweeps_completed),
            Metric::SweepSkipped => bump(&self.sweep_skipped),
            Metric::Webhook(outcome) => {
                let i = WebhookOutcome::ALL
                    .iter()
                    .position(|o| *o == outcome)
                    .expect("every outcome is listed");
                bump(&self.webhooks[i]);
            }
            Metric::WebhookToPush(d) => {
                let s = d.as_secs_f64();
                let mut h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(i) = BUCKETS.iter().position(|b| s <= *b) {
                    h.buckets[i] += 1;
                }
                h.count += 1;
                h.sum += s;
            }
        }
    }
}

impl PrometheusMetrics {
    /// Everything, in Prometheus's text format, after the gauge of open
    /// connections (which the gateway knows, not the core).
    pub fn render(&self, connections: usize) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: &AtomicU64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                v.load(Ordering::Relaxed)
            );
        };
        counter(
            "boomerang_events_pushed_total",
            "Events that reached a connection.",
            &self.events_pushed,
        );
        counter(
            "boomerang_connections_gone_total",
            "Pushes that found their connection gone (410); the row was deleted.",
            &self.connections_gone,
        );
        counter(
            "boomerang_push_failures_total",
            "Pushes that failed otherwise (the event stays in GET /events).",
            &self.push_failures,
        );
        counter(
            "boomerang_third_party_failures_total",
            "Uploads the third party did not take, after every attempt.",
            &self.third_party_failures,
        );
        counter(
            "boomerang_jobs_timed_out_total",
            "Jobs that waited longer than BOOMERANG_JOB_TIMEOUT_SECS and failed.",
            &self.jobs_timed_out,
        );
        counter(
            "boomerang_sweeps_completed_total",
            "Sweeps that ran to their end (the heartbeat).",
            &self.sweeps_completed,
        );
        counter(
            "boomerang_sweep_skipped_jobs_total",
            "Due jobs a sweep could not read or move, skipped.",
            &self.sweep_skipped,
        );
        let _ = write!(
            out,
            "# HELP boomerang_connections WebSocket connections this gateway holds.\n\
             # TYPE boomerang_connections gauge\nboomerang_connections {connections}\n\
             # HELP boomerang_webhooks_total Webhooks answered, by outcome.\n\
             # TYPE boomerang_webhooks_total counter\n"
        );
        for (outcome, n) in WebhookOutcome::ALL.iter().zip(&self.webhooks) {
            let _ = writeln!(
                out,
                "boomerang_webhooks_total{{outcome=\"{}\"}} {}",
                outcome.as_str(),
                n.load(Ordering::Relaxed)
            );
        }
        let h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let name = "boomerang_webhook_to_push_seconds";
        let _ = write!(
            out,
            "# HELP {name} From a webhook's arrival to its event pushed to every tab.\n\
             # TYPE {name} histogram\n"
        );
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(h.buckets) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = write!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}\n",
            h.count, h.sum, h.count
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn counters_and_the_histogram_render_as_prometheus_text() {
        let m = PrometheusMetrics::default();
        m.record(Metric::EventPushed);
        m.record(Metric::EventPushed);
        m.record(Metric::Webhook(WebhookOutcome::Applied));
        m.record(Metric::Webhook(WebhookOutcome::BadSignature));
        m.record(Metric::WebhookToPush(Duration::from_millis(3)));
        m.record(Metric::WebhookToPush(Duration::from_secs(9)));
        let text = m.render(4);
        for line in [
            "boomerang_events_pushed_total 2",
            "boomerang_connections 4",
            "boomerang_webhooks_total{outcome=\"applied\"} 1",
            "boomerang_webhooks_total{outcome=\"bad_signature\"} 1",
            "boomerang_webhooks_total{outcome=\"unknown_job\"} 0",
            "boomerang_webhook_to_push_seconds_bucket{le=\"0.0025\"} 0",
            "boomerang_webhook_to_push_seconds_bucket{le=\"0.005\"} 1",
            "boomerang_webhook_to_push_seconds_bucket{le=\"5\"} 1",
            "boomerang_webhook_to_push_seconds_bucket{le=\"+Inf\"} 2",
            "boomerang_webhook_to_push_seconds_count 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
    }
}
