//! Fan-out: one event to every live connection of its user, and only theirs.

use futures::stream::{self, StreamExt};
use tracing::{debug, info, warn};

use super::Boomerang;
use crate::ports::PushError;
use crate::{Event, UserId};

/// What a fan-out did, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub delivered: usize,
    pub gone: usize,
    pub failed: usize,
}

impl Boomerang {
    /// Pushes `event` to all of `user`'s connections, concurrently (bounded).
    /// A connection the gateway says is gone is deleted; one bad connection
    /// never keeps the others from their event. The event is already in the
    /// log, so a tab that misses the push catches up with `GET /events`.
    pub async fn notify(&self, user: &UserId, event: &Event) -> Delivery {
        let now = self.ports.clock.now();
        let conns = match self.ports.connections.for_user(user, now).await {
            Ok(c) => c,
            Err(e) => {
                warn!(user = %user, seq = event.seq, error = %e, "could not list connections; event stays in the log");
                return Delivery {
                    failed: 1,
                    ..Delivery::default()
                };
            }
        };
        let message = event.to_json();
        let results: Vec<_> = stream::iter(conns)
            .map(|conn| {
                let message = &message;
                async move {
                    let r = self.ports.pusher.push(&conn.id, message).await;
                    (conn, r)
                }
            })
            .buffer_unordered(self.limits().push_concurrency.max(1))
            .collect()
            .await;

        let mut d = Delivery::default();
        for (conn, r) in results {
            match r {
                Ok(()) => d.delivered += 1,
                Err(PushError::Gone) => {
                    d.gone += 1;
                    debug!(connection = %conn.id, user = %user, "connection gone; forgetting it");
                    if let Err(e) = self.ports.connections.remove(&conn.id).await {
                        warn!(connection = %conn.id, error = %e, "could not forget a gone connection");
                    }
                }
                Err(PushError::Other(e)) => {
                    d.failed += 1;
                    warn!(connection = %conn.id, user = %user, error = %e, "push failed");
                }
            }
        }
        info!(user = %user, seq = event.seq, kind = event.kind.as_str(), delivered = d.delivered, gone = d.gone, failed = d.failed, "event pushed");
        d
    }
}
