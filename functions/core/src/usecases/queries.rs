//! What a user can read: their jobs and their event log.

use super::Boomerang;
use crate::limits::{DEFAULT_EVENTS_PAGE, DEFAULT_JOBS_PAGE, MAX_EVENTS_PAGE, MAX_JOBS_PAGE};
use crate::{Error, Event, Job, JobId, Result, UserId};

/// Parses an optional page size: absent means `default`, else 1..=`max`.
pub fn page_size(raw: Option<&str>, default: usize, max: usize) -> Result<usize> {
    match raw {
        None => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(Error::BadRequest(format!(
                "limit must be an integer from 1 to {max}"
            ))),
        },
    }
}

impl Boomerang {
    /// The user's jobs, newest first. `limit`: 1 to 200, default 50.
    pub async fn list_jobs(&self, user: &UserId, limit: Option<&str>) -> Result<Vec<Job>> {
        let limit = page_size(limit, DEFAULT_JOBS_PAGE, MAX_JOBS_PAGE)?;
        self.ports.jobs.list(user, limit).await
    }

    /// One of the user's jobs. Someone else's job is "not found", never
    /// "forbidden": its existence is not ours to reveal.
    pub async fn get_job(&self, user: &UserId, id: &str) -> Result<Job> {
        let not_found = || Error::NotFound("no such job".into());
        let id = JobId::parse(id).map_err(|_| not_found())?;
        match self.ports.jobs.get(&id).await? {
            Some(job) if &job.owner == user => Ok(job),
            _ => Err(not_found()),
        }
    }

    /// Events after `since`, ascending, the newest seq the user has, and
    /// whether some events after `since` are gone (older than the
    /// retention).
    pub async fn events_since(
        &self,
        user: &UserId,
        since: Option<&str>,
        limit: Option<&str>,
    ) -> Result<EventsPage> {
        let since = match since {
            None => 0,
            // Any non-negative integer: one past every seq there will ever
            // be asks for nothing, rather than being an error.
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse::<u64>().unwrap_or(u64::MAX)
            }
            Some(_) => {
                return Err(Error::BadRequest(
                    "since must be a non-negative integer".into(),
                ))
            }
        };
        let limit = page_size(limit, DEFAULT_EVENTS_PAGE, MAX_EVENTS_PAGE)?;
        // Read lastSeq first: an event appended in between then shows up in
        // the page with a seq above lastSeq, never the other way round.
        let last = self.ports.events.last_seq(user).await?;
        let mut events = self.ports.events.since(user, since, limit).await?;
        // What is past the retention counts as gone even where the store
        // has not deleted it yet (DynamoDB's TTL lags by up to days), so
        // that readers see one line between kept and gone.
        let retention = chrono::Duration::from_std(self.limits().event_retention)
            .unwrap_or(chrono::Duration::MAX);
        if let Some(kept_from) = self.ports.clock.now().checked_sub_signed(retention) {
            events.retain(|e| e.time().is_none_or(|t| t >= kept_from));
        }
        let last = events.last().map_or(last, |e| e.seq.max(last));
        // Seqs have no holes: anything after `since` that does not start
        // at since + 1 has expired.
        let gap = last > since && events.first().is_none_or(|e| e.seq != since + 1);
        Ok(EventsPage {
            events,
            last_seq: last,
            gap,
        })
    }
}

/// One page of `GET /events`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsPage {
    pub events: Vec<Event>,
    /// The newest seq the user has (0 if none).
    pub last_seq: u64,
    /// Events after `since` have expired: reload the jobs instead.
    pub gap: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_default_and_stay_in_range() {
        assert_eq!(page_size(None, 50, 200).unwrap(), 50);
        assert_eq!(page_size(Some("200"), 50, 200).unwrap(), 200);
        for bad in ["0", "201", "-1", "abc", "", "1.5"] {
            assert_eq!(
                page_size(Some(bad), 50, 200).unwrap_err().status_code(),
                400,
                "{bad}"
            );
        }
    }
}
