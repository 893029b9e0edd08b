//! The `submit` Lambda's events: EventBridge's `Object Created` for a
//! stored file (the bytes of a presigned PUT are there: hand the file to
//! the third party), and the messages of its on-failure destination, an
//! SQS queue (every retry failed: the job fails instead of waiting for the
//! sweep). The local stack builds the same `Object Created` event after
//! its own PUT route stores a file (or, on the aws backend, reads it from
//! the queue EventBridge fills), and hands it here.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use boomerang_core::{Error, Result, Stored, UploadOutcome, Uploads};
use serde::Deserialize;
use serde_json::Value;
use tracing::{info, warn};

/// What the invocation answers: a summary for S3 (nobody reads it), or
/// the batch items to retry for SQS.
pub async fn handle(uploads: &Uploads, event: Value) -> Result<Value> {
    if event
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        == Some("aws:sqs")
    {
        let event: SqsEvent = serde_json::from_value(event)
            .map_err(|e| Error::Invalid(format!("not an SQS event: {e}")))?;
        let response = given_up(uploads, event).await;
        return serde_json::to_value(response).map_err(Error::internal);
    }
    // Anything else with no stored object (a test invocation, S3's
    // `TestEvent` when a notification is set up) has nothing to do.
    let objects = created_objects(&event)?;
    if objects.is_empty() {
        info!("event names no stored object; nothing to do");
    }
    stored(uploads, &objects).await
}

/// The object an EventBridge `Object Created` event names: `(key, size)`
/// (its key as stored, not URL-encoded). Any other event (a test
/// invocation, another detail type) names none.
pub fn created_objects(event: &Value) -> Result<Vec<(String, u64)>> {
    if event.get("source").and_then(Value::as_str) != Some("aws.s3")
        || event.get("detail-type").and_then(Value::as_str) != Some("Object Created")
    {
        return Ok(Vec::new());
    }
    let key = event.pointer("/detail/object/key").and_then(Value::as_str);
    let size = event.pointer("/detail/object/size").and_then(Value::as_u64);
    match (key, size) {
        (Some(key), Some(size)) => Ok(vec![(key.to_owned(), size)]),
        _ => Err(Error::Invalid(
            "an Object Created event without a key or size".into(),
        )),
    }
}

/// The event EventBridge delivers when `key` (`size` bytes) is stored in
/// `bucket`: what the `submit` Lambda gets, built by the local stack.
pub fn object_created(bucket: &str, key: &str, size: u64, source_ip: &str) -> Value {
    let now = chrono::Utc::now();
    serde_json::json!({
        "version": "0",
        "id": uuid_like(now),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "000000000000",
        "time": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": "local",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": size,
                "etag": "",
                "sequencer": format!("{:016X}", now.timestamp_micros()),
            },
            "request-id": "local",
            "requester": "local",
            "source-ip-address": source_ip,
            "reason": "PutObject",
        },
    })
}

/// An event id of EventBridge's shape, from the time (unique enough for a
/// log line; nothing reads it).
fn uuid_like(now: chrono::DateTime<chrono::Utc>) -> String {
    let n = now.timestamp_nanos_opt().unwrap_or_default() as u128;
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Each stored object: handed over once. An error fails the invocation,
/// so Lambda retries it (objects already handed over are then ignored).
pub async fn stored(uploads: &Uploads, objects: &[(String, u64)]) -> Result<Value> {
    let mut handed_over = 0;
    for (key, size) in objects {
        match uploads.file_stored(key, *size).await? {
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

/// Each message: the jobs of its `Object Created` event fail, if they
/// still wait. A
/// message that cannot be acted on is reported back, so SQS redelivers it
/// and, after its redrive limit, moves it to the dead-letter queue.
pub async fn given_up(uploads: &Uploads, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        if let Err(e) = give_up(uploads, message.body.as_deref().unwrap_or_default()).await {
            warn!(message_id = %id, error = %e, "on-failure message not handled; SQS will redeliver it");
            response.add_failure(id);
        }
    }
    response
}

async fn give_up(uploads: &Uploads, body: &str) -> Result<()> {
    let record: DestinationRecord = serde_json::from_str(body)
        .map_err(|e| Error::Invalid(format!("not an on-failure record: {e}")))?;
    let why = why_it_failed(&record);
    for (key, _) in created_objects(&record.request_payload)? {
        uploads.hand_over_failed(&key, &why).await?;
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
    fn the_local_object_created_event_is_eventbridges_and_names_the_object() {
        let local = object_created("b", "uploads/direct/a+b c/é", 7, "127.0.0.1");
        assert_eq!(
            created_objects(&local).unwrap(),
            [("uploads/direct/a+b c/é".to_owned(), 7)]
        );
        let fixture = include_str!("../../../tests/fixtures/lambda/submit-object-created.json")
            .replace("{{BUCKET}}", "b")
            .replace("{{KEY}}", "uploads/direct/k")
            .replace("{{SIZE}}", "9");
        let bridged: Value = serde_json::from_str(&fixture).unwrap();
        assert_eq!(
            created_objects(&bridged).unwrap(),
            [("uploads/direct/k".to_owned(), 9)]
        );
        // The same keys, as AWS sends them.
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&local), keys(&bridged));
        assert_eq!(
            keys(&local["detail"]["object"]),
            keys(&bridged["detail"]["object"])
        );
        let deleted = serde_json::json!({"source": "aws.s3", "detail-type": "Object Deleted"});
        assert!(created_objects(&deleted).unwrap().is_empty());
        // S3's own notification shape is not what this function is sent.
        let s3 = serde_json::json!({"Records": [{"eventSource": "aws:s3"}]});
        assert!(created_objects(&s3).unwrap().is_empty());
    }
}
