//! `$connect`, `$disconnect` and messages from a tab.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tracing::info;

use crate::auth::Identity;
use crate::ports::{Clock, ConnectionStore, Pusher};
use crate::{Connection, ConnectionId, Error, Limits, Result};

#[derive(Deserialize)]
struct Message {
    action: Option<String>,
}

/// Who is connected, by user (`$connect`, `$disconnect`), and the fan-out
/// of each event to them (`notify.rs`).
#[derive(Clone)]
pub struct Connections {
    pub(super) connections: Arc<dyn ConnectionStore>,
    pub(super) pusher: Arc<dyn Pusher>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) limits: Limits,
}

impl Connections {
    pub fn new(
        connections: Arc<dyn ConnectionStore>,
        pusher: Arc<dyn Pusher>,
        clock: Arc<dyn Clock>,
        limits: &Limits,
    ) -> Self {
        let limits = limits.clone();
        Self {
            connections,
            pusher,
            clock,
            limits,
        }
    }

    /// A tab opens a WebSocket as `identity` (its verified token's).
    /// The connection lives until its token expires, or API Gateway's 2
    /// hours, whichever comes first; a user already holding the most
    /// connections allowed is refused (429).
    pub async fn on_connect(
        &self,
        identity: Identity,
        id: ConnectionId,
        connected_at: DateTime<Utc>,
    ) -> Result<Connection> {
        let now = self.clock.now();
        let max = self.limits.max_connections_per_user;
        let max_age = chrono::Duration::from_std(self.limits.max_connection_age)
            .unwrap_or(chrono::Duration::hours(2));
        let conn = Connection {
            id,
            user: identity.user,
            connected_at,
            expires_at: (connected_at + max_age).min(identity.expires_at),
        };
        let store = &self.connections;
        if !store.add_within(&conn, max, now).await? {
            // Rows past their expiry, and rows whose `$disconnect` never
            // came (API Gateway delivers it only best-effort), would hold
            // the user out: forget the first, ask the gateway which of the
            // others are still there, forget the rest, and try again.
            let (live, expired): (Vec<Connection>, Vec<Connection>) = store
                .for_user(&conn.user)
                .await?
                .into_iter()
                .partition(|c| c.is_live(now));
            let mut forgotten = 0;
            for c in &expired {
                match store.remove(&c.id).await {
                    Ok(()) => forgotten += 1,
                    Err(e) => {
                        tracing::warn!(connection = %c.id, error = %e, "could not forget an expired connection")
                    }
                }
            }
            forgotten += self.forget_vanished(live).await;
            if forgotten == 0 || !store.add_within(&conn, max, now).await? {
                info!(user = %conn.user, "connection refused: too many open");
                return Err(Error::RateLimited {
                    message: format!("too many open connections: at most {max} per user"),
                    retry_after: None,
                });
            }
        }
        info!(connection = %conn.id, user = %conn.user, "connected");
        Ok(conn)
    }

    /// A tab went away. Unknown connections are fine: `$disconnect` may
    /// come after a push already found the connection gone.
    pub async fn on_disconnect(&self, id: &ConnectionId) -> Result<()> {
        self.connections.remove(id).await?;
        info!(connection = %id, "disconnected");
        Ok(())
    }
}

