//! What operators watch: the figures the use cases report through the
//! [`Metrics`] port. Locally they are served at `GET /metrics` (Prometheus
//! text); on AWS each Lambda writes them as CloudWatch metrics in the
//! embedded metric format, once per invocation.

use std::time::Duration;

/// One thing that happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// An event reached one connection.
    EventPushed,
    /// A push found its connection gone (410); the row was deleted.
    ConnectionGone,
    /// A push failed for another reason (the event stays in the log).
    PushFailed,
    /// A webhook was answered, with this outcome.
    Webhook(WebhookOutcome),
    /// From a webhook's arrival to its event pushed to every tab.
    WebhookToPush(Duration),
    /// The third party did not take a file (after every attempt).
    ThirdPartyFailed,
    /// A job waited too long for the third party and failed.
    JobTimedOut,
    /// A sweep ran to its end: the heartbeat an alarm watches (no sweep
    /// for 5 minutes means jobs past their deadline stay waiting).
    SweepCompleted,
    /// A due job the sweep could not read or move; it was skipped and the
    /// sweep went on to the others.
    SweepSkipped,
}

/// How a webhook was answered: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebhookOutcome {
    Applied,
    AlreadyDone,
    /// 401: no valid signature, or a stale timestamp.
    BadSignature,
    /// 404: a job this deployment never issued.
    UnknownJob,
    /// 400 or 413: the body.
    Malformed,
    /// 5xx: ours.
    Error,
}

impl WebhookOutcome {
    pub const ALL: [WebhookOutcome; 6] = [
        WebhookOutcome::Applied,
        WebhookOutcome::AlreadyDone,
        WebhookOutcome::BadSignature,
        WebhookOutcome::UnknownJob,
        WebhookOutcome::Malformed,
        WebhookOutcome::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Applied => "applied",
            WebhookOutcome::AlreadyDone => "already_done",
            WebhookOutcome::BadSignature => "bad_signature",
            WebhookOutcome::UnknownJob => "unknown_job",
            WebhookOutcome::Malformed => "malformed",
            WebhookOutcome::Error => "error",
        }
    }

    /// The outcome of a webhook refused with `error`.
    pub fn of_error(error: &crate::Error) -> Self {
        use crate::Error::*;
        match error {
            Unauthorized(_) => WebhookOutcome::BadSignature,
            NotFound(_) => WebhookOutcome::UnknownJob,
            Internal(_) | BadGateway(_) => WebhookOutcome::Error,
            _ => WebhookOutcome::Malformed,
        }
    }
}

/// Where the figures go.
pub trait Metrics: Send + Sync {
    fn record(&self, metric: Metric);
    /// Writes out what was recorded since the last flush, where the sink
    /// needs it (a Lambda: at the end of each invocation).
    fn flush(&self) {}
}

/// Figures nobody reads: for tests and tools that do not care.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn record(&self, _: Metric) {}
}
