//! An event as the head and the chunks keep it: a short entry naming its
//! job, read back as the event that was pushed by joining it with the job.

use boomerang_core::{Error, Event, EventDraft, EventType, JobId, JobStatus, Result};
use chrono::{DateTime, Utc};

use crate::dynamo::jobs::job_of_item;
use crate::dynamo::{get_opt_s, Item};

/// One event as the head and chunks keep it: what happened, when, to
/// which job. `{kind}{millis} {job id}`, with kind `s` submitted, `c`
/// completed, `t` completed with the result left out of the push, `f`
/// failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(super) kind: EventType,
    /// The push left the result out (too large): so does a catch-up.
    pub(super) truncated: bool,
    pub(super) at: DateTime<Utc>,
    pub(super) job: JobId,
}

impl Entry {
    pub(crate) fn of(event: &EventDraft, job: &JobId) -> Self {
        Self {
            kind: event.kind,
            truncated: event.job.result_truncated == Some(true),
            at: event.at,
            job: job.clone(),
        }
    }

    pub(super) fn encode(&self) -> String {
        let kind = match (self.kind, self.truncated) {
            (EventType::JobSubmitted, _) => 's',
            (EventType::JobCompleted, false) => 'c',
            (EventType::JobCompleted, true) => 't',
            (EventType::JobFailed, _) => 'f',
        };
        format!("{kind}{} {}", self.at.timestamp_millis(), self.job)
    }

    pub(super) fn decode(s: &str) -> Result<Self> {
        let bad = || Error::internal(format!("bad event entry {s:?}"));
        let (kind, rest) = s.split_at_checked(1).ok_or_else(bad)?;
        let (kind, truncated) = match kind {
            "s" => (EventType::JobSubmitted, false),
            "c" => (EventType::JobCompleted, false),
            "t" => (EventType::JobCompleted, true),
            "f" => (EventType::JobFailed, false),
            _ => return Err(bad()),
        };
        let (millis, job) = rest.split_once(' ').ok_or_else(bad)?;
        Ok(Self {
            kind,
            truncated,
            at: millis
                .parse()
                .ok()
                .and_then(DateTime::from_timestamp_millis)
                .ok_or_else(bad)?,
            job: JobId::parse(job).map_err(|_| bad())?,
        })
    }

    /// The event as it was pushed, from its job as stored now. A job's
    /// later moves are undone for an earlier event: `job.submitted` shows
    /// the job submitted, at the event's time.
    pub(super) fn event(&self, seq: u64, item: &Item) -> Result<Event> {
        let mut job = job_of_item(item)?;
        if self.kind == EventType::JobSubmitted {
            job.status = JobStatus::Submitted;
            job.result = None;
            job.error = None;
            job.updated_at = self.at;
        }
        let mut view = job.view();
        // A result kept in S3 is larger than any push.
        if self.truncated || get_opt_s(item, "resultKey").is_some() {
            view.result = Some(serde_json::Value::Null);
            view.result_truncated = Some(true);
        }
        Ok(EventDraft {
            kind: self.kind,
            at: self.at,
            job: view,
        }
        .numbered(seq))
    }
}

#[cfg(test)]
mod tests {
    use super::super::CHUNK;
    use super::*;
    use boomerang_core::UserId;

    #[test]
    fn an_entry_reads_back_as_written_and_a_full_head_fits_one_write_unit() {
        let entry = Entry {
            kind: EventType::JobCompleted,
            truncated: true,
            at: DateTime::from_timestamp_millis(1_764_163_200_123).unwrap(),
            job: JobId::generate(),
        };
        assert_eq!(Entry::decode(&entry.encode()).unwrap(), entry);
        // The head's size as DynamoDB counts it: names and values, a list
        // element one byte more than its string.
        let longest_user = "u".repeat(UserId::MAX_CHARS);
        let head = "userId".len()
            + longest_user.len()
            + "seq".len()
            + 2
            + "lastSeq".len()
            + 21
            + "recent".len()
            + 3
            + CHUNK * (1 + entry.encode().len());
        assert!(head <= 1024, "{head}");
        for bad in ["", "x1 a", "c12", "cx 0190"] {
            assert!(Entry::decode(bad).is_err(), "{bad:?}");
        }
    }
}
