//! In-memory adapters, for the core's own unit tests and the fuzz targets.

mod test_app;

pub use test_app::{FilesView, TestApp, WEBHOOK_KEY};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::ports::*;
use crate::webhook::{self, SignatureHeaders};
use crate::*;

#[derive(Default)]
struct State {
    connections: HashMap<ConnectionId, Connection>,
    jobs: HashMap<JobId, Job>,
    events: HashMap<UserId, Vec<Event>>,
    /// Each user's newest seq: kept when old events are forgotten.
    last_seq: HashMap<UserId, u64>,
    files: HashMap<String, Bytes>,
    pushed: HashMap<ConnectionId, Vec<String>>,
    /// Connections the core asked the gateway to close.
    closed: Vec<ConnectionId>,
    /// Sockets that went away without a `$disconnect`.
    gone: Vec<ConnectionId>,
    submissions: usize,
    /// The bytes each submission sent.
    submitted: Vec<Vec<u8>>,
    /// How long storing a file takes (on the test clock).
    store_delay: Duration,
    /// The timeout each submission was given.
    timeouts: Vec<Duration>,
    /// How far the test clock is ahead of the wall clock: `sleep` and a
    /// hanging third party move it, so time-budget tests run instantly.
    skew: Duration,
    /// Jobs whose stored form can no longer be read (a damaged item).
    unreadable: Vec<JobId>,
    claims: HashMap<(UserId, String), Claim>,
    /// `probe` calls (API Gateway's GetConnection).
    probes: usize,
    /// Uploads counted per user and minute.
    quota: HashMap<(UserId, i64), u32>,
}

impl State {
    /// Replaces the stored job with `job` if its status is one of `from`.
    fn move_if(&mut self, from: &[JobStatus], job: &Job) -> bool {
        let moved = self
            .jobs
            .get(&job.id)
            .is_some_and(|j| from.contains(&j.status));
        if let Some(stored) = self.jobs.get_mut(&job.id).filter(|_| moved) {
            // A move never writes the job's progress.
            let progress = stored.progress.take();
            *stored = Job {
                progress,
                ..job.clone()
            };
        }
        moved
    }
}

#[derive(Clone, Copy)]
pub enum ThirdParty {
    Accepts,
    Refuses,
    CallsBackFirst,
    /// Reports progress (0.1) before it answers 2xx.
    ReportsProgressFirst,
    /// Never answers: each attempt uses up its whole timeout.
    Hangs,
}

#[derive(Clone)]
pub struct Memory {
    state: Arc<Mutex<State>>,
    third_party: ThirdParty,
    /// The webhooks a third party that answers first calls.
    webhooks: Arc<OnceLock<Webhooks>>,
}

impl Memory {
    /// Empty stores, behind a third party that accepts every file.
    pub fn new() -> Self {
        Memory {
            state: Arc::default(),
            third_party: ThirdParty::Accepts,
            webhooks: Arc::default(),
        }
    }
}

