//! User identity: JSON Web Tokens with `sub` and a required `exp`, HS256
//! with the deployment's secret, or RS256/ES256 from an identity
//! provider's JWKS (the keys come through a port: fetching and caching
//! them is an adapter's job). Checked with `jsonwebtoken`, allowing
//! exactly the algorithm of the key at hand, against the use cases' clock.

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::{Error, Result, UserId};

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

/// Who a verified token speaks for, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: UserId,
    pub expires_at: DateTime<Utc>,
}

/// An identity provider whose tokens are accepted: RS256 or ES256, signed
/// by a key of its JWKS (chosen by `kid`), with `iss` equal to `url` and
/// `aud` equal to or containing `audience` (or, for Cognito's access
/// tokens, which carry no `aud`, `client_id` equal to it). The audience is
/// required: without it, a token the issuer made for any other API of
/// its would pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    pub url: String,
    pub audience: String,
}

/// Clock skew allowed on `nbf`: a token minted by a clock a little ahead
/// of ours is not refused.
pub const NBF_LEEWAY_SECS: i64 = 60;

/// What a token says it must be checked with, read from its header before
/// anything is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyNeeded {
    /// HS256: the deployment's secret.
    Secret,
    /// RS256 or ES256: the issuer's key with this `kid`.
    Issuer { kid: String },
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<serde_json::Value>,
    nbf: Option<serde_json::Value>,
    aud: Option<serde_json::Value>,
    /// Cognito's access tokens carry the app client here, not in `aud`,
    /// and say so in `token_use`.
    client_id: Option<String>,
    token_use: Option<String>,
}

fn unauthorized(why: &str) -> Error {
    Error::Unauthenticated(why.to_owned())
}

/// Which key `token` needs. Only HS256 (with the secret), and RS256 and
/// ES256 (with an issuer's key, named by `kid`) when an issuer is set;
/// `none`, every other algorithm, and a token listing `crit` extensions
/// (RFC 7515 4.1.11: we understand none) are refused here.
pub fn key_needed(token: &str, issuer: Option<&Issuer>) -> Result<KeyNeeded> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| unauthorized("malformed token"))?;
    if header.crit.is_some() {
        return Err(unauthorized("token has critical extensions"));
    }
    match (header.alg, issuer) {
        (Algorithm::HS256, _) => Ok(KeyNeeded::Secret),
        (Algorithm::RS256 | Algorithm::ES256, Some(_)) => match header.kid {
            Some(kid) => Ok(KeyNeeded::Issuer { kid }),
            None => Err(unauthorized("token has no kid")),
        },
        (_, Some(_)) => Err(unauthorized(
            "token algorithm must be HS256, RS256 or ES256",
        )),
        (_, None) => Err(unauthorized("token algorithm must be HS256")),
    }
}

