//! The `submit` Lambda's events: S3's object-created notification (the
//! bytes of a presigned PUT are stored: hand the file to the third party),
//! and the messages of its on-failure destination, an SQS queue (every
//! retry failed: the job fails instead of waiting for the sweep). The
//! local stack builds the same S3 event after its own PUT route stores a
//! file, and hands it here.
//!
//! S3 tells of a stored object in two shapes, both taken: its own
//! notification (`{"Records": [{"eventSource": "aws:s3", ...}]}`, what the
//! local stack sends) and EventBridge's `Object Created` (what
//! template.yaml routes here: a bucket notification naming the function
//! would make the bucket and the function depend on each other).

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use boomerang_core::{Boomerang, Error, Result, Stored, UploadOutcome};
use serde::Deserialize;
use serde_json::Value;
use tracing::{info, warn};

/// What the invocation answers: a summary for S3 (nobody reads it), or
/// the batch items to retry for SQS.
pub async fn handle(app: &Boomerang, event: Value) -> Result<Value> {
    if event
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        == Some("aws:sqs")
    {
        let event: SqsEvent = serde_json::from_value(event)
            .map_err(|e| Error::BadRequest(format!("not an SQS event: {e}")))?;
        let response = given_up(app, event).await;
        return serde_json::to_value(response).map_err(Error::internal);
    }
    // Anything else with no stored object (a test invocation, S3's
    // `TestEvent` when a notification is set up) has nothing to do.
    let objects = created_objects(&event)?;
    if objects.is_empty() {
        info!("event names no stored object; nothing to do");
    }
    stored(app, &objects).await
}

/// The objects an S3 event says were created: `(key, size)` each.
pub fn created_objects(event: &Value) -> Result<Vec<(String, u64)>> {
    if event.get("source").and_then(Value::as_str) == Some("aws.s3") {
        if event.get("detail-type").and_then(Value::as_str) != Some("Object Created") {
            return Ok(Vec::new());
        }
        let key = event.pointer("/detail/object/key").and_then(Value::as_str);
        let size = event.pointer("/detail/object/size").and_then(Value::as_u64);
        return match (key, size) {
            // EventBridge's keys are as stored, not URL-encoded.
            (Some(key), Some(size)) => Ok(vec![(key.to_owned(), size)]),
            _ => Err(Error::BadRequest(
                "an Object Created event without a key or size".into(),
            )),
        };
    }
    if event
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        != Some("aws:s3")
    {
        return Ok(Vec::new());
    }
    let event: S3Event = serde_json::from_value(event.clone())
        .map_err(|e| Error::BadRequest(format!("not an S3 event: {e}")))?;
    Ok(event.records.iter().filter_map(created_object).collect())
}

/// The notification S3 sends when `key` (`size` bytes) is stored in
/// `bucket`: the shape the `submit` Lambda gets, for the local stack.
pub fn object_created(bucket: &str, key: &str, size: u64, source_ip: &str) -> Value {
    let now = chrono::Utc::now();
    serde_json::json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "local",
        "eventTime": boomerang_core::timestamp(now),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "local"},
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "submit",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "local"},
                "arn": format!("arn:aws:s3:::{bucket}"),
            },
            "object": {
                "key": encode_key(key),
                "size": size,
                "sequencer": format!("{:016X}", now.timestamp_micros()),
            },
        },
    }]})
}

/// As S3 writes keys into its notifications: URL-encoded, `+` for a space.
fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Each stored object: handed over once. An error fails the invocation,
/// so Lambda retries it (objects already handed over are then ignored).
pub async fn stored(app: &Boomerang, objects: &[(String, u64)]) -> Result<Value> {
    let mut handed_over = 0;
    for (key, size) in objects {
        match app.file_stored(key, *size).await? {
            Stored::HandedOver(outcome) => {
                match *outcome {
                    UploadOutcome::Accepted(job) => {
                        info!(job_id = %job.id, "stored file handed to the third party")
                    }
                    UploadOutcome::Refused(job) => {
                        warn!(job_id = %job.id, "stored file refused by the third party; job failed")
                    }
                }
                handed_over += 1;
            }
            Stored::Ignored => {}
        }
    }
    Ok(serde_json::json!({"handedOver": handed_over}))
}

