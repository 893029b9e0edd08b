//! A job's one way to move: [`Job::move_to`] checks the move against the
//! job's life ([`JobStatus::can_move_to`]) in every build, and says what
//! a store must write ([`Moved`]), conditionally, in one step
//! (`JobStore::apply`).

use chrono::{DateTime, Utc};

use super::{Event, EventDraft, EventType, Job, JobId, JobStatus};

/// A checked move: the job as it is to be stored, the statuses the stored
/// job may still be in for the move to apply, and the event its owner is
/// told (none for `uploading` to `pending`, which no tab sees).
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    pub job: Job,
    pub from: &'static [JobStatus],
    pub event: Option<EventDraft>,
}

/// What a store did with a [`Moved`]. (Matched at once by its one
/// caller: boxing the event would buy an allocation and nothing else.)
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Applied {
    /// Written, with its event as numbered in the owner's log (if the
    /// move has one).
    Moved(Option<Event>),
    /// The stored job was no longer in one of `from`: someone else moved
    /// it first, and nothing was written.
    Lost,
}

/// A move the job's life does not allow: a bug of ours, never a client's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job {id}: no move from {} to {}", .from.as_str(), .to.as_str())]
pub struct IllegalMove {
    pub id: JobId,
    pub from: JobStatus,
    pub to: JobStatus,
}

impl From<IllegalMove> for crate::Error {
    fn from(e: IllegalMove) -> Self {
        crate::Error::internal(e)
    }
}

impl JobStatus {
    /// The statuses a job read in this one may be in when its move to
    /// `to` is written, for the move still to hold: this one, and the one
    /// another's move within the same wait may have taken it to meanwhile
    /// (the third party's 2xx turning `pending` into `submitted` while its
    /// webhook or deadline fails or completes the job).
    fn holding_for(self, to: JobStatus) -> &'static [JobStatus] {
        use JobStatus::*;
        match (self, to) {
            (Uploading, _) => JobStatus::WAITING_FOR_BYTES,
            (Pending, Submitted) => JobStatus::BEING_HANDED_OVER,
            (Pending | Submitted, _) => JobStatus::WITH_THE_THIRD_PARTY,
            (Completed | Failed, _) => &[],
        }
    }

    /// The event a move to this status is told as, if any.
    fn event(self) -> Option<EventType> {
        match self {
            JobStatus::Submitted => Some(EventType::JobSubmitted),
            JobStatus::Completed => Some(EventType::JobCompleted),
            JobStatus::Failed => Some(EventType::JobFailed),
            JobStatus::Uploading | JobStatus::Pending => None,
        }
    }
}

impl Job {
    /// This job moved to `to` at `now`, checked: its result and error as
    /// the caller set them, its event (a result too large for
    /// `max_push_bytes` pushed truncated) and the statuses it must still
    /// be in when stored. `IllegalMove` when its life does not allow it.
    pub fn move_to(
        mut self,
        to: JobStatus,
        now: DateTime<Utc>,
        max_push_bytes: usize,
    ) -> Result<Moved, IllegalMove> {
        let from = self.status;
        if !from.can_move_to(to) {
            return Err(IllegalMove {
                id: self.id,
                from,
                to,
            });
        }
        self.status = to;
        self.updated_at = now;
        let event = to
            .event()
            .map(|kind| EventDraft::new(kind, &self, max_push_bytes));
        Ok(Moved {
            job: self,
            from: from.holding_for(to),
            event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserId;
    use JobStatus::*;

    fn job(status: JobStatus) -> Job {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Job {
            id: JobId::generate(),
            owner: UserId::parse("alice").unwrap(),
            status,
            file_name: "a.txt".into(),
            content_type: "text/plain".into(),
            size: 1,
            file_key: "uploads/x".into(),
            created_at: at,
            updated_at: at,
            result: None,
            error: None,
            progress: None,
        }
    }

    #[test]
    fn every_move_the_life_allows_says_what_to_write_and_every_other_is_refused() {
        let now = DateTime::from_timestamp(1_700_000_100, 0).unwrap();
        let all = [Uploading, Pending, Submitted, Completed, Failed];
        for from in all {
            for to in all {
                let moved = job(from).move_to(to, now, 65536);
                if !from.can_move_to(to) {
                    // THEN a move the life does not allow is refused, in
                    // every build
                    assert_eq!(moved.unwrap_err().to, to, "{from:?} -> {to:?}");
                    continue;
                }
                // THEN an allowed one holds only while the stored job is
                // still where the reader saw it (or where another's move
                // within the same wait took it), each of which may move
                // there; and only a move tabs see has an event
                let m = moved.unwrap();
                assert_eq!((m.job.status, m.job.updated_at), (to, now));
                assert!(m.from.contains(&from), "{from:?} -> {to:?}");
                assert!(
                    m.from.iter().all(|f| f.can_move_to(to)),
                    "{from:?} -> {to:?}"
                );
                assert_eq!(m.event.is_some(), to != Pending, "{from:?} -> {to:?}");
                if let Some(e) = m.event {
                    assert_eq!(e.job.status, to.public());
                }
            }
        }
    }
}
