//! `SqliteUploadQuota`: each user's uploads per minute, counted in one
//! write (the writer runs one at a time, so the count never passes the
//! limit). Past minutes go as new ones are counted.

use async_trait::async_trait;
use boomerang_core::ports::{minute_of, UploadQuota};
use boomerang_core::{Result, UserId};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::Db;

#[derive(Clone)]
pub struct SqliteUploadQuota {
    db: Db,
}

impl SqliteUploadQuota {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl UploadQuota for SqliteUploadQuota {
    async fn take(
        &self,
        user: &UserId,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let (minute, end) = minute_of(now);
        let user = user.to_string();
        let full = self
            .db
            .write(move |c| {
                c.prepare_cached("DELETE FROM upload_quota WHERE minute < ?1")?
                    .execute([minute])?;
                let n: i64 = c
                    .prepare_cached(
                        "SELECT uploads FROM upload_quota WHERE user = ?1 AND minute = ?2",
                    )?
                    .query_row(params![user, minute], |r| r.get(0))
                    .optional()?
                    .unwrap_or(0);
                if n >= i64::from(max) {
                    return Ok(true);
                }
                c.prepare_cached(
                    "INSERT INTO upload_quota (user, minute, uploads) VALUES (?1, ?2, 1) \
                     ON CONFLICT (user, minute) DO UPDATE SET uploads = uploads + 1",
                )?
                .execute(params![user, minute])?;
                Ok(false)
            })
            .await?;
        Ok(full.then_some(end))
    }
}
