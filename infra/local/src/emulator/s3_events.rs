//! S3's `Object Created` events on the aws backend, along the road AWS
//! takes: the bucket sends its events to EventBridge, and a rule with the
//! template's own pattern (the `submit` function's `Stored` event) sends
//! those of direct uploads on. On AWS its target is the `submit` Lambda;
//! an endpoint such as moto cannot invoke this process, so here the target
//! is a queue, which [`deliver`] reads, running `submit` with each event as
//! EventBridge shaped it.

use std::time::Duration;

use aws_config::SdkConfig;
use boomerang_core::Uploads;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// How often an empty queue is asked again. (A long poll would hold
/// moto, which the tests run one request at a time.)
const POLL_EVERY: Duration = Duration::from_millis(100);

/// The rule's event pattern: the `submit` function's `Stored` event in
/// template.yaml, with its bucket named.
pub fn stored_pattern(template: &str, bucket: &str) -> Result<Value, String> {
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(template).map_err(|e| format!("template: {e}"))?;
    let pattern = doc["Resources"]["SubmitFunction"]["Properties"]["Events"]["Stored"]
        ["Properties"]["Pattern"]
        .clone();
    if pattern.is_null() {
        return Err("template.yaml: SubmitFunction has no Stored event pattern".into());
    }
    Ok(resolve(pattern, bucket))
}

/// YAML to JSON, with `!Ref FilesBucket` as the bucket's name.
fn resolve(v: serde_yaml_ng::Value, bucket: &str) -> Value {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Tagged(t) if t.tag == "!Ref" && t.value.as_str() == Some("FilesBucket") => {
            Value::String(bucket.to_owned())
        }
        Y::Tagged(t) => resolve(t.value, bucket),
        Y::Sequence(items) => Value::Array(items.into_iter().map(|i| resolve(i, bucket)).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), resolve(v, bucket))))
                .collect(),
        ),
        other => serde_json::to_value(other).unwrap_or(Value::Null),
    }
}

/// An SDK call's error, with all its causes, after `what` it was about.
/// (Every SDK's `DisplayErrorContext` is aws-smithy-types' one.)
fn failed<E: std::error::Error>(what: String) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {}", aws_sdk_sqs::error::DisplayErrorContext(e))
}

/// Creates the road for `bucket`: its EventBridge notifications, the
/// queue `queue`, and the rule `rule` sending direct uploads' events
/// there. Returns the queue's URL. Creating what exists changes nothing.
pub async fn create(
    sdk: &SdkConfig,
    bucket: &str,
    rule: &str,
    queue: &str,
) -> Result<String, String> {
    use aws_sdk_s3::types::{EventBridgeConfiguration, NotificationConfiguration};
    let s3 = boomerang_aws::s3_client(sdk);
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .event_bridge_configuration(EventBridgeConfiguration::builder().build())
                .build(),
        )
        .send()
        .await
        .map_err(failed(format!("bucket {bucket}'s notifications")))?;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let url = sqs
        .create_queue()
        .queue_name(queue)
        .send()
        .await
        .map_err(failed(format!("queue {queue}")))?
        .queue_url
        .ok_or(format!("queue {queue}: no URL"))?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(failed(format!("queue {queue}")))?
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .ok_or(format!("queue {queue}: no ARN"))?;
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let pattern = stored_pattern(crate::emulator::provision::TEMPLATE, bucket)?;
    events
        .put_rule()
        .name(rule)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .map_err(failed(format!("rule {rule}")))?;
    events
        .put_targets()
        .rule(rule)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("boomerang-local")
                .arn(arn)
                .build()
                .map_err(failed(format!("rule {rule}")))?,
        )
        .send()
        .await
        .map_err(failed(format!("rule {rule}")))?;
    Ok(url)
}

/// Reads `queue` until `stop`, running `submit` with each event (in
/// `work`, which a clean stop waits for). A message is deleted once
/// handled; one that failed stays, and comes back after its visibility
/// timeout, as Lambda retries an event.
pub async fn deliver(
    sdk: SdkConfig,
    queue: String,
    uploads: Uploads,
    work: TaskTracker,
    stop: CancellationToken,
) {
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    info!(queue = %queue, "handing stored files over as S3's events arrive");
    loop {
        let received = tokio::select! {
            r = sqs.receive_message().queue_url(&queue).max_number_of_messages(10).send() => r,
            _ = stop.cancelled() => return,
        };
        let messages = match received {
            Ok(r) => r.messages.unwrap_or_default(),
            Err(e) => {
                warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not read S3's events");
                Vec::new()
            }
        };
        if messages.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(POLL_EVERY) => continue,
                _ = stop.cancelled() => return,
            }
        }
        for message in messages {
            let (sqs, queue, uploads) = (sqs.clone(), queue.clone(), uploads.clone());
            work.spawn(async move {
                let event: Value = match message.body().map(serde_json::from_str) {
                    Some(Ok(event)) => event,
                    _ => {
                        warn!("an S3 event that is not JSON; dropped");
                        Value::Null
                    }
                };
                if !event.is_null() {
                    if let Err(e) = boomerang_handlers::submit::handle(&uploads, event).await {
                        warn!(error = %e, "handing a stored upload over failed; its event comes back");
                        return;
                    }
                }
                if let Some(receipt) = message.receipt_handle() {
                    if let Err(e) = sqs.delete_message().queue_url(&queue).receipt_handle(receipt).send().await {
                        warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not delete a handled S3 event");
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_is_the_templates_with_the_bucket_named() {
        let pattern = stored_pattern(crate::emulator::provision::TEMPLATE, "my-bucket").unwrap();
        assert_eq!(pattern["source"], serde_json::json!(["aws.s3"]));
        assert_eq!(
            pattern["detail-type"],
            serde_json::json!(["Object Created"])
        );
        assert_eq!(
            pattern["detail"]["bucket"]["name"],
            serde_json::json!(["my-bucket"])
        );
        assert_eq!(
            pattern["detail"]["object"]["key"],
            serde_json::json!([{"prefix": "uploads/direct/"}])
        );
    }
}
