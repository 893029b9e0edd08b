//! The names of Boomerang's DynamoDB tables, their keys and indexes. The
//! definitions themselves live in `template.yaml`; these constants are what
//! the adapters read and write.

/// Which tables (and bucket) a deployment uses.
#[derive(Clone, Debug)]
pub struct Tables {
    /// `connectionId` (S) → `userId`, `connectedAt`, `ttl`; index `byUser`.
    pub connections: String,
    /// `jobId` (S) → the job; index `byOwner` (`owner`, `createdAt`) and
    /// the sparse index `waiting` (`waitShard`, `waitingSince`).
    pub jobs: String,
    /// `userId` (S), `seq` (N): events at seq ≥ 1 (with a `ttl`: the
    /// retention), the user's counter at seq 0 (never expires).
    pub events: String,
    /// `webhookId` (S) → `ttl`.
    pub deliveries: String,
}

impl Tables {
    /// The tables of one deployment, named `{prefix}-connections` etc.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            connections: format!("{prefix}-connections"),
            jobs: format!("{prefix}-jobs"),
            events: format!("{prefix}-events"),
            deliveries: format!("{prefix}-deliveries"),
        }
    }
}

pub const CONNECTIONS_BY_USER: &str = "byUser";
pub const JOBS_BY_OWNER: &str = "byOwner";
/// Sparse: only jobs waiting for the third party, by (`waitShard`,
/// `waitingSince`). The sweep Queries each shard for jobs past their
/// deadline.
pub const JOBS_WAITING: &str = "waiting";
/// Partitions of the `waiting` index. DynamoDB takes up to 1,000 writes/s
/// per partition; 8 let about 8,000 jobs/s start waiting.
pub const WAIT_SHARDS: u32 = 8;
/// The seq of the item holding a user's counter in the events table.
pub const COUNTER_SEQ: u64 = 0;
/// DynamoDB's TTL attribute on every table that expires rows.
pub const TTL: &str = "ttl";