/// The key (URL-decoded, as S3 encodes it in events) and size of an
/// object-created record.
fn created_object(record: &S3EventRecord) -> Option<(String, u64)> {
    let created = record
        .event_name
        .as_deref()
        .is_some_and(|n| n.starts_with("ObjectCreated:"));
    if !created {
        return None;
    }
    let key = record.s3.object.key.as_deref()?;
    let size = record.s3.object.size.and_then(|s| u64::try_from(s).ok())?;
    Some((decode_key(key), size))
}

/// S3 event keys are URL-encoded, with `+` for a space.
fn decode_key(key: &str) -> String {
    let plus_decoded = key.replace('+', " ");
    let bytes = plus_decoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An asynchronous invocation's on-failure record, as Lambda sends it to
/// the destination queue: the original event and why it failed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DestinationRecord {
    #[serde(default)]
    request_context: Value,
    request_payload: Value,
    #[serde(default)]
    response_payload: Value,
}

/// Each message: the jobs of its S3 event fail, if they still wait. A
/// message that cannot be acted on is reported back, so SQS redelivers it
/// and, after its redrive limit, moves it to the dead-letter queue.
pub async fn given_up(app: &Boomerang, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        if let Err(e) = give_up(app, message.body.as_deref().unwrap_or_default()).await {
            warn!(message_id = %id, error = %e, "on-failure message not handled; SQS will redeliver it");
            response.add_failure(id);
        }
    }
    response
}

async fn give_up(app: &Boomerang, body: &str) -> Result<()> {
    let record: DestinationRecord = serde_json::from_str(body)
        .map_err(|e| Error::BadRequest(format!("not an on-failure record: {e}")))?;
    let why = why_it_failed(&record);
    for (key, _) in created_objects(&record.request_payload)? {
        app.hand_over_failed(&key, &why).await?;
    }
    Ok(())
}

/// Lambda's reason (`RetriesExhausted`, `EventAgeExceeded`) and the last
/// error's type, never its message: that may quote anything.
fn why_it_failed(record: &DestinationRecord) -> String {
    let condition = record
        .request_context
        .get("condition")
        .and_then(Value::as_str)
        .unwrap_or("RetriesExhausted");
    match record
        .response_payload
        .get("errorType")
        .and_then(Value::as_str)
    {
        Some(kind) => format!("{condition} ({kind})"),
        None => condition.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_url_decoded() {
        assert_eq!(decode_key("uploads/direct/a%2Bb+c"), "uploads/direct/a+b c");
        assert_eq!(decode_key("bad%zz"), "bad%zz");
        let key = "uploads/direct/a+b c/é";
        assert_eq!(decode_key(&encode_key(key)), key);
    }

    #[test]
    fn both_shapes_of_an_object_created_event_name_the_object() {
        let local = object_created("local", "uploads/direct/j", 7, "127.0.0.1");
        assert_eq!(
            created_objects(&local).unwrap(),
            [("uploads/direct/j".to_owned(), 7)]
        );
        let bridged = serde_json::json!({
            "version": "0", "id": "e", "detail-type": "Object Created", "source": "aws.s3",
            "account": "1", "time": "2026-11-26T10:00:00Z", "region": "eu-west-1",
            "resources": ["arn:aws:s3:::b"],
            "detail": {"version": "0", "bucket": {"name": "b"},
                       "object": {"key": "uploads/direct/k", "size": 9, "etag": "x", "sequencer": "1"},
                       "request-id": "r", "requester": "1", "reason": "PutObject"}
        });
        assert_eq!(
            created_objects(&bridged).unwrap(),
            [("uploads/direct/k".to_owned(), 9)]
        );
        let deleted = serde_json::json!({"source": "aws.s3", "detail-type": "Object Deleted"});
        assert!(created_objects(&deleted).unwrap().is_empty());
        assert!(
            created_objects(&serde_json::json!({"Event": "s3:TestEvent"}))
                .unwrap()
                .is_empty()
        );
    }
}
