//! The sockets the gateway holds, and `GatewayPusher`, which pushes straight
//! into them. Both it and the local Management API answer "gone" for a
//! connection the gateway does not hold, as API Gateway answers 410.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use boomerang_core::ports::{PushError, Pusher};
use boomerang_core::ConnectionId;
use chrono::{DateTime, Utc};

use super::outbox::{self, Outbound};

/// Messages waiting for one socket. A tab that falls this far behind is
/// not reading: it is closed (going away) and reported gone, so its row
/// is forgotten, rather than holding memory for it.
pub const OUTBOX: usize = 256;

/// What `GET /@connections/{id}` tells about a socket.
#[derive(Clone, Debug)]
pub struct SocketInfo {
    pub connected_at: DateTime<Utc>,
    pub last_active_at: DateTime<Utc>,
    pub source_ip: String,
    pub user_agent: String,
}

struct Entry {
    tx: outbox::Sender,
    info: SocketInfo,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// No such socket (never was, closed, or just closed for not keeping
    /// up): API Gateway's 410.
    Gone,
}

/// The sockets the gateway holds, by connection id.
#[derive(Clone, Default)]
pub struct Registry(Arc<Mutex<HashMap<ConnectionId, Entry>>>);

impl Registry {
    pub fn insert(&self, id: ConnectionId, tx: outbox::Sender, info: SocketInfo) {
        self.lock().insert(id, Entry { tx, info });
    }

    pub fn remove(&self, id: &ConnectionId) {
        self.lock().remove(id);
    }

    /// The socket sent something.
    pub fn touch(&self, id: &ConnectionId) {
        if let Some(e) = self.lock().get_mut(id) {
            e.info.last_active_at = Utc::now();
        }
    }

    pub fn info(&self, id: &ConnectionId) -> Option<SocketInfo> {
        self.lock().get(id).map(|e| e.info.clone())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues `out` for the socket, without waiting. A full outbox
    /// overflows (the socket closes) and answers gone.
    pub fn send(&self, id: &ConnectionId, out: Outbound) -> Result<(), SendError> {
        let tx = self
            .lock()
            .get(id)
            .map(|e| e.tx.clone())
            .ok_or(SendError::Gone)?;
        tx.try_send(out).map_err(|_| SendError::Gone)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConnectionId, Entry>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The embedded backend's pusher: no HTTP in between.
#[derive(Clone)]
pub struct GatewayPusher {
    registry: Registry,
}

impl GatewayPusher {
    pub fn new(registry: Registry) -> Self {
        Self { registry }
    }
}

#[async_trait]
impl Pusher for GatewayPusher {
    async fn push(&self, conn: &ConnectionId, message: &str) -> Result<(), PushError> {
        match self.registry.send(conn, Outbound::Text(message.to_owned())) {
            Ok(()) => Ok(()),
            Err(SendError::Gone) => Err(PushError::Gone),
        }
    }

    async fn close(&self, conn: &ConnectionId) -> Result<(), PushError> {
        // Gone already, or closing now: either way it is closed.
        let _ = self.registry.send(conn, Outbound::Close);
        Ok(())
    }

    async fn probe(&self, conn: &ConnectionId) -> Result<(), PushError> {
        match self.registry.info(conn) {
            Some(_) => Ok(()),
            None => Err(PushError::Gone),
        }
    }
}
