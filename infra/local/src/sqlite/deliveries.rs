//! `SqliteDeliveryLog`: webhook ids already acted upon.

use async_trait::async_trait;
use boomerang_core::ports::DeliveryLog;
use boomerang_core::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{millis, Db};

#[derive(Clone)]
pub struct SqliteDeliveryLog {
    db: Db,
}

impl SqliteDeliveryLog {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl DeliveryLog for SqliteDeliveryLog {
    async fn seen(&self, webhook_id: &str, now: DateTime<Utc>) -> Result<bool> {
        let (id, now) = (webhook_id.to_owned(), millis(now));
        self.db
            .read(move |c| {
                c.prepare_cached("SELECT 1 FROM deliveries WHERE id = ?1 AND expires_at > ?2")?
                    .query_row(params![id, now], |_| Ok(()))
                    .optional()
                    .map(|r| r.is_some())
            })
            .await
    }

    async fn remember(&self, webhook_id: &str, expires_at: DateTime<Utc>) -> Result<()> {
        let (id, exp) = (webhook_id.to_owned(), millis(expires_at));
        self.db
            .write(move |c| {
                // Expired ids go as new ones come, so the table stays small.
                c.prepare_cached("DELETE FROM deliveries WHERE expires_at <= ?1")?
                    .execute([millis(Utc::now())])?;
                c.prepare_cached(
                    "INSERT OR REPLACE INTO deliveries (id, expires_at) VALUES (?1, ?2)",
                )?
                .execute(params![id, exp])?;
                Ok(())
            })
            .await
    }
}
