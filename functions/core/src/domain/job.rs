//! A job: one uploaded file on its way to the third party and back.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{JobId, Progress, UserId};

/// A job's life: `Pending` → `Submitted` → `Completed` | `Failed`.
/// `Pending` may also go straight to `Completed` or `Failed` (the webhook
/// beat the third party's 2xx, or the third party refused the file). A
/// file sent straight to storage starts `Uploading`, and becomes `Pending`
/// once its bytes are stored (or `Failed` when they never come).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Created by `POST /uploads` (JSON); its bytes are on their way to
    /// storage by a presigned PUT.
    Uploading,
    /// Stored and being handed to the third party. Shown to clients as
    /// `submitted`: from where they stand, it is.
    Pending,
    Submitted,
    Completed,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Uploading => "uploading",
            JobStatus::Pending => "pending",
            JobStatus::Submitted => "submitted",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "uploading" => JobStatus::Uploading,
            "pending" => JobStatus::Pending,
            "submitted" => JobStatus::Submitted,
            "completed" => JobStatus::Completed,
            "failed" => JobStatus::Failed,
            _ => return None,
        })
    }

    /// The status in the external contract, which has no `pending`.
    pub fn public(self) -> JobStatus {
        match self {
            JobStatus::Pending => JobStatus::Submitted,
            other => other,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed)
    }

    /// The one place a job's moves are written down: whether a job in this
    /// status may move to `to`. [`Job::move_to`] holds every move to it,
    /// in every build, and conditions each on one of the lists below.
    pub fn can_move_to(self, to: JobStatus) -> bool {
        use JobStatus::*;
        matches!(
            (self, to),
            (Uploading, Pending | Failed)
                | (Pending, Submitted | Completed | Failed)
                | (Submitted, Completed | Failed)
        )
    }

    /// A file sent straight to storage whose bytes have not come.
    pub const WAITING_FOR_BYTES: &'static [JobStatus] = &[JobStatus::Uploading];
    /// A stored file being handed to the third party.
    pub const BEING_HANDED_OVER: &'static [JobStatus] = &[JobStatus::Pending];
    /// A file the third party has, or is being given: its webhook or its
    /// deadline ends the job.
    pub const WITH_THE_THIRD_PARTY: &'static [JobStatus] =
        &[JobStatus::Pending, JobStatus::Submitted];
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    /// Set once from the verified uploader; never from a webhook body.
    pub owner: UserId,
    pub status: JobStatus,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    /// Where the file is kept; generated, never the client's file name.
    pub file_key: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub result: Option<Value>,
    pub error: Option<String>,
    /// The third party's latest progress. Kept apart from the job's moves:
    /// a move never writes it, and it never moves `updated_at`.
    pub progress: Option<Progress>,
}

impl Job {
    pub fn view(&self) -> JobView {
        JobView {
            id: self.id.clone(),
            status: self.status.public(),
            file_name: self.file_name.clone(),
            content_type: self.content_type.clone(),
            size: self.size,
            created_at: self.created_at.trunc_subsecs(3),
            updated_at: self.updated_at.trunc_subsecs(3),
            result: match self.status {
                JobStatus::Completed => Some(self.result.clone().unwrap_or(Value::Null)),
                _ => None,
            },
            result_truncated: None,
            error: self.error.clone(),
            progress: None,
            progress_message: None,
        }
        .with_progress(self.live_progress())
    }

    /// The progress a view shows: the latest, while the job is unfinished.
    pub fn live_progress(&self) -> Option<&Progress> {
        self.progress
            .as_ref()
            .filter(|_| !self.status.is_terminal())
    }
}

/// A job as clients see it (`GET /jobs`, events), typed: its JSON is the
/// contract's, and stores keep exactly that JSON. Times are kept to the
/// millisecond they are shown with, so a view read back is the view shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub id: JobId,
    /// Never `pending` ([`JobStatus::public`]).
    pub status: JobStatus,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    #[serde(with = "millis")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "millis")]
    pub updated_at: DateTime<Utc>,
    /// Present on completed jobs. `null` with `resultTruncated` when the
    /// result was too large to push (read back as `Some(Null)`, so that an
    /// event stored and read again is the event that was pushed).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_truncated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The third party's latest progress, from 0 to 1, while the job is
    /// unfinished. Never in an event of the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_message: Option<String>,
}

impl JobView {
    /// This view showing `progress` (or none).
    pub fn with_progress(mut self, progress: Option<&Progress>) -> Self {
        self.progress = progress.and_then(|p| p.fraction);
        self.progress_message = progress.and_then(|p| p.message.clone());
        self
    }
}

/// A field that is there, `null` included (`#[serde(default,
/// deserialize_with = "present")]`: absent is `None`, `null` is
/// `Some(Null)`).
pub(crate) fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    <Value as serde::Deserialize>::deserialize(d).map(Some)
}

/// RFC 3339, UTC, milliseconds: `2026-11-25T10:00:00.000Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A time as the contract writes it ([`timestamp`]), read back from any
/// RFC 3339 form.
pub(crate) mod millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::timestamp(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_use_cases_starting_statuses_may_move_where_it_moves_them() {
        use JobStatus::*;
        let moves: [(&[JobStatus], &[JobStatus]); 3] = [
            (JobStatus::WAITING_FOR_BYTES, &[Pending, Failed]),
            (JobStatus::BEING_HANDED_OVER, &[Submitted, Failed]),
            (JobStatus::WITH_THE_THIRD_PARTY, &[Completed, Failed]),
        ];
        for (from, tos) in moves {
            for f in from {
                for to in tos {
                    assert!(f.can_move_to(*to), "{f:?} -> {to:?}");
                }
            }
        }
        // A finished job never moves again.
        for to in [Uploading, Pending, Submitted, Completed, Failed] {
            assert!(!Completed.can_move_to(to) && !Failed.can_move_to(to));
        }
    }

    use super::*;

    fn job(status: JobStatus) -> Job {
        let t = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Job {
            id: JobId::generate(),
            owner: UserId::parse("alice").unwrap(),
            status,
            file_name: "a.csv".into(),
            content_type: "text/csv".into(),
            size: 3,
            file_key: "k".into(),
            created_at: t,
            updated_at: t,
            result: Some(serde_json::json!({"ok": true})),
            error: None,
            progress: Some(Progress::new(Some(0.5), Some("half"), 1, "m").unwrap()),
        }
    }

    #[test]
    fn a_pending_job_is_shown_as_submitted_without_a_result() {
        let v = serde_json::to_value(job(JobStatus::Pending).view()).unwrap();
        assert_eq!(v["status"], "submitted");
        assert!(v.get("result").is_none());
        assert_eq!(v["fileName"], "a.csv");
        assert_eq!(v["createdAt"], "2026-11-25T10:00:00.000Z");
        assert_eq!(v["progress"], 0.5);
        assert_eq!(v["progressMessage"], "half");
    }

    #[test]
    fn a_completed_job_carries_its_result() {
        let v = serde_json::to_value(job(JobStatus::Completed).view()).unwrap();
        assert_eq!(v["status"], "completed");
        assert_eq!(v["result"]["ok"], true);
        assert!(v.get("progress").is_none() && v.get("progressMessage").is_none());
    }
}
