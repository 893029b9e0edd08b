//! Fan-out: one event to every live connection of its user, and only theirs.

use futures::stream::{self, StreamExt};
use tracing::{debug, info, warn};

use super::Connections;
use crate::metrics::{self, CONNECTIONS_GONE, EVENTS_PUSHED, PUSH_FAILURES};
use crate::ports::PushError;
use crate::{Connection, Pushed, Result, UserId};

/// What a fan-out did, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub delivered: usize,
    pub gone: usize,
    pub failed: usize,
    /// Expired connections closed instead of pushed to.
    pub closed: usize,
}

impl Connections {
    /// Pushes `event` to all of `user`'s connections, concurrently (bounded).
    /// A connection the gateway says is gone is deleted; one bad connection
    /// never keeps the others from their event. An event of the log is
    /// already in it, so a tab that misses the push catches up with
    /// `GET /events`; a progress notice missed is replaced by the next.
    pub async fn notify(&self, user: &UserId, event: &impl Pushed) -> Delivery {
        self.notify_to(user, event, self.of(user).await).await
    }

    /// Every connection stored for `user`, as [`Connections::notify_to`]
    /// takes them.
    pub(super) async fn of(&self, user: &UserId) -> Result<Vec<Connection>> {
        self.connections.for_user(user).await
    }

    /// [`Connections::notify`], with `user`'s connections already listed (a
    /// caller that lists them while it writes saves a round trip).
    pub(crate) async fn notify_to(
        &self,
        user: &UserId,
        event: &impl Pushed,
        conns: Result<Vec<Connection>>,
    ) -> Delivery {
        let now = self.clock.now();
        let conns = match conns {
            Ok(c) => c,
            Err(e) => {
                warn!(user = %user, seq = event.seq(), kind = event.kind(), error = %e, "could not list connections; event stays in the log");
                return Delivery {
                    failed: 1,
                    ..Delivery::default()
                };
            }
        };
        // A connection past its token's expiry (or its 2 hours) gets no
        // more events: it is closed and forgotten instead.
        let (conns, expired): (Vec<_>, Vec<_>) = conns.into_iter().partition(|c| c.is_live(now));
        let closed = self.close_expired(expired).await;
        let message = event.to_json();
        let results: Vec<_> = stream::iter(conns)
            .map(|conn| {
                let message = &message;
                async move {
                    let r = self.pusher.push(&conn.id, message).await;
                    (conn, r)
                }
            })
            .buffer_unordered(self.limits.push_concurrency.max(1))
            .collect()
            .await;

        let mut d = Delivery {
            closed,
            ..Delivery::default()
        };
        for (conn, r) in results {
            match r {
                Ok(()) => {
                    d.delivered += 1;
                    metrics::count(EVENTS_PUSHED);
                }
                Err(PushError::Gone) => {
                    d.gone += 1;
                    metrics::count(CONNECTIONS_GONE);
                    debug!(connection = %conn.id, user = %user, "connection gone; forgetting it");
                    if let Err(e) = self.connections.remove(&conn.id).await {
                        warn!(connection = %conn.id, error = %e, "could not forget a gone connection");
                    }
                }
                Err(e) => {
                    d.failed += 1;
                    metrics::count(PUSH_FAILURES);
                    warn!(connection = %conn.id, user = %user, error = %e, "push failed");
                }
            }
        }
        info!(user = %user, seq = event.seq(), kind = event.kind(), delivered = d.delivered, gone = d.gone, failed = d.failed, closed = d.closed, "event pushed");
        d
    }

    /// Closes connections whose time is up and forgets them.
    async fn close_expired(&self, expired: Vec<Connection>) -> usize {
        let n = expired.len();
        for conn in expired {
            match self.pusher.close(&conn.id).await {
                Ok(()) | Err(PushError::Gone) => {}
                Err(e) => {
                    warn!(connection = %conn.id, error = %e, "could not close an expired connection")
                }
            }
            if let Err(e) = self.connections.remove(&conn.id).await {
                warn!(connection = %conn.id, error = %e, "could not forget an expired connection");
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::memory::TestApp;
    use crate::usecases::upload::{tests::file, UploadOutcome};

    #[tokio::test]
    async fn a_connection_past_its_tokens_expiry_is_closed_and_forgotten_not_pushed_to() {
        // GIVEN alice with a tab whose token expires in a minute, and one
        // whose token lasts an hour
        let t = TestApp::new();
        let soon = t.now() + chrono::Duration::minutes(1);
        t.connect_until("short", "alice", soon).await.unwrap();
        t.connect("long", "alice").await;
        // WHEN two minutes pass and an event for alice is pushed
        t.advance(Duration::from_secs(120));
        let outcome = t
            .app
            .uploads
            .upload(&t.user("alice"), file("hi"))
            .await
            .unwrap();
        assert!(matches!(outcome, UploadOutcome::Accepted(_)));
        // THEN the expired tab got nothing and was closed and forgotten;
        // the other got its event
        assert!(t.pushed("short").is_empty());
        assert_eq!(t.closed(), ["short"]);
        assert_eq!(t.pushed("long").len(), 1);
        let left: Vec<String> = t
            .connections_of("alice")
            .await
            .into_iter()
            .map(|c| c.id.to_string())
            .collect();
        assert_eq!(left, ["long"]);
    }
}
