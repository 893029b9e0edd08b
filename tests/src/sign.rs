//! Tokens and webhook signatures, made the way an independent client and
//! third party would (not with Boomerang's own code).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// An HS256 JWT with `sub` and `exp`.
pub fn jwt(sub: &str, exp: i64, key: &[u8]) -> String {
    jwt_raw(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &serde_json::json!({"sub": sub, "exp": exp}).to_string(),
        key,
    )
}

/// A JWT with any header and claims, HMAC-SHA256 signed with `key`.
pub fn jwt_raw(header: &str, claims: &str, key: &[u8]) -> String {
    let signing = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let sig = URL_SAFE_NO_PAD.encode(hmac(key, &[signing.as_bytes()]));
    format!("{signing}.{sig}")
}

/// `v1,<base64>` per Standard Webhooks, for a `whsec_...` secret.
pub fn webhook(secret: &str, id: &str, ts: i64, body: &str) -> String {
    webhook_bytes(secret, id, ts, body.as_bytes())
}

/// The same over a body that need not be text.
pub fn webhook_bytes(secret: &str, id: &str, ts: i64, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    format!(
        "v1,{}",
        STANDARD.encode(hmac(
            &key,
            &[id.as_bytes(), b".", ts.to_string().as_bytes(), b".", body]
        ))
    )
}
