//! The jobs table's sparse index: the jobs that wait (for their bytes, or
//! for the third party), each keyed by a shard and a time, and how the
//! sweep reads them (one Query per shard, never a Scan).

use boomerang_core::ports::Waiting;
use boomerang_core::{Error, Job, Result};
use chrono::{DateTime, Utc};

use super::{expired, DynamoJobStore};
use crate::dynamo::{n, s, sdk};
use crate::tables::WAIT_SHARDS;

/// The sparse index's key of a job still waiting (for its bytes, or for
/// the third party): (`waitShard`, `waitingSince`), present only while it
/// waits, so the index holds nothing else. Jobs spread over
/// [`WAIT_SHARDS`] partitions by their id, so that no one partition takes
/// every new job's write. The key is set when the job starts a kind of
/// wait and kept while it waits (a move within one wait, pending to
/// submitted, would cost two index writes): the job's own `updatedAt`
/// says how long it has waited.
pub(super) fn wait_key(job: &Job) -> Option<(String, i64)> {
    Some(shard_key(wait_prefix(Waiting::of(job.status)?), job))
}

fn shard_key(prefix: char, job: &Job) -> (String, i64) {
    let shard = job
        .id
        .as_str()
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
        % WAIT_SHARDS;
    (
        format!("{prefix}{shard}"),
        job.updated_at.timestamp_millis(),
    )
}

/// The shards of jobs waiting for the third party are `w0`..`w7`; those
/// waiting for their upload, `u0`..`u7`.
fn wait_prefix(what: Waiting) -> char {
    match what {
        Waiting::ThirdParty => 'w',
        Waiting::Upload => 'u',
    }
}

impl DynamoJobStore {
    /// Jobs waiting for `what` whose status last changed at or before
    /// `before` ([`boomerang_core::ports::JobStore::waiting`]).
    pub(super) async fn due(
        &self,
        what: Waiting,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Result<Job>>> {
        // The index's key is when the wait began; the job's `updatedAt`
        // when it last moved within it: a job is due by the latter.
        self.in_shards(wait_prefix(what), before, limit, |job| {
            Waiting::of(job.status) == Some(what) && job.updated_at <= before
        })
        .await
    }

    /// The jobs under `prefix`'s shards of the sparse index, keyed at or
    /// before `before`, that are `wanted` as read (the index lags its
    /// table: a job that has just moved on may still be in it): at most
    /// about `limit` from each shard, oldest first. One Query per shard,
    /// at once; never a Scan.
    pub(super) async fn in_shards(
        &self,
        prefix: char,
        before: DateTime<Utc>,
        limit: usize,
        wanted: impl Fn(&Job) -> bool + Sync,
    ) -> Result<Vec<Result<Job>>> {
        let wanted = &wanted;
        let shards = (0..WAIT_SHARDS).map(|shard| async move {
            let mut found = Vec::new();
            let mut start = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.jobs)
                    .index_name(crate::tables::JOBS_WAITING)
                    .key_condition_expression("waitShard = :s AND waitingSince <= :b")
                    .expression_attribute_values(":s", s(format!("{prefix}{shard}")))
                    .expression_attribute_values(":b", n(before.timestamp_millis()))
                    .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(sdk)?;
                let items = self.jobs_of(page.items()).await?;
                for item in items.values() {
                    if expired(item, self.clock.now()) {
                        continue;
                    }
                    // A job that cannot be read (a lost result object, a
                    // damaged item) is handed on as an error for the sweep
                    // to skip: oldest first, it would otherwise stop
                    // every sweep at the same place.
                    match self.read_job(item).await {
                        Ok(job) if wanted(&job) => found.push(Ok(job)),
                        Ok(_) => {}
                        Err(e) => found.push(Err(Error::internal(format!(
                            "job {}: {e}",
                            super::key_id(item).unwrap_or("?")
                        )))),
                    }
                }
                match page.last_evaluated_key {
                    Some(key) if found.len() < limit => start = Some(key),
                    _ => return Ok::<_, Error>(found),
                }
            }
        });
        let mut jobs: Vec<Result<Job>> = futures::future::try_join_all(shards)
            .await?
            .into_iter()
            .flatten()
            .collect();
        // Oldest first; the unreadable ones, which have no time, first of all.
        jobs.sort_by_key(|j| j.as_ref().ok().map(|j| j.updated_at));
        jobs.truncate(limit);
        Ok(jobs)
    }
}
