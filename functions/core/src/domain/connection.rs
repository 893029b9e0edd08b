//! One open WebSocket of one user: a tab, a device.

use chrono::{DateTime, Utc};

use super::{ConnectionId, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: ConnectionId,
    pub user: UserId,
    pub connected_at: DateTime<Utc>,
    /// When the gateway will have closed it at the latest (API Gateway
    /// WebSocket: 2 hours). Stores may keep the row longer, so readers
    /// filter on this.
    pub expires_at: DateTime<Utc>,
}

impl Connection {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now
    }
}
