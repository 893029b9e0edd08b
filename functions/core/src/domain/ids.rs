//! Identifiers that validate on construction, so a bad one cannot travel.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::{Error, Result};

/// A user id, only ever taken from a verified token's `sub`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    pub const MAX_CHARS: usize = 128;

    pub fn parse(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        let chars = s.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err(Error::Invalid(format!(
                "user id must be 1 to {} characters",
                Self::MAX_CHARS
            )));
        }
        // Bidi overrides and invisible characters would make two ids look
        // alike in a log, a list, a dashboard.
        if s.chars().any(|c| c.is_control() || super::is_format(c)) {
            return Err(Error::Invalid(
                "user id must not contain control or format characters".into(),
            ));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An API Gateway connection id, as the gateway assigned it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConnectionId(String);

impl ConnectionId {
    pub fn parse(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        // API Gateway ids are short base64-ish strings; anything odd is refused
        // before it can reach a key or a URL path.
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=+/".contains(&b));
        if !ok {
            return Err(Error::Invalid("malformed connection id".into()));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A job id: a UUIDv7 we generate, so ids sort by creation time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(String);

impl JobId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    pub fn parse(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        match uuid::Uuid::try_parse(&s) {
            Ok(u) => Ok(Self(u.hyphenated().to_string())),
            Err(_) => Err(Error::Invalid("malformed job id".into())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype_impls {
    ($($t:ident),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $t {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                Self::parse(s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
    )*};
}
string_newtype_impls!(UserId, ConnectionId, JobId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_is_1_to_128_characters() {
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("a").is_ok());
        assert!(UserId::parse("é".repeat(128)).is_ok());
        assert!(UserId::parse("a".repeat(129)).is_err());
        assert!(UserId::parse("a\nb").is_err());
    }

    #[test]
    fn a_user_id_with_a_bidi_override_or_an_invisible_character_is_refused() {
        for sneaky in [
            "alice\u{202E}",
            "al\u{200B}ice",
            "\u{2066}bob",
            "\u{FEFF}carol",
        ] {
            assert!(UserId::parse(sneaky).is_err(), "{sneaky:?}");
        }
        assert!(UserId::parse("zoë 李").is_ok());
    }

    #[test]
    fn job_id_accepts_only_uuids_and_normalises_them() {
        let id = JobId::generate();
        assert_eq!(JobId::parse(id.as_str().to_uppercase()).unwrap(), id);
        assert!(JobId::parse("../../etc/passwd").is_err());
    }

    #[test]
    fn connection_id_refuses_path_characters() {
        assert!(ConnectionId::parse("L0SM9cOFvHcCIhw=").is_ok());
        assert!(ConnectionId::parse("a b").is_err());
        assert!(ConnectionId::parse("a?b").is_err());
        assert!(ConnectionId::parse("").is_err());
    }
}
