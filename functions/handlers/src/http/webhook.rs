//! `POST /webhooks/third-party` (the `webhook` Lambda).

use boomerang_core::webhook::SignatureHeaders;
use boomerang_core::{WebhookOutcome, Webhooks};
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::{body_bytes, header};
use crate::response::{error_response, json_response};

pub async fn webhook(webhooks: &Webhooks, req: Request) -> Response<Body> {
    let headers = SignatureHeaders {
        id: header(&req, "webhook-id").map(str::to_owned),
        timestamp: header(&req, "webhook-timestamp").map(str::to_owned),
        signature: header(&req, "webhook-signature").map(str::to_owned),
    };
    match webhooks.receive(&headers, &body_bytes(&req)).await {
        Ok(WebhookOutcome::Applied | WebhookOutcome::Progressed) => {
            json_response(200, &json!({"status": "applied"}))
        }
        Ok(WebhookOutcome::AlreadyDone) => json_response(200, &json!({"status": "already-done"})),
        Err(e) => error_response(&e),
    }
}
