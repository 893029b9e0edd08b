//! `JwksCache`: an identity provider's signing keys, fetched from its JWKS
//! URL and kept. A `kid` not in the kept set refetches, at most once a
//! minute (the contract's rule): a rotated-in key is picked up at once, and
//! tokens with made-up `kid`s cannot make us hammer the issuer. The fetch
//! runs outside the keys' lock: tokens under known keys never wait on it.
//! Until a first fetch succeeds, a failed one is retried after a second,
//! not a minute, and tokens are answered 503 (try again), not 401.

use std::collections::HashMap;
use std::time::Duration;

use std::sync::Arc;

use async_trait::async_trait;
use boomerang_core::auth::Issuer;
use boomerang_core::ports::IssuerKeys;
use boomerang_core::{Error, Result};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use tokio::time::Instant;
use tracing::{info, warn};

/// Unknown `kid`s refetch the JWKS at most this often.
pub const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(60);
/// Before any key set was fetched, a failed fetch is tried again this soon.
pub const RETRY_FIRST_FETCH_AFTER: Duration = Duration::from_secs(1);
/// How long one fetch may take: the request waiting on it is a user's.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A JWKS is a few keys; anything larger is not one.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// An identity provider and its signing keys.
pub type IdentityProvider = (Issuer, Arc<dyn IssuerKeys>);

/// The identity provider named by `issuer` (blank: none), with its
/// `audience` (required with an issuer) and its keys from `jwks_url`
/// (blank: `{issuer}/.well-known/jwks.json`): what the Lambdas read from
/// their environment and the local stack from its configuration.
pub fn identity_provider(
    issuer: &str,
    audience: Option<&str>,
    jwks_url: Option<&str>,
) -> std::result::Result<Option<IdentityProvider>, String> {
    let url = issuer.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let jwks = match jwks_url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => u.to_owned(),
        None => format!("{}/.well-known/jwks.json", url.trim_end_matches('/')),
    };
    let audience = audience
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or("BOOMERANG_JWT_AUDIENCE is required with BOOMERANG_JWT_ISSUER: without it, a token the issuer made for any other API would pass")?;
    let keys: Arc<dyn IssuerKeys> = Arc::new(JwksCache::new(&jwks)?);
    let issuer = Issuer {
        url: url.to_owned(),
        audience: audience.to_owned(),
    };
    Ok(Some((issuer, keys)))
}

#[derive(Debug)]
pub struct JwksCache {
    url: reqwest::Url,
    http: reqwest::Client,
    refetch_every: Duration,
    /// The keys, read by every token without waiting on a fetch.
    state: std::sync::Mutex<State>,
    /// Held by the one fetch at a time; only an unknown `kid` waits on it.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    keys: HashMap<String, Jwk>,
    /// The last fetch tried, successful or not.
    fetched_at: Option<Instant>,
    /// A key set was fetched once: the issuer has answered.
    fetched_once: bool,
}

impl State {
    fn due(&self, every: Duration) -> bool {
        let every = match self.fetched_once {
            true => every,
            false => RETRY_FIRST_FETCH_AFTER.min(every),
        };
        self.fetched_at.is_none_or(|at| at.elapsed() >= every)
    }

    /// No key yet, and none fetched: the keys are unavailable (503), not
    /// the token wrong (401).
    fn none_yet(&self) -> Result<Option<Jwk>> {
        match self.fetched_once {
            true => Ok(None),
            false => Err(Error::Unavailable(
                "the identity provider's keys are not available yet; try again".into(),
            )),
        }
    }
}

impl JwksCache {
    /// `url`: the issuer's JWKS (`BOOMERANG_JWKS_URL`, by default
    /// `{issuer}/.well-known/jwks.json`). Nothing is fetched until a token
    /// needs a key.
    pub fn new(url: &str) -> std::result::Result<Self, String> {
        Self::with_refetch_interval(url, REFETCH_AT_MOST_EVERY)
    }

    /// As [`JwksCache::new`], refetching for an unknown `kid` at most every
    /// `refetch_every`: for tests of a rotation, which cannot wait a minute.
    pub fn with_refetch_interval(
        url: &str,
        refetch_every: Duration,
    ) -> std::result::Result<Self, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("JWKS URL {url:?}: {e}"))?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("boomerang/", env!("CARGO_PKG_VERSION")))
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            url,
            http,
            refetch_every,
            state: std::sync::Mutex::default(),
            fetching: tokio::sync::Mutex::default(),
        })
    }

    async fn fetch(&self) -> Result<HashMap<String, Jwk>> {
        let unavailable = |why: String| {
            warn!(url = %self.url, error = %why, "could not fetch the issuer's JWKS");
            Error::Unavailable("the identity provider's keys are unavailable; try again".into())
        };
        let res = self
            .http
            .get(self.url.clone())
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !res.status().is_success() {
            return Err(unavailable(format!("answered {}", res.status())));
        }
        let body = res.bytes().await.map_err(|e| unavailable(e.to_string()))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(unavailable(format!("{} bytes is not a JWKS", body.len())));
        }
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| unavailable(format!("not a JWKS: {e}")))?;
        let keys: HashMap<String, Jwk> = set
            .keys
            .into_iter()
            .filter_map(|k| Some((k.common.key_id.clone()?, k)))
            .collect();
        info!(url = %self.url, keys = keys.len(), "fetched the issuer's JWKS");
        Ok(keys)
    }
}

#[async_trait]
impl IssuerKeys for JwksCache {
    async fn key(&self, kid: &str) -> Result<Option<Jwk>> {
        let known = |state: &State| state.keys.get(kid).cloned();
        {
            let state = self.state.lock().expect("jwks state");
            if let Some(k) = known(&state) {
                return Ok(Some(k));
            }
            if !state.due(self.refetch_every) {
                return state.none_yet();
            }
        }
        // One fetch at a time; tokens whose key is known never wait on it.
        let _fetching = self.fetching.lock().await;
        {
            let mut state = self.state.lock().expect("jwks state");
            // The fetch this one waited on may have brought the key.
            if let Some(k) = known(&state) {
                return Ok(Some(k));
            }
            if !state.due(self.refetch_every) {
                return state.none_yet();
            }
            // A failed fetch counts as one too: an unreachable issuer is
            // not asked again for every request.
            state.fetched_at = Some(Instant::now());
        }
        let keys = self.fetch().await?;
        let mut state = self.state.lock().expect("jwks state");
        state.keys = keys;
        state.fetched_once = true;
        Ok(known(&state))
    }
}
