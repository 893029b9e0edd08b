//! The use cases. Every door (a Lambda, the local gateway) ends up here.
//!
//! Each use case is a small value holding the ports it uses and nothing
//! else: a door builds the ones it serves ([`App`] builds them all, for a
//! door that serves everything), and a handler is given the ones it calls.

mod connections;
mod direct;
mod idempotency;
mod identity;
mod notify;
mod queries;
mod receive_webhook;
mod sweep;
mod upload;
mod wiring;

use std::sync::Arc;

use crate::auth::{self, Keys};
use crate::ports::{
    Clock, ConnectionStore, EventLog, FileStore, IdempotencyKeys, IssuerKeys, JobStore, Processor,
    Pusher, UploadQuota,
};
use crate::Limits;

pub use connections::{answer, Connections};
pub use direct::{NewUpload, Stored, UploadTicket, DIRECT_PREFIX, NOT_RECEIVED};
pub use idempotency::{fingerprint, Claimed, Idempotency, Idempotent};
pub use identity::Authenticator;
pub use queries::{EventsPage, JobsPage, Queries, MAX_LIST_PAGE_BYTES};
pub use receive_webhook::{WebhookOutcome, Webhooks};
pub use sweep::{Sweeper, Swept, TIMED_OUT};
pub use upload::{UploadOutcome, UploadedFile, Uploads};
pub use wiring::{Adapters, Wiring};

/// Every adapter, for a door that serves every use case (the local stack,
/// tests). A Lambda builds only the adapters its use cases take
/// ([`Adapters`]).
#[derive(Clone)]
pub struct Ports {
    pub connections: Arc<dyn ConnectionStore>,
    pub jobs: Arc<dyn JobStore>,
    pub events: Arc<dyn EventLog>,
    pub files: Arc<dyn FileStore>,
    pub idempotency: Arc<dyn IdempotencyKeys>,
    pub quota: Arc<dyn UploadQuota>,
    pub pusher: Arc<dyn Pusher>,
    pub processor: Arc<dyn Processor>,
    pub clock: Arc<dyn Clock>,
    /// The identity provider's signing keys, when one is configured.
    pub issuer_keys: Option<Arc<dyn IssuerKeys>>,
}

/// What such a door is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// HS256 token keys: current, and previous during a rotation.
    pub jwt_secret: Option<Keys>,
    /// The identity provider whose RS256/ES256 tokens are accepted.
    pub issuer: Option<auth::Issuer>,
    /// Webhook keys: current, and previous during a rotation.
    pub webhook_secret: Option<Keys>,
    /// Where the third party sends its result (`.../webhooks/third-party`).
    pub callback_url: String,
    pub limits: Limits,
}

/// Every use case, over one set of ports. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub auth: Authenticator,
    pub connections: Connections,
    pub uploads: Uploads,
    pub idempotency: Idempotency,
    pub webhooks: Webhooks,
    pub queries: Queries,
    pub sweeper: Sweeper,
}

impl App {
    /// Every use case over `p`, wired as every door wires them
    /// ([`Wiring`]).
    pub fn new(p: Ports, s: Settings) -> Self {
        let issuer_keys = p.issuer_keys.clone();
        let auth = Authenticator::new(s.jwt_secret, s.issuer, issuer_keys, p.clock.clone());
        let processor = p.processor.clone();
        let built = wiring::Built {
            ports: p,
            limits: s.limits.checked(),
        };
        let w = Wiring(&built);
        Self {
            auth,
            connections: w.connections().unwrap_or_else(|e| match e {}),
            uploads: w
                .uploads(processor, s.callback_url)
                .unwrap_or_else(|e| match e {}),
            idempotency: w.idempotency().unwrap_or_else(|e| match e {}),
            webhooks: w.webhooks(s.webhook_secret).unwrap_or_else(|e| match e {}),
            queries: w.queries().unwrap_or_else(|e| match e {}),
            sweeper: w.sweeper().unwrap_or_else(|e| match e {}),
        }
    }
}
