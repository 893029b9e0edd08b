//! Events: what a user's tabs are told, numbered per user.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use super::{job::millis, Job, JobStatus, JobView};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "job.submitted")]
    JobSubmitted,
    #[serde(rename = "job.completed")]
    JobCompleted,
    #[serde(rename = "job.failed")]
    JobFailed,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::JobSubmitted => "job.submitted",
            EventType::JobCompleted => "job.completed",
            EventType::JobFailed => "job.failed",
        }
    }
}

/// An event before the store has numbered it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    pub kind: EventType,
    pub at: DateTime<Utc>,
    pub job: JobView,
}

impl EventDraft {
    /// The event for `job` having just reached its status. A result that
    /// would make the message larger than `max_bytes` is left out
    /// (`"result": null, "resultTruncated": true`): the full result stays
    /// on the job, at `GET /jobs/{id}`.
    pub fn new(kind: EventType, job: &Job, max_bytes: usize) -> Self {
        // Progress is no event of the log: an event never shows it.
        let mut draft = Self {
            kind,
            at: job.updated_at,
            job: job.view().with_progress(None),
        };
        // The seq is not known yet; the widest u64 stands in for it.
        let probe = draft.clone().numbered(u64::MAX);
        if probe.wire_len() > max_bytes && draft.job.result.is_some() {
            draft.job.result = Some(serde_json::Value::Null);
            draft.job.result_truncated = Some(true);
        }
        draft
    }

    pub fn numbered(self, seq: u64) -> Event {
        Event {
            seq,
            kind: self.kind,
            at: self.at.trunc_subsecs(3),
            job: self.job,
        }
    }
}

impl Job {
    /// The job as lists show it: the one truncation rule. Its result is
    /// left out (`null`, `resultTruncated`) when its event would pass
    /// `max_bytes`, so a list shows a job exactly as its last push did,
    /// with its latest progress while it is unfinished.
    pub fn view_within(&self, max_bytes: usize) -> JobView {
        let kind = match self.status {
            JobStatus::Failed => EventType::JobFailed,
            JobStatus::Completed => EventType::JobCompleted,
            _ => EventType::JobSubmitted,
        };
        EventDraft::new(kind, self, max_bytes)
            .job
            .with_progress(self.live_progress())
    }
}

/// One message of the WebSocket protocol and of `GET /events`: typed, and
/// stored as exactly the JSON that is pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(with = "millis")]
    pub at: DateTime<Utc>,
    pub job: JobView,
}

impl Event {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an event always serialises")
    }

    pub fn wire_len(&self) -> usize {
        self.to_json().len()
    }
}

/// `job.progress`: the third party's progress, pushed at once to every
/// connection of the job's owner. It has no `seq`: it is not an event of
/// the log, never returned by `GET /events`, never replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressNotice {
    pub at: DateTime<Utc>,
    pub job: JobView,
}

impl ProgressNotice {
    pub const TYPE: &'static str = "job.progress";
}

/// A message pushed to a user's connections: an event of the log, or a
/// progress notice.
pub trait Pushed: Send + Sync {
    fn to_json(&self) -> String;
    /// `type`, for logs.
    fn kind(&self) -> &'static str;
    /// Its place in the user's log, if it has one.
    fn seq(&self) -> Option<u64>;
}

impl Pushed for Event {
    fn to_json(&self) -> String {
        Event::to_json(self)
    }
    fn kind(&self) -> &'static str {
        self.kind.as_str()
    }
    fn seq(&self) -> Option<u64> {
        Some(self.seq)
    }
}

impl Pushed for ProgressNotice {
    fn to_json(&self) -> String {
        serde_json::json!({
            "type": Self::TYPE,
            "at": super::timestamp(self.at),
            "job": self.job,
        })
        .to_string()
    }
    fn kind(&self) -> &'static str {
        Self::TYPE
    }
    fn seq(&self) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JobId, JobStatus, UserId};

    fn completed_with(result: serde_json::Value) -> Job {
        let now = Utc::now();
        Job {
            id: JobId::generate(),
            owner: UserId::parse("alice").unwrap(),
            status: JobStatus::Completed,
            file_name: "a.csv".into(),
            content_type: "text/csv".into(),
            size: 3,
            file_key: "k".into(),
            created_at: now,
            updated_at: now,
            result: Some(result),
            error: None,
            progress: None,
        }
    }

    #[test]
    fn a_small_result_is_pushed_whole() {
        let e = EventDraft::new(
            EventType::JobCompleted,
            &completed_with(serde_json::json!({"n": 1})),
            1024,
        )
        .numbered(7);
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["seq"], 7);
        assert_eq!(v["type"], "job.completed");
        assert_eq!(v["job"]["result"]["n"], 1);
        assert!(v["job"].get("resultTruncated").is_none());
    }

    #[test]
    fn a_result_too_large_to_push_is_truncated_and_the_message_fits() {
        let big = serde_json::json!({"blob": "x".repeat(2000)});
        let e =
            EventDraft::new(EventType::JobCompleted, &completed_with(big), 1024).numbered(u64::MAX);
        assert!(e.wire_len() <= 1024);
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert!(v["job"]["result"].is_null());
        assert_eq!(v["job"]["resultTruncated"], true);
    }
}
