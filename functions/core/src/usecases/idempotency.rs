//! Retry-safe uploads: a request under an `Idempotency-Key` runs once per
//! user and key; a retry gets the first one's job and answer again.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tracing::info;

use crate::ports::{Answer, Claim, Clock, IdempotencyKeys, JobStore, Outcome};
use crate::{Error, Job, Result, UserId};

/// What a request under a key does. (Matched at once by its caller, as
/// [`crate::Applied`] is: boxing the job buys an allocation, nothing else.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Idempotent {
    /// Runs: the key is ours until [`Idempotency::finish`].
    Run(Claimed),
    /// Answers again what the first request answered, with its job as it
    /// is now.
    Replay { job: Job, answer: Answer },
}

/// A key this request holds, to be finished.
#[derive(Debug)]
#[must_use = "a claimed key holds until it is finished"]
pub struct Claimed {
    user: UserId,
    key: String,
}

/// The file a request is for: another file under the same key is refused.
pub fn fingerprint(file_name: &str, size: u64, content_type: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        file_name.as_bytes(),
        size.to_string().as_bytes(),
        content_type.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex_of(&h.finalize())
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The contract's key: 1 to 255 visible ASCII characters.
fn check_key(key: &str) -> Result<()> {
    if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(Error::Invalid(
            "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
        ))
    }
}

/// Requests under an `Idempotency-Key`.
#[derive(Clone)]
pub struct Idempotency {
    keys: Arc<dyn IdempotencyKeys>,
    /// A replay answers with the job as it is now.
    jobs: Arc<dyn JobStore>,
    clock: Arc<dyn Clock>,
}

impl Idempotency {
    pub fn new(
        keys: Arc<dyn IdempotencyKeys>,
        jobs: Arc<dyn JobStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { keys, jobs, clock }
    }
    /// Claims `key` for `user`'s request for the file `fingerprint` names:
    /// to run it, or to replay the first answer. A key still running is
    /// 409; a key used for another file, 422; a malformed key, 400.
    pub async fn claim(&self, user: &UserId, key: &str, fingerprint: String) -> Result<Idempotent> {
        check_key(key)?;
        let claim = Claim {
            user: user.clone(),
            key: key.to_owned(),
            fingerprint,
            claimed_at: self.clock.now(),
            outcome: None,
        };
        let Some(held) = self.keys.claim(&claim).await? else {
            return Ok(Idempotent::Run(Claimed {
                user: user.clone(),
                key: key.to_owned(),
            }));
        };
        if held.fingerprint != claim.fingerprint {
            return Err(Error::Unprocessable(
                "this Idempotency-Key was used for another file (name, size or content type)"
                    .into(),
            ));
        }
        let Some(outcome) = held.outcome else {
            return Err(Error::Conflict(
                "a request with this Idempotency-Key is still running".into(),
            ));
        };
        let job = self
            .jobs
            .get(&outcome.job)
            .await?
            .filter(|j| &j.owner == user)
            // Its job has outlived retention: the key's answer is gone too.
            .ok_or_else(|| Error::NotFound("the job of this Idempotency-Key is gone".into()))?;
        info!(job_id = %job.id, user = %user, "idempotent request replayed");
        Ok(Idempotent::Replay {
            job,
            answer: outcome.answer,
        })
    }

    /// The claimed request ended: with its job and answer, replayed to
    /// whoever sends the key again; or with `None` (refused before any job
    /// was made), which frees the key for a corrected retry.
    pub async fn finish(&self, claimed: Claimed, answered: Option<(&Job, Answer)>) -> Result<()> {
        let outcome = answered.map(|(job, answer)| Outcome {
            job: job.id.clone(),
            answer,
        });
        self.keys
            .finish(&claimed.user, &claimed.key, outcome.as_ref())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_1_to_255() {
        assert!(check_key("a").is_ok());
        assert!(check_key(&"k".repeat(255)).is_ok());
        assert!(check_key("order-42/retry~!").is_ok());
        for bad in ["", " ", "a b", "é", "tab\t", &"k".repeat(256)] {
            assert!(matches!(check_key(bad), Err(Error::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn a_fingerprint_tells_files_apart() {
        let a = fingerprint("a.txt", 5, "text/plain");
        assert_eq!(a, fingerprint("a.txt", 5, "text/plain"));
        assert_ne!(a, fingerprint("a.txt", 6, "text/plain"));
        assert_ne!(a, fingerprint("b.txt", 5, "text/plain"));
        assert_ne!(a, fingerprint("a.txt", 5, "text/csv"));
        // No two fields run into each other.
        assert_ne!(fingerprint("a5", 1, "x"), fingerprint("a", 51, "x"));
    }
}
