//! The use cases. Every door (a Lambda, the local gateway) ends up here.

mod connections;
mod notify;
mod queries;
mod receive_webhook;
mod sweep;
mod upload;

use std::sync::Arc;

use crate::auth::{self, Keys};
use crate::ports::{
    Clock, ConnectionStore, DeliveryLog, EventLog, FileStore, JobStore, Processor, Pusher,
};
use crate::{Limits, Result, UserId};

pub use queries::EventsPage;
pub use receive_webhook::WebhookOutcome;
pub use sweep::{Swept, TIMED_OUT};
pub use upload::{UploadOutcome, UploadedFile};

/// The adapters a deployment plugs in.
#[derive(Clone)]
pub struct Ports {
    pub connections: Arc<dyn ConnectionStore>,
    pub jobs: Arc<dyn JobStore>,
    pub events: Arc<dyn EventLog>,
    pub deliveries: Arc<dyn DeliveryLog>,
    pub files: Arc<dyn FileStore>,
    pub pusher: Arc<dyn Pusher>,
    pub processor: Arc<dyn Processor>,
    pub clock: Arc<dyn Clock>,
}

/// What a deployment is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Token keys: current, and previous during a rotation.
    pub jwt_secret: Keys,
    /// Webhook keys: current, and previous during a rotation.
    pub webhook_secret: Keys,
    /// Where the third party sends its result (`.../webhooks/third-party`).
    pub callback_url: String,
    pub limits: Limits,
}

/// The application: its ports and settings. Cheap to clone.
#[derive(Clone)]
pub struct Boomerang {
    pub ports: Ports,
    pub settings: Arc<Settings>,
}

impl Boomerang {
    pub fn new(ports: Ports, settings: Settings) -> Self {
        Self {
            ports,
            settings: Arc::new(settings),
        }
    }

    /// The user a bearer token (HTTP) or `?token=` (WebSocket) names.
    pub fn authenticate(&self, token: Option<&str>) -> Result<UserId> {
        let token = token.ok_or_else(|| crate::Error::Unauthorized("missing token".into()))?;
        auth::verify(token, &self.settings.jwt_secret, self.ports.clock.now())
    }

    pub fn limits(&self) -> &Limits {
        &self.settings.limits
    }
}
