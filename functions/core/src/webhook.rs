//! Standard Webhooks signatures: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{ts}.{body}">`,
//! keyed by a `whsec_`-prefixed base64 secret.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::time::Duration;

use crate::auth::{Keys, Secret};
use crate::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "whsec_";

/// Webhook keys shorter than this are refused (the Standard Webhooks
/// specification's own example key is 24 bytes; generated keys are 32).
pub const MIN_KEY_BYTES: usize = 24;

/// Decodes a `whsec_...` secret into its key bytes; an empty or short key
/// is refused.
pub fn parse_secret(s: &str) -> Result<Secret, String> {
    let b64 = s.strip_prefix(PREFIX).unwrap_or(s);
    match B64.decode(b64.trim()) {
        Ok(k) if k.len() >= MIN_KEY_BYTES => Ok(Secret::new(k)),
        Ok(k) => Err(format!(
            "webhook secret must hold at least {MIN_KEY_BYTES} bytes of key (it has {})",
            k.len()
        )),
        Err(_) => Err("webhook secret must be whsec_ followed by base64".to_owned()),
    }
}

/// A Unix timestamp exactly as the specification writes it: ASCII digits,
/// no sign, no leading zero, no spaces, at most 19 digits (fits an i64).
fn parse_timestamp(s: &str) -> Option<i64> {
    let canonical = !s.is_empty()
        && s.len() <= 19
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

/// Encodes key bytes as a `whsec_...` secret.
pub fn format_secret(key: &[u8]) -> String {
    format!("{PREFIX}{}", B64.encode(key))
}

/// The three signature headers, as received (any may be missing).
#[derive(Debug, Default, Clone)]
pub struct SignatureHeaders {
    pub id: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
}

/// `v1,<base64>` for this message.
pub fn sign(key: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key.expose()).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// A delivery whose signature holds: its `webhook-id` and
/// `webhook-timestamp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub id: String,
    /// Unix seconds.
    pub timestamp: i64,
}

