//! One Standard Webhooks delivery, as a third party sends it: the local
//! stack's simulated third party and the deployable stub both call back
//! through this, so that they sign exactly alike.

use boomerang_core::auth::Secret;
use boomerang_core::webhook;

/// POSTs `body` (JSON) to `url` as message `msg_id`, signed with `key` at
/// this moment (senders sign afresh per attempt): the status answered.
/// Retrying is the caller's.
pub async fn post_signed(
    client: &reqwest::Client,
    url: &str,
    key: &Secret,
    msg_id: &str,
    body: &str,
) -> reqwest::Result<reqwest::StatusCode> {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let signature = webhook::sign(key, msg_id, ts, body.as_bytes());
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body.to_owned())
        .send()
        .await?;
    Ok(answer.status())
}
