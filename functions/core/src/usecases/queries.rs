//! What a user can read: their jobs and their event log.

use std::sync::Arc;

use crate::ports::{Clock, EventLog, JobStore, ListCursor};
use crate::{Error, Event, Job, JobId, JobView, Limits, Result, UserId};

/// The most a page of `GET /jobs` or `GET /events` carries: Lambda answers
/// at most 6 MB, headers and envelope included.
pub const MAX_LIST_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// A page of `GET /jobs`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct JobsPage {
    pub jobs: Vec<JobView>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<ListCursor>,
}

/// What a user reads: `GET /jobs`, `GET /jobs/{id}`, `GET /events`.
#[derive(Clone)]
pub struct Queries {
    jobs: Arc<dyn JobStore>,
    events: Arc<dyn EventLog>,
    clock: Arc<dyn Clock>,
    limits: Limits,
}

impl Queries {
    pub fn new(
        jobs: Arc<dyn JobStore>,
        events: Arc<dyn EventLog>,
        clock: Arc<dyn Clock>,
        limits: &Limits,
    ) -> Self {
        let limits = limits.clone();
        Self {
            jobs,
            events,
            clock,
            limits,
        }
    }
    /// A page of the user's jobs, newest first: at most `limit`, after
    /// `after` (the previous page's `next`). A job is shown as
    /// its push showed it ([`crate::Job::view_within`]: a result too large
    /// to push is `null` with `resultTruncated`), and a page stops short of
    /// [`MAX_LIST_PAGE_BYTES`]: it always fits a Lambda response.
    pub async fn list_jobs(
        &self,
        user: &UserId,
        limit: usize,
        after: Option<ListCursor>,
    ) -> Result<JobsPage> {
        // One more than asked: whether a next page exists.
        let listed = self.jobs.list(user, limit + 1, after.as_ref()).await?;
        let more = listed.len() > limit;
        let max_result = self.limits.max_push_bytes;
        let mut page = JobsPage::default();
        let mut bytes = 0;
        // Where the page ends: the last job shown.
        let mut last = None;
        for item in listed.into_iter().take(limit) {
            let mut view = item.job.view_within(max_result);
            if item.result_left_out {
                view.result = Some(serde_json::Value::Null);
                view.result_truncated = Some(true);
            }
            let size = serde_json::to_string(&view).map(|s| s.len()).unwrap_or(0) + 1;
            if !page.jobs.is_empty() && bytes + size > MAX_LIST_PAGE_BYTES {
                page.next = last.take();
                return Ok(page);
            }
            bytes += size;
            page.jobs.push(view);
            last = Some(ListCursor {
                created_at: item.job.created_at,
                id: item.job.id,
            });
        }
        if more {
            page.next = last;
        }
        Ok(page)
    }

    /// One of the user's jobs. Someone else's job is "not found", never
    /// "forbidden": its existence is not ours to reveal.
    pub async fn get_job(&self, user: &UserId, id: &str) -> Result<Job> {
        let not_found = || Error::NotFound("no such job".into());
        let id = JobId::parse(id).map_err(|_| not_found())?;
        match self.jobs.get(&id).await? {
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
        since: u64,
        limit: usize,
    ) -> Result<EventsPage> {
        // The newest seq first: an event appended in between shows up with
        // a seq above it, never the other way round.
        let last = self.events.last_seq(user).await?;
        let mut events = self.events.since(user, since, limit).await?;
        // What is past the retention counts as gone even where the store
        // has not deleted it yet (DynamoDB's TTL lags by up to days), so
        // that readers see one line between kept and gone.
        let retention = chrono::Duration::from_std(self.limits.event_retention)
            .unwrap_or(chrono::Duration::MAX);
        if let Some(kept_from) = self.clock.now().checked_sub_signed(retention) {
            events.retain(|e| e.at >= kept_from);
        }
        // A page stops short of MAX_LIST_PAGE_BYTES, as a list does: 100
        // events with results under the push limit could be 6.4 MB, past a
        // Lambda's 6 MB response. `lastSeq` tells the reader to go on.
        let mut bytes = 0;
        let fits = events
            .iter()
            .take_while(|e| {
                bytes += e.wire_len() + 1;
                bytes <= MAX_LIST_PAGE_BYTES
            })
            .count();
        events.truncate(fits.max(1));
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
    use crate::memory::TestApp;

    #[tokio::test]
    async fn pages_stop_short_of_a_lambda_response_and_the_cursor_goes_on_from_there() {
        // GIVEN 100 of alice's jobs, each with a 60 KiB result (under the
        // push limit, so each is shown whole): 6 MB in all
        let t = TestApp::new();
        let alice = t.user("alice");
        let mut ids = Vec::new();
        for n in 0..100 {
            let job = t.upload("alice").await;
            let body = serde_json::json!({"job_id": job.id.as_str(), "status": "completed",
                "result": {"n": n, "blob": "z".repeat(60 * 1024)}});
            t.deliver(&format!("w{n}"), &body).await.unwrap();
            ids.push(job.id.clone());
            t.advance(std::time::Duration::from_millis(1));
        }
        // WHEN she asks for 200 at once, then follows the cursor
        let mut seen = Vec::new();
        let mut cursor: Option<ListCursor> = None;
        let mut pages = 0;
        loop {
            let page = t
                .app
                .queries
                .list_jobs(&alice, 200, cursor.take())
                .await
                .unwrap();
            let bytes = serde_json::to_string(&page.jobs).unwrap().len();
            // THEN no page is over the budget, and every result is whole
            assert!(bytes <= MAX_LIST_PAGE_BYTES, "{bytes}");
            assert!(page.jobs.iter().all(|j| j.result_truncated.is_none()));
            seen.extend(page.jobs.iter().map(|j| j.id.clone()));
            pages += 1;
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        // AND the cursor took her through each job once, newest first
        assert!(pages >= 2, "one page of 6 MB");
        ids.reverse();
        assert_eq!(seen, ids);
    }

    #[tokio::test]
    async fn an_events_page_stops_short_of_a_lambda_response_and_since_goes_on_from_there() {
        // GIVEN 100 of alice's jobs completed with 60 KiB results (each
        // pushed whole): 200 events, 6 MB of them
        let t = TestApp::new();
        let alice = t.user("alice");
        for n in 0..100 {
            let job = t.upload("alice").await;
            let body = serde_json::json!({"job_id": job.id.as_str(), "status": "completed",
                "result": {"n": n, "blob": "z".repeat(60 * 1024)}});
            t.deliver(&format!("w{n}"), &body).await.unwrap();
        }
        // WHEN she catches up 500 at a time, from the last seq each page gave
        let mut since = 0;
        let mut seqs = Vec::new();
        let mut pages = 0;
        loop {
            let page = t
                .app
                .queries
                .events_since(&alice, since, 500)
                .await
                .unwrap();
            // THEN no page is over the budget, and none claims a gap
            let bytes = serde_json::to_string(&page.events).unwrap().len();
            assert!(bytes <= MAX_LIST_PAGE_BYTES, "{bytes}");
            assert!(!page.gap);
            assert_eq!(page.last_seq, 200);
            seqs.extend(page.events.iter().map(|e| e.seq));
            pages += 1;
            match page.events.last() {
                Some(e) if e.seq < page.last_seq => since = e.seq,
                _ => break,
            }
        }
        // AND she had every event once, in order
        assert!(pages >= 2, "one page of 6 MB");
        assert_eq!(seqs, (1..=200).collect::<Vec<u64>>());
    }
}
