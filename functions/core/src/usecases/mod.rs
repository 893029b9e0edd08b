//! The use cases. Every door (a Lambda, the local gateway) ends up here.

mod connections;
mod direct;
mod idempotency;
mod notify;
mod queries;
mod receive_webhook;
mod sweep;
mod upload;

use std::sync::Arc;

use crate::auth::{self, Keys};
use crate::ports::{
    Clock, ConnectionStore, EventLog, FileStore, IdempotencyKeys, IssuerKeys, JobStore, Processor,
    Pusher,
};
use crate::{Limits, Result, UserId};

pub use connections::answer;
pub use direct::{NewUpload, Stored, UploadTicket, DIRECT_PREFIX, NOT_RECEIVED};
pub use idempotency::{fingerprint, Claimed, Idempotent};
pub use queries::{EventsPage, JobsPage, MAX_LIST_PAGE_BYTES};
pub use receive_webhook::WebhookOutcome;
pub use sweep::{Swept, TIMED_OUT};
pub use upload::{UploadOutcome, UploadedFile};

/// The adapters a deployment plugs in.
#[derive(Clone)]
pub struct Ports {
    pub connections: Arc<dyn ConnectionStore>,
    pub jobs: Arc<dyn JobStore>,
    pub events: Arc<dyn EventLog>,
    pub files: Arc<dyn FileStore>,
    /// Retried uploads' keys.
    pub idempotency: Arc<dyn IdempotencyKeys>,
    pub pusher: Arc<dyn Pusher>,
    /// The third party, in the functions that hand it files.
    pub processor: Option<Arc<dyn Processor>>,
    pub clock: Arc<dyn Clock>,
    /// The identity provider's signing keys, when one is configured.
    pub issuer_keys: Option<Arc<dyn IssuerKeys>>,
}

/// What a deployment is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// HS256 token keys: current, and previous during a rotation. Without
    /// them, every HS256 token is refused.
    pub jwt_secret: Option<Keys>,
    /// The identity provider whose RS256/ES256 tokens are accepted.
    pub issuer: Option<auth::Issuer>,
    /// Webhook keys: current, and previous during a rotation, in the
    /// functions that take webhooks (without them, every one is refused).
    pub webhook_secret: Option<Keys>,
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
    pub fn new(ports: Ports, mut settings: Settings) -> Self {
        settings.limits = settings.limits.checked();
        Self {
            ports,
            settings: Arc::new(settings),
        }
    }

    /// The user a bearer token (HTTP) or `?token=` (WebSocket) names.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<UserId> {
        self.identify(token).await.map(|i| i.user)
    }

    /// Who a token speaks for, and until when: HS256 with the deployment's
    /// secret, or an identity provider's token with its key from the
    /// issuer's JWKS (through the `issuer_keys` port, which caches it).
    pub async fn identify(&self, token: Option<&str>) -> Result<auth::Identity> {
        let token = token.ok_or_else(|| crate::Error::Unauthorized("missing token".into()))?;
        let issuer = self.settings.issuer.as_ref();
        let key = match auth::key_needed(token, issuer)? {
            auth::KeyNeeded::Secret => None,
            auth::KeyNeeded::Issuer { kid } => {
                let keys = self.ports.issuer_keys.as_ref().ok_or_else(|| {
                    crate::Error::Unauthorized("no identity provider is configured".into())
                })?;
                Some(keys.key(&kid).await?.ok_or_else(|| {
                    crate::Error::Unauthorized("token key is not in the issuer's JWKS".into())
                })?)
            }
        };
        auth::verify_identity(
            token,
            self.settings.jwt_secret.as_ref(),
            issuer,
            key.as_ref(),
            self.ports.clock.now(),
        )
    }

    /// What time it is, by the deployment's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.ports.clock.now()
    }

    /// An HS256 token for `user` until `exp` (the development endpoint's
    /// and the tests'); `None` where the deployment has no HS256 key.
    pub fn issue_token(&self, user: &UserId, exp: chrono::DateTime<chrono::Utc>) -> Option<String> {
        let keys = self.settings.jwt_secret.as_ref()?;
        Some(auth::issue(user, self.now(), exp, keys.current()))
    }

    pub fn limits(&self) -> &Limits {
        &self.settings.limits
    }
}
