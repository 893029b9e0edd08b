//! The query strings of `GET /jobs` and `GET /events`: page sizes, the
//! list's opaque cursor, `since`. Parsed here, at the edge; the use cases
//! take numbers and cursors.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use boomerang_core::ports::ListCursor;
use boomerang_core::{Error, JobId, Result};

/// An optional page size: absent means `default`, else 1..=`max`.
pub fn page_size(raw: Option<&str>, default: usize, max: usize) -> Result<usize> {
    match raw {
        None => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(Error::Invalid(format!(
                "limit must be an integer from 1 to {max}"
            ))),
        },
    }
}

/// `since`: any non-negative integer (absent: 0). One past every seq
/// there will ever be asks for nothing, rather than being an error.
pub fn since(raw: Option<&str>) -> Result<u64> {
    match raw {
        None => Ok(0),
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(s.parse::<u64>().unwrap_or(u64::MAX))
        }
        Some(_) => Err(Error::Invalid(
            "since must be a non-negative integer".into(),
        )),
    }
}

/// `<created_at millis>.<job id>`, base64url: opaque to clients.
pub fn encode_cursor(c: &ListCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", c.created_at.timestamp_millis(), c.id))
}

pub fn decode_cursor(raw: &str) -> Result<ListCursor> {
    let bad = || Error::Invalid("cursor is not one this API gave out".into());
    let text = URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let (millis, id) = text.split_once('.').ok_or_else(bad)?;
    let millis: i64 = millis.parse().map_err(|_| bad())?;
    Ok(ListCursor {
        created_at: chrono::DateTime::from_timestamp_millis(millis).ok_or_else(bad)?,
        id: JobId::parse(id).map_err(|_| bad())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpStatus;

    #[test]
    fn page_sizes_default_and_stay_in_range() {
        assert_eq!(page_size(None, 50, 200).unwrap(), 50);
        assert_eq!(page_size(Some("200"), 50, 200).unwrap(), 200);
        for bad in ["0", "201", "-1", "abc", "", "1.5"] {
            assert_eq!(
                page_size(Some(bad), 50, 200).unwrap_err().status_code(),
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn since_is_any_non_negative_integer() {
        assert_eq!(since(None).unwrap(), 0);
        assert_eq!(since(Some("7")).unwrap(), 7);
        assert_eq!(since(Some("99999999999999999999999")).unwrap(), u64::MAX);
        for bad in ["-1", "", "1.0", "x"] {
            assert!(since(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cursor_reads_back_as_given_and_a_made_up_one_is_refused() {
        let c = ListCursor {
            created_at: chrono::DateTime::from_timestamp_millis(1_764_150_000_123).unwrap(),
            id: JobId::generate(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&c)).unwrap(), c);
        for bad in ["", "!!", "bm9kb3Q", "MTIzLm5vdC1hLWlk"] {
            assert_eq!(decode_cursor(bad).unwrap_err().status_code(), 400, "{bad}");
        }
    }
}
