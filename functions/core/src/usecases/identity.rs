//! Who a request speaks for: its bearer token (HTTP) or `?token=`
//! (WebSocket), verified.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::auth::{self, Issuer, Keys};
use crate::ports::{Clock, IssuerKeys};
use crate::{Error, Result, UserId};

/// Verifies tokens: HS256 with the deployment's keys, or an identity
/// provider's token with its key from the issuer's JWKS.
#[derive(Clone)]
pub struct Authenticator {
    /// HS256 keys: current, and previous during a rotation. Without them,
    /// every HS256 token is refused.
    jwt_secret: Option<Keys>,
    issuer: Option<Issuer>,
    /// The issuer's signing keys (the port caches them).
    issuer_keys: Option<Arc<dyn IssuerKeys>>,
    clock: Arc<dyn Clock>,
}

impl Authenticator {
    pub fn new(
        jwt_secret: Option<Keys>,
        issuer: Option<Issuer>,
        issuer_keys: Option<Arc<dyn IssuerKeys>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            jwt_secret,
            issuer,
            issuer_keys,
            clock,
        }
    }

    /// The user a token names.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<UserId> {
        self.identify(token).await.map(|i| i.user)
    }

    /// Who a token speaks for, and until when.
    pub async fn identify(&self, token: Option<&str>) -> Result<auth::Identity> {
        let token = token.ok_or_else(|| Error::Unauthenticated("missing token".into()))?;
        let issuer = self.issuer.as_ref();
        let key = match auth::key_needed(token, issuer)? {
            auth::KeyNeeded::Secret => None,
            auth::KeyNeeded::Issuer { kid } => {
                let keys = self.issuer_keys.as_ref().ok_or_else(|| {
                    Error::Unauthenticated("no identity provider is configured".into())
                })?;
                Some(keys.key(&kid).await?.ok_or_else(|| {
                    Error::Unauthenticated("token key is not in the issuer's JWKS".into())
                })?)
            }
        };
        auth::verify_identity(
            token,
            self.jwt_secret.as_ref(),
            issuer,
            key.as_ref(),
            self.clock.now(),
        )
    }

    /// What time it is, by the deployment's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// An HS256 token for `user` until `exp` (the development endpoint's
    /// and the tests'); `None` where the deployment has no HS256 key.
    pub fn issue_token(&self, user: &UserId, exp: DateTime<Utc>) -> Option<String> {
        let keys = self.jwt_secret.as_ref()?;
        Some(auth::issue(user, self.now(), exp, keys.current()))
    }
}
