//! `SqliteIdempotencyKeys`: each user's upload requests by idempotency key.

use async_trait::async_trait;
use boomerang_core::ports::{Answer, Claim, IdempotencyKeys, Outcome, IDEMPOTENCY_WINDOW};
use boomerang_core::{JobId, Result, UserId};
use rusqlite::{params, OptionalExtension};

use super::{corrupt, from_millis, millis, Db};

#[derive(Clone)]
pub struct SqliteIdempotencyKeys {
    db: Db,
}

impl SqliteIdempotencyKeys {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl IdempotencyKeys for SqliteIdempotencyKeys {
    async fn claim(&self, claim: &Claim) -> Result<Option<Claim>> {
        let new = claim.clone();
        let window = chrono::Duration::from_std(IDEMPOTENCY_WINDOW).unwrap_or_default();
        self.db
            .write(move |c| {
                // Keys past the window go as new ones come.
                c.prepare_cached("DELETE FROM idempotency WHERE claimed_at < ?1")?
                    .execute([millis(new.claimed_at - window)])?;
                let held = c
                    .prepare_cached(
                        "SELECT fingerprint, claimed_at, job_id, answer FROM idempotency \
                         WHERE user = ?1 AND key = ?2",
                    )?
                    .query_row(params![new.user.as_str(), new.key], |r| {
                        let job: Option<String> = r.get(2)?;
                        let answer: Option<String> = r.get(3)?;
                        let outcome = match (job, answer) {
                            (Some(job), Some(answer)) => Some(Outcome {
                                job: JobId::parse(&job).map_err(|_| corrupt("job id"))?,
                                answer: Answer::parse(&answer).ok_or_else(|| corrupt("answer"))?,
                            }),
                            _ => None,
                        };
                        Ok(Claim {
                            user: new.user.clone(),
                            key: new.key.clone(),
                            fingerprint: r.get(0)?,
                            claimed_at: from_millis(r.get(1)?),
                            outcome,
                        })
                    })
                    .optional()?;
                if let Some(held) = held.filter(|h| h.holds(new.claimed_at)) {
                    return Ok(Some(held));
                }
                c.prepare_cached(
                    "INSERT OR REPLACE INTO idempotency (user, key, fingerprint, claimed_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    new.user.as_str(),
                    new.key,
                    new.fingerprint,
                    millis(new.claimed_at)
                ])?;
                Ok(None)
            })
            .await
    }

    async fn finish(&self, user: &UserId, key: &str, outcome: Option<&Outcome>) -> Result<()> {
        let (user, key) = (user.to_string(), key.to_owned());
        let outcome = outcome.map(|o| (o.job.to_string(), o.answer.as_str()));
        self.db
            .write(move |c| match outcome {
                Some((job, answer)) => c
                    .prepare_cached(
                        "UPDATE idempotency SET job_id = ?3, answer = ?4 WHERE user = ?1 AND key = ?2",
                    )?
                    .execute(params![user, key, job, answer]),
                None => c
                    .prepare_cached("DELETE FROM idempotency WHERE user = ?1 AND key = ?2")?
                    .execute(params![user, key]),
            })
            .await?;
        Ok(())
    }
}
