//! The names of Boomerang's DynamoDB tables, their keys and indexes. The
//! definitions themselves live in `template.yaml`; these constants are what
//! the adapters read and write.

/// Which tables (and bucket) a deployment uses.
#[derive(Clone, Debug)]
pub struct Tables {
    /// `connectionId` (S) → `userId`, `connectedAt`, `ttl`; index `byUser`.
    pub connections: String,
    /// `jobId` (S) → the job; keys-only indexes `byOwnerKeys` (`owner`,
    /// `createdAt`) and the sparse `waitingKeys` (`waitShard`,
    /// `waitingSince`).
    pub jobs: String,
    /// `userId` (S), `seq` (N): each of the user's events at its seq
    /// (`body`, as it was pushed, and a `ttl`: its time plus the
    /// retention), and the user's head at seq 0 (`lastSeq`; never expires,
    /// so seqs never restart).
    pub events: String,
    /// `userId` (S), `idempotencyKey` (S) → the claim (`fingerprint`,
    /// `claimedAt`, and once answered `claimJob` and `answer`), with a
    /// `ttl` 24 hours after it was claimed.
    pub idempotency: String,
    /// `userId` (S), `minute` (N: Unix minutes) → `uploads` started in
    /// it, with a `ttl` a minute after it.
    pub quotas: String,
}

impl Tables {
    /// The tables of one deployment, named `{prefix}-connections` etc.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            connections: format!("{prefix}-connections"),
            jobs: format!("{prefix}-jobs"),
            events: format!("{prefix}-events"),
            idempotency: format!("{prefix}-idempotency"),
            quotas: format!("{prefix}-quotas"),
        }
    }
}

pub const CONNECTIONS_BY_USER: &str = "byUser";
/// Keys only: a list reads the jobs themselves, so a job's writes never
/// copy its result into the index.
pub const JOBS_BY_OWNER: &str = "byOwnerKeys";
/// Sparse and keys only: jobs waiting (for their bytes or the third
/// party), by (`waitShard`, `waitingSince`). The sweep Queries each shard
/// for jobs past their deadline.
pub const JOBS_WAITING: &str = "waitingKeys";
/// Partitions of the `waiting` index. DynamoDB takes up to 1,000 writes/s
/// per partition; 8 let about 8,000 jobs/s start waiting.
pub const WAIT_SHARDS: u32 = 8;
/// The seq of a user's head in the events table: its `lastSeq`.
pub const COUNTER_SEQ: u64 = 0;
/// DynamoDB's TTL attribute on every table that expires rows.
pub const TTL: &str = "ttl";
