//! What operators watch, recorded through the `metrics` facade under the
//! names the contract gives: locally `GET /metrics` renders them as
//! Prometheus text (`metrics-exporter-prometheus`), on AWS each Lambda
//! writes them in CloudWatch's embedded metric format after every
//! invocation (`metrics_cloudwatch_embedded`), namespace `Boomerang`,
//! dimension `Stack`, labels as further dimensions.

use ::metrics::{counter, describe_counter, describe_histogram, histogram, Unit};

pub const EVENTS_PUSHED: &str = "boomerang_events_pushed_total";
pub const CONNECTIONS_GONE: &str = "boomerang_connections_gone_total";
pub const PUSH_FAILURES: &str = "boomerang_push_failures_total";
pub const THIRD_PARTY_FAILURES: &str = "boomerang_third_party_failures_total";
pub const JOBS_TIMED_OUT: &str = "boomerang_jobs_timed_out_total";
/// The heartbeat an alarm watches: no sweep for 5 minutes means jobs past
/// their deadline stay waiting.
pub const SWEEPS_COMPLETED: &str = "boomerang_sweeps_completed_total";
pub const SWEEP_SKIPPED_JOBS: &str = "boomerang_sweep_skipped_jobs_total";
/// Requests answered 500: faults of ours (storage, a bug), never a
/// client's. A rollout alarm watches it.
pub const INTERNAL_ERRORS: &str = "boomerang_internal_errors_total";
/// Labelled `outcome` ([`WebhookOutcome::as_str`]).
pub const WEBHOOKS: &str = "boomerang_webhooks_total";
pub const WEBHOOK_TO_PUSH: &str = "boomerang_webhook_to_push_seconds";
/// Open WebSocket connections: a gauge only a gateway that holds them
/// (the local one) can set.
pub const CONNECTIONS: &str = "boomerang_connections";

/// Gives every figure its help text and unit, and its first value (a
/// scraper sees every series from the start), once the exporter is
/// installed. (CloudWatch's writer leaves a counter that did not move
/// out of its line.)
pub fn describe() {
    for (name, help) in [
        (EVENTS_PUSHED, "Events that reached a connection."),
        (
            CONNECTIONS_GONE,
            "Pushes that found their connection gone (410); the row was deleted.",
        ),
        (
            PUSH_FAILURES,
            "Pushes that failed otherwise (the event stays in GET /events).",
        ),
        (
            THIRD_PARTY_FAILURES,
            "Uploads the third party did not take, after every attempt.",
        ),
        (
            JOBS_TIMED_OUT,
            "Jobs that waited longer than BOOMERANG_JOB_TIMEOUT_SECS and failed.",
        ),
        (
            SWEEPS_COMPLETED,
            "Sweeps that ran to their end (the heartbeat).",
        ),
        (
            SWEEP_SKIPPED_JOBS,
            "Due jobs a sweep could not read or move, skipped.",
        ),
        (
            INTERNAL_ERRORS,
            "Requests answered 500: a fault of ours, never a client's.",
        ),
        (WEBHOOKS, "Webhooks answered, by outcome."),
    ] {
        describe_counter!(name, Unit::Count, help);
        if name != WEBHOOKS {
            counter!(name).increment(0);
        }
    }
    for outcome in WebhookOutcome::ALL {
        counter!(WEBHOOKS, "outcome" => outcome.as_str()).increment(0);
    }
    describe_histogram!(
        WEBHOOK_TO_PUSH,
        Unit::Seconds,
        "From a webhook's arrival to its event pushed to every tab."
    );
    let _ = histogram!(WEBHOOK_TO_PUSH);
}

/// One more of a counted figure.
pub fn count(name: &'static str) {
    counter!(name).increment(1);
}

/// A webhook answered with `outcome`; `to_push` when it was applied.
pub fn webhook(outcome: WebhookOutcome, to_push: Option<std::time::Duration>) {
    counter!(WEBHOOKS, "outcome" => outcome.as_str()).increment(1);
    if let Some(d) = to_push {
        histogram!(WEBHOOK_TO_PUSH).record(d.as_secs_f64());
    }
}

/// How a webhook was answered: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebhookOutcome {
    Applied,
    AlreadyDone,
    /// A job's progress kept and pushed.
    Progress,
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
    pub const ALL: [WebhookOutcome; 7] = [
        WebhookOutcome::Applied,
        WebhookOutcome::AlreadyDone,
        WebhookOutcome::Progress,
        WebhookOutcome::BadSignature,
        WebhookOutcome::UnknownJob,
        WebhookOutcome::Malformed,
        WebhookOutcome::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Applied => "applied",
            WebhookOutcome::AlreadyDone => "already_done",
            WebhookOutcome::Progress => "progress",
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
            Unauthenticated(_) => WebhookOutcome::BadSignature,
            NotFound(_) => WebhookOutcome::UnknownJob,
            Internal(_) | Upstream(_) => WebhookOutcome::Error,
            _ => WebhookOutcome::Malformed,
        }
    }
}
