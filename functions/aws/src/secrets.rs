//! Keys from AWS Secrets Manager, read once at init: on AWS no key is ever
//! a plain environment variable (which `lambda:GetFunctionConfiguration`
//! would show). A secret's value is the key itself or, during a rotation,
//! `{"current": "...", "previous": "..."}`: both verify, current signs.

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::Client;
use serde_json::Value;

/// A key and, during a rotation, the one before it, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKeys {
    pub current: String,
    pub previous: Option<String>,
}

impl std::fmt::Debug for StoredKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredKeys(***)")
    }
}

/// Reads secret `arn`: a key, or a rotation's pair.
pub async fn fetch(client: &Client, arn: &str) -> Result<StoredKeys, String> {
    let value = fetch_string(client, arn).await?;
    parse(&value).map_err(|e| format!("secret {arn}: {e}"))
}

/// Reads secret `arn` as it is stored (the third party's `Authorization`
/// value). An empty one is an error: a deployer who named a secret meant
/// something to be sent.
pub async fn fetch_string(client: &Client, arn: &str) -> Result<String, String> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| format!("cannot read secret {arn}: {}", DisplayErrorContext(&e)))?;
    let value = out
        .secret_string()
        .ok_or_else(|| format!("secret {arn} holds no string"))?;
    match value.trim() {
        "" => Err(format!("secret {arn} is empty")),
        v => Ok(v.to_owned()),
    }
}

/// The key, or the JSON pair of a rotation.
pub fn parse(value: &str) -> Result<StoredKeys, String> {
    let trimmed = value.trim();
    if !trimmed.starts_with('{') {
        return Ok(StoredKeys {
            current: trimmed.to_owned(),
            previous: None,
        });
    }
    let v: Value = serde_json::from_str(trimmed)
        .map_err(|_| "a JSON value must be {\"current\": ..., \"previous\": ...}".to_owned())?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(StoredKeys {
        current: text("current").ok_or("the JSON value has no \"current\" string")?,
        previous: text("previous").filter(|p| !p.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_key_or_a_rotation_pair() {
        assert_eq!(
            parse("  k1 \n").unwrap(),
            StoredKeys {
                current: "k1".into(),
                previous: None
            }
        );
        assert_eq!(
            parse(r#"{"current":"k2","previous":"k1"}"#).unwrap(),
            StoredKeys {
                current: "k2".into(),
                previous: Some("k1".into())
            }
        );
        assert!(parse(r#"{"previous":"k1"}"#).is_err());
        assert!(parse("{not json").is_err());
        assert_eq!(format!("{:?}", parse("k1").unwrap()), "StoredKeys(***)");
    }
}
