//! `$connect`, `$disconnect` and messages from a tab.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tracing::info;

use super::Boomerang;
use crate::{Connection, ConnectionId, Result, UserId};

#[derive(Deserialize)]
struct Message {
    action: Option<String>,
}

impl Boomerang {
    /// A tab opens a WebSocket: only a verified token makes it a user's.
    pub async fn on_connect(
        &self,
        token: Option<&str>,
        id: ConnectionId,
        connected_at: DateTime<Utc>,
    ) -> Result<UserId> {
        let user = self.authenticate(token)?;
        let max_age = chrono::Duration::from_std(self.limits().max_connection_age)
            .unwrap_or(chrono::Duration::hours(2));
        let conn = Connection {
            id,
            user: user.clone(),
            connected_at,
            expires_at: connected_at + max_age,
        };
        self.ports.connections.add(&conn).await?;
        info!(connection = %conn.id, user = %user, "connected");
        Ok(user)
    }

    /// A tab went away. Unknown connections are fine: `$disconnect` may
    /// come after a push already found the connection gone.
    pub async fn on_disconnect(&self, id: &ConnectionId) -> Result<()> {
        self.ports.connections.remove(id).await?;
        info!(connection = %id, "disconnected");
        Ok(())
    }

    /// A message from a tab; the answer goes back to that tab only.
    pub fn on_message(&self, body: &str) -> String {
        match serde_json::from_str::<Message>(body) {
            Ok(Message { action: Some(a) }) if a == "ping" => r#"{"type":"pong"}"#.to_owned(),
            Ok(Message { action: Some(a) }) => error_message(&format!(
                "unknown action {a:?}; the only action is \"ping\""
            )),
            _ => error_message(r#"expected {"action": "ping"}"#),
        }
    }
}

fn error_message(message: &str) -> String {
    serde_json::json!({"type": "error", "message": message}).to_string()
}

#[cfg(test)]
mod tests {
    use crate::memory::TestApp;

    #[tokio::test]
    async fn ping_is_answered_pong_and_anything_else_an_error() {
        let t = TestApp::new();
        assert_eq!(
            t.app.on_message(r#"{"action":"ping"}"#),
            r#"{"type":"pong"}"#
        );
        for junk in ["", "hello", r#"{"action":"sub"}"#, "[]", r#"{"action":1}"#] {
            let v: serde_json::Value = serde_json::from_str(&t.app.on_message(junk)).unwrap();
            assert_eq!(v["type"], "error", "{junk}");
            assert!(v["message"].as_str().is_some());
        }
    }

    #[tokio::test]
    async fn a_bad_token_connects_nobody() {
        let t = TestApp::new();
        let err = t
            .app
            .on_connect(Some("nope"), "c1".parse_conn(), t.now())
            .await
            .unwrap_err();
        assert_eq!(err.status_code(), 401);
        assert!(t.connections_of("alice").await.is_empty());
    }

    trait ParseConn {
        fn parse_conn(&self) -> crate::ConnectionId;
    }
    impl ParseConn for &str {
        fn parse_conn(&self) -> crate::ConnectionId {
            crate::ConnectionId::parse(*self).unwrap()
        }
    }
}