/// Verifies `token` and returns who it speaks for and until when.
/// `issuer_key` is the key [`key_needed`] named, when it named one. The
/// signature is checked with exactly the algorithm of that key's kind (a
/// public key never serves as an HMAC secret); then `exp` against `now`
/// (no leeway), `nbf` when present (with [`NBF_LEEWAY_SECS`]), `iss` and
/// `aud` for an issuer's token, and `sub`.
pub fn verify_identity(
    token: &str,
    keys: Option<&Keys>,
    issuer: Option<&Issuer>,
    issuer_key: Option<&Jwk>,
    now: DateTime<Utc>,
) -> Result<Identity> {
    let claims: Claims = match key_needed(token, issuer)? {
        KeyNeeded::Secret => {
            let validation = validation(Algorithm::HS256);
            let keys = keys.ok_or_else(|| unauthorized("HS256 tokens are not accepted here"))?;
            keys.all()
                .find_map(|secret| {
                    jsonwebtoken::decode::<Claims>(
                        token,
                        &DecodingKey::from_secret(secret.expose()),
                        &validation,
                    )
                    .ok()
                })
                .ok_or_else(|| unauthorized("bad token signature"))?
                .claims
        }
        KeyNeeded::Issuer { .. } => {
            let (issuer, jwk) = issuer
                .zip(issuer_key)
                .ok_or_else(|| unauthorized("unknown token key"))?;
            let key = DecodingKey::from_jwk(jwk).map_err(|_| unauthorized("unusable token key"))?;
            // The key's own kind decides the algorithm, whatever the header says.
            let alg = match jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                _ => return Err(unauthorized("unusable token key")),
            };
            let mut validation = validation(alg);
            validation.set_issuer(&[issuer.url.as_str()]);
            validation.required_spec_claims.insert("iss".into());
            let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
                .map_err(|e| match e.kind() {
                    ErrorKind::InvalidIssuer | ErrorKind::MissingRequiredClaim(_) => {
                        unauthorized("token is from another issuer")
                    }
                    _ => unauthorized("bad token signature"),
                })?
                .claims;
            let audience = issuer.audience.as_str();
            let for_us = match &claims.aud {
                Some(serde_json::Value::String(a)) => a == audience,
                Some(serde_json::Value::Array(all)) => all.iter().any(|a| a == audience),
                Some(_) => false,
                None => {
                    claims.token_use.as_deref() == Some("access")
                        && claims.client_id.as_deref() == Some(audience)
                }
            };
            if !for_us {
                return Err(unauthorized("token is for another audience"));
            }
            claims
        }
    };
    let exp = claims
        .exp
        .as_ref()
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| unauthorized("token has no exp"))?;
    if !exp.is_finite() || exp <= now.timestamp() as f64 {
        return Err(unauthorized("token expired"));
    }
    if let Some(nbf) = &claims.nbf {
        let nbf = nbf
            .as_f64()
            .filter(|n| n.is_finite())
            .ok_or_else(|| unauthorized("token nbf is not a time"))?;
        if nbf > (now.timestamp() + NBF_LEEWAY_SECS) as f64 {
            return Err(unauthorized("token is not valid yet"));
        }
    }
    // Far-future values saturate rather than wrap.
    let expires_at = DateTime::<Utc>::from_timestamp(exp.min(i64::MAX as f64) as i64, 0)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let sub = claims.sub.ok_or_else(|| unauthorized("token has no sub"))?;
    let user = UserId::parse(sub).map_err(|_| {
        unauthorized(
            "token sub must be 1 to 128 characters, none of them control or format characters",
        )
    })?;
    Ok(Identity { user, expires_at })
}

/// Exactly `alg`; `exp` is checked by us against the use cases' clock, so
/// the library checks no time and requires no claim.
fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.leeway = 0;
    v.required_spec_claims.clear();
    v
}

/// Verifies an HS256 `token` (no issuer) and returns its user.
pub fn verify(token: &str, keys: &Keys, now: DateTime<Utc>) -> Result<UserId> {
    verify_identity(token, Some(keys), None, None, now).map(|i| i.user)
}

/// A token's `exp`, read without verifying it: only for a gateway that
/// has just had the same token verified by `$connect`.
pub fn unverified_expiry(token: &str) -> Option<DateTime<Utc>> {
    let claims: Claims = jsonwebtoken::dangerous::insecure_decode_claims(token).ok()?;
    let exp = claims.exp?.as_f64()?;
    DateTime::<Utc>::from_timestamp(exp.clamp(0.0, i64::MAX as f64) as i64, 0)
}

/// Signs an HS256 token for `user`, valid until `exp`.
pub fn issue(user: &UserId, now: DateTime<Utc>, exp: DateTime<Utc>, secret: &Secret) -> String {
    let claims =
        serde_json::json!({"sub": user.as_str(), "exp": exp.timestamp(), "iat": now.timestamp()});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.expose()),
    )
    .expect("HS256 signs any claims")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    use base64::Engine;
    use chrono::Duration;
    use hmac::{Hmac, KeyInit, Mac};

    type HmacSha256 = Hmac<sha2::Sha256>;

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
        let t = issue(&alice, now, now + Duration::hours(1), &secret());
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
            assert!(matches!(err, crate::Error::Unauthenticated(_)), "{t}");
        }
    }

    #[test]
    fn a_token_carries_its_expiry() {
        let alice = UserId::parse("alice").unwrap();
        let now = Utc::now();
        let exp =
            DateTime::<Utc>::from_timestamp((now + Duration::hours(1)).timestamp(), 0).unwrap();
        let t = issue(&alice, now, exp, &secret());
        let id = verify_identity(&t, Some(&keys()), None, None, now).unwrap();
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
        let by_old = issue(&alice, now, now + Duration::hours(1), &old);
        let by_new = issue(&alice, now, now + Duration::hours(1), rotating.current());
        assert_eq!(verify(&by_old, &rotating, now).unwrap(), alice);
        assert_eq!(verify(&by_new, &rotating, now).unwrap(), alice);
        // Once the old key is dropped, its tokens stop verifying.
        let rotated: Keys = new.into();
        assert!(matches!(
            verify(&by_old, &rotated, now).unwrap_err(),
            crate::Error::Unauthenticated(_)
        ));
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
