//! User identity: HS256 JSON Web Tokens with `sub` and a required `exp`.
//!
//! Written out rather than pulled from a JWT library so that exactly one
//! algorithm is accepted and the clock is the use cases' clock.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::{Error, Result, UserId};

type HmacSha256 = Hmac<Sha256>;

/// A secret that never prints.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

/// The keys a signature is accepted with: the current one and, during a
/// rotation, the previous one, so that changing a key has no cut-over
/// (tokens and webhooks signed with either verify; new ones use current).
#[derive(Clone, Debug)]
pub struct Keys {
    current: Secret,
    previous: Option<Secret>,
}

impl Keys {
    pub fn new(current: Secret, previous: Option<Secret>) -> Self {
        Self { current, previous }
    }

    /// What new signatures are made with.
    pub fn current(&self) -> &Secret {
        &self.current
    }

    /// The current key's bytes.
    pub fn expose(&self) -> &[u8] {
        self.current.expose()
    }

    /// Every key a signature may have been made with, current first.
    pub fn all(&self) -> impl Iterator<Item = &Secret> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }
}

impl From<Secret> for Keys {
    fn from(current: Secret) -> Self {
        Self::new(current, None)
    }
}

/// HS256 keys shorter than this are refused: RFC 7518 asks for a key at
/// least as long as the hash output (32 bytes for SHA-256).
pub const MIN_SECRET_BYTES: usize = 32;

/// A JWT key from configuration (`name` says where it came from): refused
/// when empty or shorter than [`MIN_SECRET_BYTES`].
pub fn secret_from_config(name: &str, value: &str) -> std::result::Result<Secret, String> {
    if value.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "{name} must be at least {MIN_SECRET_BYTES} bytes (it has {})",
            value.len()
        ));
    }
    Ok(Secret::new(value.as_bytes().to_vec()))
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    /// Extensions the token says must be understood (RFC 7515 4.1.11): we
    /// understand none, so a token that lists any is refused.
    crit: Option<serde_json::Value>,
}

/// Who a verified token speaks for, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: UserId,
    pub expires_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<serde_json::Value>,
}

fn unauthorized(why: &str) -> Error {
    Error::Unauthorized(why.to_owned())
}

/// Verifies `token` and returns its user. Anything but a well-formed HS256
/// token, signed with `secret`, with a `sub` and an `exp` after `now`, is
/// refused.
pub fn verify(token: &str, keys: &Keys, now: DateTime<Utc>) -> Result<UserId> {
    verify_identity(token, keys, now).map(|i| i.user)
}

/// As [`verify`], with the token's expiry: a connection lives no longer.
pub fn verify_identity(token: &str, keys: &Keys, now: DateTime<Utc>) -> Result<Identity> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(unauthorized("malformed token"));
    };
    let header: Header = B64URL
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| unauthorized("malformed token"))?;
    // Exactly HS256: `none`, RS256 with our secret as a "public key", and
    // every other algorithm confusion is refused here, before anything else.
    if header.alg != "HS256" {
        return Err(unauthorized("token algorithm must be HS256"));
    }
    if header.crit.is_some() {
        return Err(unauthorized("token has critical extensions"));
    }
    let sig = B64URL
        .decode(s)
        .map_err(|_| unauthorized("malformed token"))?;
    // verify_slice compares in constant time.
    let signed_by = |secret: &Secret| {
        let mut mac =
            HmacSha256::new_from_slice(secret.expose()).expect("HMAC takes any key length");
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        mac.verify_slice(&sig).is_ok()
    };
    if !keys.all().any(signed_by) {
        return Err(unauthorized("bad token signature"));
    }

    let claims: Claims = B64URL
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| unauthorized("malformed token claims"))?;
    let exp = claims
        .exp
        .as_ref()
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| unauthorized("token has no exp"))?;
    if !exp.is_finite() || exp <= now.timestamp() as f64 {
        return Err(unauthorized("token expired"));
    }
    // Far-future values saturate rather than wrap.
    let expires_at = DateTime::<Utc>::from_timestamp(exp.min(i64::MAX as f64) as i64, 0)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let sub = claims.sub.ok_or_else(|| unauthorized("token has no sub"))?;
    let user =
        UserId::parse(sub).map_err(|_| unauthorized("token sub must be 1 to 128 characters"))?;
    Ok(Identity { user, expires_at })
}

/// A token's `exp`, read without verifying it: only for a gateway that
/// has just had the same token verified by `$connect`.
pub fn unverified_expiry(token: &str) -> Option<DateTime<Utc>> {
    let payload = token.split('.').nth(1)?;
    let claims: Claims = serde_json::from_slice(&B64URL.decode(payload).ok()?).ok()?;
    let exp = claims.exp?.as_f64()?;
    DateTime::<Utc>::from_timestamp(exp.clamp(0.0, i64::MAX as f64) as i64, 0)
}