/// Verifies a delivery before anything reads its body. Any failure is a
/// 401.
pub fn verify(
    keys: &Keys,
    headers: &SignatureHeaders,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<Verified> {
    let unauthorized = |why: &str| Error::Unauthenticated(why.to_owned());
    let id = headers
        .id
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| unauthorized("missing webhook-id"))?;
    let ts = headers
        .timestamp
        .as_deref()
        .ok_or_else(|| unauthorized("missing webhook-timestamp"))?;
    let sigs = headers
        .signature
        .as_deref()
        .ok_or_else(|| unauthorized("missing webhook-signature"))?;
    let ts = parse_timestamp(ts).ok_or_else(|| unauthorized("malformed webhook-timestamp"))?;
    // i128: no timestamp from outside can overflow the difference.
    let skew = (i128::from(now.timestamp()) - i128::from(ts)).unsigned_abs();
    if skew > u128::from(tolerance.as_secs()) {
        return Err(unauthorized("webhook-timestamp too far from now"));
    }
    // The current key or, during a rotation, the previous one.
    for key in keys.all() {
        let mut mac = HmacSha256::new_from_slice(key.expose()).expect("HMAC takes any key length");
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body);
        let expected = mac.finalize().into_bytes();
        for candidate in sigs.split(' ') {
            let Some(b64) = candidate.strip_prefix("v1,") else {
                continue;
            };
            let Ok(sig) = B64.decode(b64) else { continue };
            // Constant-time comparison of the whole tag.
            if sig.len() == expected.len()
                && bool::from(subtle::ConstantTimeEq::ct_eq(
                    sig.as_slice(),
                    expected.as_slice(),
                ))
            {
                return Ok(Verified {
                    id: id.to_owned(),
                    timestamp: ts,
                });
            }
        }
    }
    Err(unauthorized("bad webhook signature"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example from the Standard Webhooks specification.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1614265330;
    const SPEC_BODY: &str = r#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn at(ts: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(ts, 0).unwrap()
    }

    fn headers(sig: &str, ts: i64) -> SignatureHeaders {
        SignatureHeaders {
            id: Some(SPEC_ID.into()),
            timestamp: Some(ts.to_string()),
            signature: Some(sig.into()),
        }
    }

    const FIVE_MIN: Duration = Duration::from_secs(300);

    #[test]
    fn the_specification_example_signs_and_verifies() {
        let key: Keys = parse_secret(SPEC_SECRET).unwrap().into();
        assert_eq!(
            sign(key.current(), SPEC_ID, SPEC_TS, SPEC_BODY.as_bytes()),
            SPEC_SIG
        );
        let id = verify(
            &key,
            &headers(SPEC_SIG, SPEC_TS),
            SPEC_BODY.as_bytes(),
            at(SPEC_TS),
            FIVE_MIN,
        )
        .unwrap();
        assert_eq!(id.id, SPEC_ID);
        assert_eq!(id.timestamp, SPEC_TS);
    }

    #[test]
    fn one_good_signature_among_several_is_enough() {
        let key: Keys = parse_secret(SPEC_SECRET).unwrap().into();
        let sigs = format!("v1,Zm9v v2,abc {SPEC_SIG}");
        assert!(verify(
            &key,
            &headers(&sigs, SPEC_TS),
            SPEC_BODY.as_bytes(),
            at(SPEC_TS),
            FIVE_MIN
        )
        .is_ok());
    }

    #[test]
    fn tampered_stale_future_and_unsigned_deliveries_are_refused() {
        let key: Keys = parse_secret(SPEC_SECRET).unwrap().into();
        let body = SPEC_BODY.as_bytes();
        let refused = [
            verify(
                &key,
                &headers(SPEC_SIG, SPEC_TS),
                b"{\"test\": 1}",
                at(SPEC_TS),
                FIVE_MIN,
            ),
            verify(
                &key,
                &headers(SPEC_SIG, SPEC_TS),
                body,
                at(SPEC_TS + 301),
                FIVE_MIN,
            ),
            verify(
                &key,
                &headers(SPEC_SIG, SPEC_TS),
                body,
                at(SPEC_TS - 301),
                FIVE_MIN,
            ),
            verify(&key, &headers("v1,", SPEC_TS), body, at(SPEC_TS), FIVE_MIN),
            verify(
                &key,
                &SignatureHeaders::default(),
                body,
                at(SPEC_TS),
                FIVE_MIN,
            ),
            verify(
                &parse_secret(&format_secret(&[7u8; 32])).unwrap().into(),
                &headers(SPEC_SIG, SPEC_TS),
                body,
                at(SPEC_TS),
                FIVE_MIN,
            ),
        ];
        for r in refused {
            assert!(matches!(r.unwrap_err(), crate::Error::Unauthenticated(_)));
        }
    }

    #[test]
    fn a_timestamp_is_digits_only_and_never_overflows() {
        let key: Keys = parse_secret(SPEC_SECRET).unwrap().into();
        let body = SPEC_BODY.as_bytes();
        for ts in [
            "-9223372036854775808",
            "9223372036854775807",
            "99999999999999999999",
            "+1614265330",
            "01614265330",
            " 1614265330",
            "1614265330 ",
            "1614265330.0",
            "",
        ] {
            let h = SignatureHeaders {
                id: Some(SPEC_ID.into()),
                timestamp: Some(ts.into()),
                signature: Some(SPEC_SIG.into()),
            };
            let err = verify(&key, &h, body, at(SPEC_TS), FIVE_MIN).unwrap_err();
            assert!(matches!(err, crate::Error::Unauthenticated(_)), "{ts:?}");
        }
        // The far past, against a clock at the far future: no overflow.
        let h = headers(SPEC_SIG, 0);
        let far = DateTime::<Utc>::MAX_UTC;
        assert!(matches!(
            verify(&key, &h, body, far, FIVE_MIN).unwrap_err(),
            crate::Error::Unauthenticated(_)
        ));
    }

    #[test]
    fn during_a_rotation_a_delivery_signed_with_the_previous_key_verifies() {
        let old = parse_secret(SPEC_SECRET).unwrap();
        let new = parse_secret(&format_secret(&[9u8; 32])).unwrap();
        let rotating = Keys::new(new.clone(), Some(old));
        let ok = |keys: &Keys| {
            verify(
                keys,
                &headers(SPEC_SIG, SPEC_TS),
                SPEC_BODY.as_bytes(),
                at(SPEC_TS),
                FIVE_MIN,
            )
        };
        assert_eq!(ok(&rotating).unwrap().id, SPEC_ID);
        assert!(matches!(
            ok(&new.into()).unwrap_err(),
            crate::Error::Unauthenticated(_)
        ));
    }

    #[test]
    fn empty_and_short_keys_are_refused() {
        for bad in [
            "whsec_",
            "whsec_b3RoZXI=",
            &format_secret(&[1u8; MIN_KEY_BYTES - 1]),
            "whsec_!!",
        ] {
            assert!(parse_secret(bad).is_err(), "{bad}");
        }
        assert!(parse_secret(&format_secret(&[1u8; MIN_KEY_BYTES])).is_ok());
    }
}