/// `$default`: a message from a tab; the answer goes back to that tab
/// only. It needs nothing: the `ws-default` function builds no storage.
pub fn answer(body: &str) -> String {
    match serde_json::from_str::<Message>(body) {
        Ok(Message { action: Some(a) }) if a == "ping" => r#"{"type":"pong"}"#.to_owned(),
        Ok(Message { action: Some(a) }) => error_message(&format!(
            "unknown action {a:?}; the only action is \"ping\""
        )),
        _ => error_message(r#"expected {"action": "ping"}"#),
    }
}

fn error_message(message: &str) -> String {
    serde_json::json!({"type": "error", "message": message}).to_string()
}

impl Connections {
    /// Probes `conns` at the gateway and forgets those it says are gone;
    /// how many went.
    async fn forget_vanished(&self, mut conns: Vec<Connection>) -> usize {
        use crate::ports::PushError;
        use futures::stream::{self, StreamExt};
        // The oldest are the likeliest gone; a refusal asks about a few of
        // them only (API Gateway's GetConnection is billed, and a client
        // held at its limit may try again and again).
        conns.sort_by_key(|c| c.connected_at);
        conns.truncate(PROBES_PER_REFUSAL);
        let gone: Vec<Connection> = stream::iter(conns)
            .map(|c| async move {
                matches!(self.pusher.probe(&c.id).await, Err(PushError::Gone)).then_some(c)
            })
            .buffer_unordered(self.limits.push_concurrency.max(1))
            .filter_map(|c| async move { c })
            .collect()
            .await;
        for c in &gone {
            if let Err(e) = self.connections.remove(&c.id).await {
                tracing::warn!(connection = %c.id, error = %e, "could not forget a vanished connection");
            }
        }
        gone.len()
    }
}

/// Connections a refused `$connect` asks the gateway about, at most.
pub const PROBES_PER_REFUSAL: usize = 5;

#[cfg(test)]
mod tests {
    use super::answer;
    use crate::memory::TestApp;

    #[test]
    fn ping_is_answered_pong_and_anything_else_an_error() {
        assert_eq!(answer(r#"{"action":"ping"}"#), r#"{"type":"pong"}"#);
        for junk in ["", "hello", r#"{"action":"sub"}"#, "[]", r#"{"action":1}"#] {
            let v: serde_json::Value = serde_json::from_str(&answer(junk)).unwrap();
            assert_eq!(v["type"], "error", "{junk}");
            assert!(v["message"].as_str().is_some());
        }
    }

    #[tokio::test]
    async fn a_connection_lives_no_longer_than_its_token() {
        // GIVEN a token that expires in ten minutes
        let t = TestApp::new();
        let exp = t.now() + chrono::Duration::minutes(10);
        // WHEN it connects
        let conn = t.connect_until("c1", "alice", exp).await.unwrap();
        // THEN the connection expires with the token, not after 2 hours
        assert_eq!(conn.expires_at.timestamp(), exp.timestamp());
    }

    #[tokio::test]
    async fn one_connection_over_the_per_user_limit_is_refused_with_429() {
        // GIVEN alice holding the most connections allowed
        let t = TestApp::new();
        let max = t.limits().max_connections_per_user;
        let exp = t.now() + chrono::Duration::hours(1);
        for i in 0..max {
            t.connect_until(&format!("a{i}"), "alice", exp)
                .await
                .unwrap();
        }
        // WHEN she opens one more, THEN it is refused with 429 and not stored
        let err = t.connect_until("one-more", "alice", exp).await.unwrap_err();
        assert!(matches!(err, crate::Error::RateLimited { .. }));
        // having asked the gateway about a few of hers, not all of them
        assert_eq!(t.probes(), super::PROBES_PER_REFUSAL);
        assert_eq!(t.connections_of("alice").await.len(), max);
        // AND another user is not affected
        t.connect_until("b1", "bob", exp).await.unwrap();
    }

    #[tokio::test]
    async fn rows_whose_socket_vanished_do_not_hold_the_user_out() {
        // GIVEN alice at the limit, every socket gone without a $disconnect
        let t = TestApp::new();
        let max = t.limits().max_connections_per_user;
        for i in 0..max {
            let id = format!("v{i}");
            t.connect(&id, "alice").await;
            t.vanish(&id);
        }
        // WHEN she opens one more
        let exp = chrono::Utc::now() + chrono::Duration::hours(1);
        t.connect_until("fresh", "alice", exp).await.unwrap();
        // THEN it is taken: the few rows the gateway was asked about are
        // forgotten (the others go at the next push's 410)
        let ids: Vec<String> = t
            .connections_of("alice")
            .await
            .iter()
            .map(|c| c.id.to_string())
            .collect();
        assert!(ids.contains(&"fresh".to_owned()));
        assert_eq!(ids.len(), max - super::PROBES_PER_REFUSAL + 1);
    }
}