/// Signs a token for `user`, valid until `exp`.
pub fn issue(user: &UserId, exp: DateTime<Utc>, secret: &Secret) -> String {
    let header = B64URL.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({"sub": user.as_str(), "exp": exp.timestamp(), "iat": Utc::now().timestamp()});
    let payload = B64URL.encode(claims.to_string());
    let mut mac = HmacSha256::new_from_slice(secret.expose()).expect("HMAC takes any key length");
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    let sig = B64URL.encode(mac.finalize().into_bytes());
    format!("{header}.{payload}.{sig}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn secret() -> Secret {
        Secret::new(b"test-secret".to_vec())
    }

    fn keys() -> Keys {
        secret().into()
    }

    fn raw(header: &str, claims: &str, key: &[u8]) -> String {
        let h = B64URL.encode(header);
        let p = B64URL.encode(claims);
        let mut mac = HmacSha256::new_from_slice(key).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        format!("{h}.{p}.{}", B64URL.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn a_token_it_issued_verifies_to_its_user() {
        let alice = UserId::parse("alice").unwrap();
        let now = Utc::now();
        let t = issue(&alice, now + Duration::hours(1), &secret());
        assert_eq!(verify(&t, &keys(), now).unwrap(), alice);
    }

    #[test]
    fn expired_unsigned_foreign_and_incomplete_tokens_are_refused() {
        let now = Utc::now();
        let exp = (now + Duration::hours(1)).timestamp();
        let past = (now - Duration::seconds(1)).timestamp();
        let hs = r#"{"alg":"HS256","typ":"JWT"}"#;
        let cases = [
            raw(
                hs,
                &format!(r#"{{"sub":"a","exp":{past}}}"#),
                b"test-secret",
            ),
            raw(hs, r#"{"sub":"a"}"#, b"test-secret"),
            raw(hs, &format!(r#"{{"exp":{exp}}}"#), b"test-secret"),
            raw(hs, &format!(r#"{{"sub":"","exp":{exp}}}"#), b"test-secret"),
            raw(
                hs,
                &format!(r#"{{"sub":"a","exp":{exp}}}"#),
                b"other-secret",
            ),
            raw(
                r#"{"alg":"HS384"}"#,
                &format!(r#"{{"sub":"a","exp":{exp}}}"#),
                b"test-secret",
            ),
            format!(
                "{}.{}.",
                B64URL.encode(r#"{"alg":"none"}"#),
                B64URL.encode(format!(r#"{{"sub":"a","exp":{exp}}}"#))
            ),
            raw(
                r#"{"alg":"HS256","crit":["exp"]}"#,
                &format!(r#"{{"sub":"a","exp":{exp}}}"#),
                b"test-secret",
            ),
            raw(hs, r#"{"sub":"a","exp":1e999}"#, b"test-secret"),
            raw(hs, r#"{"sub":"a","exp":"2099"}"#, b"test-secret"),
            "not-a-token".into(),
            String::new(),
        ];
        for t in cases {
            let err = verify(&t, &keys(), now).unwrap_err();
            assert_eq!(err.status_code(), 401, "{t}");
        }
    }

    #[test]
    fn a_token_carries_its_expiry() {
        let alice = UserId::parse("alice").unwrap();
        let now = Utc::now();
        let exp =
            DateTime::<Utc>::from_timestamp((now + Duration::hours(1)).timestamp(), 0).unwrap();
        let t = issue(&alice, exp, &secret());
        let id = verify_identity(&t, &keys(), now).unwrap();
        assert_eq!(id.expires_at, exp);
        assert_eq!(unverified_expiry(&t), Some(exp));
    }

    #[test]
    fn during_a_rotation_the_previous_key_still_verifies_and_new_tokens_use_the_current() {
        let alice = UserId::parse("alice").unwrap();
        let now = Utc::now();
        let (old, new) = (
            Secret::new(b"old-key".to_vec()),
            Secret::new(b"new-key".to_vec()),
        );
        let rotating = Keys::new(new.clone(), Some(old.clone()));
        let by_old = issue(&alice, now + Duration::hours(1), &old);
        let by_new = issue(&alice, now + Duration::hours(1), rotating.current());
        assert_eq!(verify(&by_old, &rotating, now).unwrap(), alice);
        assert_eq!(verify(&by_new, &rotating, now).unwrap(), alice);
        // Once the old key is dropped, its tokens stop verifying.
        let rotated: Keys = new.into();
        assert_eq!(
            verify(&by_old, &rotated, now).unwrap_err().status_code(),
            401
        );
    }

    #[test]
    fn empty_and_short_keys_are_refused() {
        for bad in ["", "x", &"k".repeat(MIN_SECRET_BYTES - 1)] {
            let err = secret_from_config("BOOMERANG_JWT_SECRET", bad).unwrap_err();
            assert!(err.contains("BOOMERANG_JWT_SECRET"), "{err}");
        }
        assert!(secret_from_config("X", &"k".repeat(MIN_SECRET_BYTES)).is_ok());
    }

    #[test]
    fn the_secret_never_prints() {
        assert_eq!(format!("{:?}", secret()), "Secret(***)");
    }
}
