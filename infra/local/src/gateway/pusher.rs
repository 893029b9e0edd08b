//! `GatewayPusher`: pushes straight into the open sockets the gateway holds,
//! answering "gone" for a connection it does not hold, as API Gateway's
//! `PostToConnection` answers 410.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use boomerang_core::ports::{PushError, Pusher};
use boomerang_core::ConnectionId;
use tokio::sync::mpsc;

/// Messages waiting for one socket. A tab that falls this far behind is
/// failed rather than allowed to grow memory without bound.
pub const OUTBOX: usize = 1024;

#[derive(Debug)]
pub enum Outbound {
    Text(String),
}

/// The sockets the gateway holds, by connection id.
#[derive(Clone, Default)]
pub struct Registry(Arc<Mutex<HashMap<ConnectionId, mpsc::Sender<Outbound>>>>);

impl Registry {
    pub fn insert(&self, id: ConnectionId, tx: mpsc::Sender<Outbound>) {
        self.lock().insert(id, tx);
    }

    pub fn remove(&self, id: &ConnectionId) {
        self.lock().remove(id);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, id: &ConnectionId) -> Option<mpsc::Sender<Outbound>> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConnectionId, mpsc::Sender<Outbound>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

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
        let tx = self.registry.get(conn).ok_or(PushError::Gone)?;
        match tx.try_send(Outbound::Text(message.to_owned())) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(PushError::Gone),
            Err(mpsc::error::TrySendError::Full(_)) => {
                Err(PushError::Other("connection is not keeping up".into()))
            }
        }
    }
}