impl Default for Memory {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl ConnectionStore for Memory {
    async fn add_within(&self, c: &Connection, max: usize, _now: DateTime<Utc>) -> Result<bool> {
        let mut s = self.state.lock().unwrap();
        let open = s.connections.values().filter(|o| o.user == c.user).count();
        if open >= max {
            return Ok(false);
        }
        s.connections.insert(c.id.clone(), c.clone());
        Ok(true)
    }
    async fn remove(&self, id: &ConnectionId) -> Result<()> {
        self.state.lock().unwrap().connections.remove(id);
        Ok(())
    }
    async fn for_user(&self, user: &UserId) -> Result<Vec<Connection>> {
        let s = self.state.lock().unwrap();
        Ok(s.connections
            .values()
            .filter(|c| &c.user == user)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl JobStore for Memory {
    async fn create(&self, job: &Job) -> Result<()> {
        self.state
            .lock()
            .unwrap()
            .jobs
            .insert(job.id.clone(), job.clone());
        Ok(())
    }
    async fn get(&self, id: &JobId) -> Result<Option<Job>> {
        Ok(self.state.lock().unwrap().jobs.get(id).cloned())
    }
    async fn list(
        &self,
        owner: &UserId,
        limit: usize,
        after: Option<&ListCursor>,
    ) -> Result<Vec<Listed>> {
        let s = self.state.lock().unwrap();
        let mut jobs: Vec<Job> = s
            .jobs
            .values()
            .filter(|j| &j.owner == owner)
            .filter(|j| after.is_none_or(|c| (j.created_at, &j.id) < (c.created_at, &c.id)))
            .cloned()
            .collect();
        jobs.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        jobs.truncate(limit);
        Ok(jobs.into_iter().map(Listed::of).collect())
    }
    async fn apply(&self, moved: &Moved) -> Result<Applied> {
        let (mut s, job) = (self.state.lock().unwrap(), &moved.job);
        if !s.move_if(moved.from, job) {
            return Ok(Applied::Lost);
        }
        let Some(draft) = &moved.event else {
            return Ok(Applied::Moved(None));
        };
        let seq = s.last_seq.entry(job.owner.clone()).or_default();
        *seq += 1;
        let event = draft.clone().numbered(*seq);
        s.events
            .entry(job.owner.clone())
            .or_default()
            .push(event.clone());
        Ok(Applied::Moved(Some(event)))
    }
    async fn progress(&self, id: &JobId, progress: &Progress) -> Result<Progressed> {
        let mut s = self.state.lock().unwrap();
        let Some(job) = s.jobs.get_mut(id) else {
            return Ok(Progressed::NoSuchJob);
        };
        if job.status.is_terminal() || !progress.supersedes(job.progress.as_ref()) {
            return Ok(Progressed::Unchanged);
        }
        job.progress = Some(progress.clone().after(job.progress.as_ref()));
        Ok(Progressed::Kept(job.clone()))
    }
    async fn uploading(
        &self,
        owner: &UserId,
        since: DateTime<Utc>,
        at_most: usize,
    ) -> Result<usize> {
        let s = self.state.lock().unwrap();
        let open = s.jobs.values().filter(|j| {
            &j.owner == owner && j.status == JobStatus::Uploading && j.created_at > since
        });
        Ok(open.take(at_most).count())
    }
    async fn waiting(
        &self,
        what: Waiting,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Result<Job>>> {
        let s = self.state.lock().unwrap();
        let mut jobs: Vec<Job> = s
            .jobs
            .values()
            .filter(|j| Waiting::of(j.status) == Some(what) && j.updated_at <= before)
            .cloned()
            .collect();
        jobs.sort_by_key(|j| j.updated_at);
        jobs.truncate(limit);
        Ok(jobs
            .into_iter()
            .map(|j| match s.unreadable.contains(&j.id) {
                true => Err(Error::internal(format!("job {}: damaged", j.id))),
                false => Ok(j),
            })
            .collect())
    }
}

#[async_trait]
impl UploadQuota for Memory {
    async fn take(
        &self,
        user: &UserId,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let (minute, end) = minute_of(now);
        let mut s = self.state.lock().unwrap();
        let n = s.quota.entry((user.clone(), minute)).or_default();
        if *n >= max {
            return Ok(Some(end));
        }
        *n += 1;
        Ok(None)
    }
}

#[async_trait]
impl IdempotencyKeys for Memory {
    async fn claim(&self, claim: &Claim) -> Result<Option<Claim>> {
        let mut s = self.state.lock().unwrap();
        let id = (claim.user.clone(), claim.key.clone());
        match s.claims.get(&id) {
            Some(held) if held.holds(claim.claimed_at) => Ok(Some(held.clone())),
            _ => {
                s.claims.insert(id, claim.clone());
                Ok(None)
            }
        }
    }

    async fn finish(&self, user: &UserId, key: &str, outcome: Option<&Outcome>) -> Result<()> {
        let mut s = self.state.lock().unwrap();
        let id = (user.clone(), key.to_owned());
        match outcome {
            Some(o) => {
                if let Some(c) = s.claims.get_mut(&id) {
                    c.outcome = Some(o.clone());
                }
            }
            None => {
                s.claims.remove(&id);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl EventLog for Memory {
    async fn since(&self, user: &UserId, after: u64, limit: usize) -> Result<Vec<Event>> {
        let s = self.state.lock().unwrap();
        let log = s.events.get(user).cloned().unwrap_or_default();
        Ok(log
            .into_iter()
            .filter(|e| e.seq > after)
            .take(limit)
            .collect())
    }
    async fn last_seq(&self, user: &UserId) -> Result<u64> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .last_seq
            .get(user)
            .copied()
            .unwrap_or(0))
    }
}

#[async_trait]
impl FileStore for Memory {
    async fn put(&self, key: &str, _ct: &str, bytes: Bytes) -> Result<()> {
        let mut s = self.state.lock().unwrap();
        s.files.insert(key.to_owned(), bytes);
        // A slow store: the test clock moves on by its delay.
        let delay = s.store_delay;
        s.skew += delay;
        Ok(())
    }
    async fn open(&self, key: &str) -> Result<FileBody> {
        let bytes = self.state.lock().unwrap().files.get(key).cloned();
        bytes
            .map(body_of)
            .ok_or_else(|| Error::NotFound(format!("no file {key}")))
    }
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        expires_at: DateTime<Utc>,
    ) -> Result<PresignedPut> {
        Ok(PresignedPut {
            url: format!(
                "memory:///{key}?size={size}&expires={}",
                expires_at.timestamp()
            ),
            headers: vec![("content-type".into(), content_type.into())],
        })
    }
    async fn presign_get(
        &self,
        key: &str,
        _content_type: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<String> {
        Ok(format!(
            "memory:///{key}?expires={}",
            expires_at.timestamp()
        ))
    }
}

#[async_trait]
impl Pusher for Memory {
    async fn push(&self, conn: &ConnectionId, message: &str) -> Result<(), PushError> {
        self.state
            .lock()
            .unwrap()
            .pushed
            .entry(conn.clone())
            .or_default()
            .push(message.to_owned());
        Ok(())
    }
    async fn close(&self, conn: &ConnectionId) -> Result<(), PushError> {
        self.state.lock().unwrap().closed.push(conn.clone());
        Ok(())
    }
    async fn probe(&self, conn: &ConnectionId) -> Result<(), PushError> {
        let mut s = self.state.lock().unwrap();
        s.probes += 1;
        if s.closed.contains(conn) || s.gone.contains(conn) {
            Err(PushError::Gone)
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Processor for Memory {
    async fn submit(
        &self,
        s: &Submission,
        what: Handover,
        timeout: Duration,
    ) -> Result<(), SubmitError> {
        use futures::TryStreamExt;
        let bytes: Vec<Bytes> = match what {
            Handover::File(body) => body
                .try_collect()
                .await
                .map_err(|e| SubmitError::Transport(e.into()))?,
            // The URL itself stands for what was handed over.
            Handover::Url(u) => vec![Bytes::from(u.url)],
        };
        {
            let mut state = self.state.lock().unwrap();
            state.submissions += 1;
            state.timeouts.push(timeout);
            state.submitted.push(bytes.concat());
        }
        match self.third_party {
            ThirdParty::Accepts => Ok(()),
            ThirdParty::Hangs => {
                self.state.lock().unwrap().skew += timeout;
                Err(SubmitError::TimedOut)
            }
            ThirdParty::Refuses => Err(SubmitError::Refused { status: 503 }),
            ThirdParty::CallsBackFirst | ThirdParty::ReportsProgressFirst => {
                let webhooks = self.webhooks.get().expect("webhooks set").clone();
                let body = match self.third_party {
                    ThirdParty::CallsBackFirst => {
                        serde_json::json!({"job_id": s.job_id.as_str(), "status": "completed", "result": {"fast": true}})
                    }
                    _ => {
                        serde_json::json!({"job_id": s.job_id.as_str(), "status": "processing", "progress": 0.1})
                    }
                };
                let body = body.to_string();
                let ts = Utc::now().timestamp();
                let headers = SignatureHeaders {
                    id: Some("msg_fast".into()),
                    timestamp: Some(ts.to_string()),
                    signature: Some(webhook::sign(
                        &crate::auth::Secret::new(test_app::WEBHOOK_KEY.to_vec()),
                        "msg_fast",
                        ts,
                        body.as_bytes(),
                    )),
                };
                webhooks
                    .receive(&headers, body.as_bytes())
                    .await
                    .map_err(|e| SubmitError::Transport(e.into()))?;
                Ok(())
            }
        }
    }
}

#[async_trait]
impl Clock for Memory {
    fn now(&self) -> DateTime<Utc> {
        let skew = self.state.lock().unwrap().skew;
        Utc::now() + chrono::Duration::from_std(skew).unwrap_or_default()
    }
    async fn sleep(&self, d: Duration) {
        self.state.lock().unwrap().skew += d;
    }
}
