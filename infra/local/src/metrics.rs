//! `GET /metrics`: the core's figures, recorded through the `metrics`
//! facade into this process's Prometheus recorder and rendered as text.

use std::sync::OnceLock;

use boomerang_core::metrics::{describe, CONNECTIONS, WEBHOOK_TO_PUSH};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Upper bounds of the webhook-to-push histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The process's recorder, installed on first use: every stack in the
/// process (tests start several) counts into it.
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(WEBHOOK_TO_PUSH.into()), &BUCKETS)
            .expect("the buckets are not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed in this process");
        describe();
        handle
    })
}

/// Everything, in Prometheus's text format, with the gauge of open
/// connections (which the gateway knows, not the core).
pub fn render(connections: usize) -> String {
    let handle = recorder();
    metrics::gauge!(CONNECTIONS).set(connections as f64);
    handle.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use boomerang_core::metrics::{count, webhook, WebhookOutcome, EVENTS_PUSHED};
    use std::time::Duration;

    #[test]
    fn counters_and_the_histogram_render_as_prometheus_text() {
        recorder();
        count(EVENTS_PUSHED);
        count(EVENTS_PUSHED);
        webhook(WebhookOutcome::Applied, Some(Duration::from_millis(3)));
        webhook(WebhookOutcome::BadSignature, None);
        webhook(WebhookOutcome::Applied, Some(Duration::from_secs(9)));
        let text = render(4);
        for line in [
            "# TYPE boomerang_events_pushed_total counter",
            "boomerang_events_pushed_total 2",
            "boomerang_connections 4",
            "boomerang_webhooks_total{outcome=\"applied\"} 2",
            "boomerang_webhooks_total{outcome=\"bad_signature\"} 1",
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
