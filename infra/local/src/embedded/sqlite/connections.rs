//! `SqliteConnectionStore`: who is connected, by user.

use async_trait::async_trait;
use boomerang_core::ports::ConnectionStore;
use boomerang_core::{Connection, ConnectionId, Result, UserId};
use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{corrupt, from_millis, millis, Db};

#[derive(Clone)]
pub struct SqliteConnectionStore {
    db: Db,
}

impl SqliteConnectionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Forgets every connection: at start, none from a previous run is open.
    pub async fn clear(&self) -> Result<usize> {
        self.db
            .write(|c| c.prepare_cached("DELETE FROM connections")?.execute([]))
            .await
    }
}

#[async_trait]
impl ConnectionStore for SqliteConnectionStore {
    async fn add_within(&self, conn: &Connection, max: usize, _now: DateTime<Utc>) -> Result<bool> {
        let (id, user) = (conn.id.to_string(), conn.user.to_string());
        let (at, exp) = (millis(conn.connected_at), millis(conn.expires_at));
        // One write: the count and the insert see no other add between them.
        self.db
            .write(move |c| {
                let open: i64 = c
                    .prepare_cached(
                        "SELECT COUNT(*) FROM connections WHERE user = ?1",
                    )?
                    .query_row(params![user], |r| r.get(0))?;
                if open >= max as i64 {
                    return Ok(false);
                }
                c.prepare_cached("INSERT OR REPLACE INTO connections (id, user, connected_at, expires_at) VALUES (?1, ?2, ?3, ?4)")?
                    .execute(params![id, user, at, exp])?;
                Ok(true)
            })
            .await
    }

    async fn remove(&self, id: &ConnectionId) -> Result<()> {
        let id = id.to_string();
        self.db
            .write(move |c| {
                c.prepare_cached("DELETE FROM connections WHERE id = ?1")?
                    .execute([id])
            })
            .await?;
        Ok(())
    }

    async fn for_user(&self, user: &UserId) -> Result<Vec<Connection>> {
        let u = user.to_string();
        self.db
            .read(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT id, user, connected_at, expires_at FROM connections WHERE user = ?1",
                )?;
                let rows = st.query_map(params![u], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })?;
                rows.map(|row| {
                    let (id, user, at, exp) = row?;
                    Ok(Connection {
                        id: ConnectionId::parse(id).map_err(|_| corrupt("connection id"))?,
                        user: UserId::parse(user).map_err(|_| corrupt("user id"))?,
                        connected_at: from_millis(at),
                        expires_at: from_millis(exp),
                    })
                })
                .collect()
            })
            .await
    }
}
