//! Reading the `file` part out of a `multipart/form-data` body.

use boomerang_core::{Error, Result, UploadedFile};
use bytes::Bytes;

/// Multipart framing allowed on top of the file itself.
const FRAMING_SLACK: usize = 64 * 1024;

/// The `file` part of `body`. 400 if the body is not multipart or has no
/// `file` part; 413 if the file (or the whole body) is over `max_file`.
pub async fn file_part(
    content_type: Option<&str>,
    body: Bytes,
    max_file: usize,
) -> Result<UploadedFile> {
    let too_large =
        || Error::TooLarge(format!("file is larger than the limit of {max_file} bytes"));
    let ct = content_type.ok_or_else(|| Error::Invalid("expected multipart/form-data".into()))?;
    let boundary = multer::parse_boundary(ct)
        .map_err(|_| Error::Invalid("expected multipart/form-data with a boundary".into()))?;
    if body.len() > max_file.saturating_add(FRAMING_SLACK) {
        return Err(too_large());
    }
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let bad = |e: multer::Error| Error::Invalid(format!("malformed multipart body: {e}"));
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.name() != Some("file") {
            continue;
        }
        let file_name = field.file_name().unwrap_or("upload").to_owned();
        let content_type = field
            .content_type()
            .map(|m| m.to_string())
            .unwrap_or_else(|| "application/octet-stream".into());
        let bytes = field.bytes().await.map_err(bad)?;
        if bytes.len() > max_file {
            return Err(too_large());
        }
        return Ok(UploadedFile {
            file_name,
            content_type,
            bytes,
        });
    }
    Err(Error::Invalid("no \"file\" part in the form".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpStatus;

    fn form(parts: &[(&str, Option<&str>, &str)]) -> Bytes {
        let mut s = String::new();
        for (name, file, body) in parts {
            s += "--XyZ\r\n";
            match file {
                Some(f) => s += &format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/csv\r\n\r\n"),
                None => s += &format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
            }
            s += body;
            s += "\r\n";
        }
        s += "--XyZ--\r\n";
        Bytes::from(s)
    }

    const CT: Option<&str> = Some("multipart/form-data; boundary=XyZ");

    #[tokio::test]
    async fn the_file_part_is_found_among_others() {
        let body = form(&[("note", None, "hi"), ("file", Some("a.csv"), "1,2\n3,4")]);
        let f = file_part(CT, body, 100).await.unwrap();
        assert_eq!(
            (f.file_name.as_str(), f.content_type.as_str(), &f.bytes[..]),
            ("a.csv", "text/csv", &b"1,2\n3,4"[..])
        );
    }

    #[tokio::test]
    async fn missing_parts_wrong_types_and_oversized_files_are_refused() {
        let no_file = file_part(CT, form(&[("note", None, "hi")]), 100)
            .await
            .unwrap_err();
        assert_eq!(no_file.status_code(), 400);
        let not_multipart = file_part(Some("application/json"), Bytes::from("{}"), 100)
            .await
            .unwrap_err();
        assert_eq!(not_multipart.status_code(), 400);
        let garbage = file_part(CT, Bytes::from("no boundary here"), 100)
            .await
            .unwrap_err();
        assert_eq!(garbage.status_code(), 400);
        let big = file_part(CT, form(&[("file", Some("a"), &"x".repeat(101))]), 100)
            .await
            .unwrap_err();
        assert_eq!(big.status_code(), 413);
    }
}
