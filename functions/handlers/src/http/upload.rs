//! `POST /uploads` (the `upload` Lambda): a multipart form carries the
//! file itself; JSON declares a large one, answered with a presigned PUT.

use boomerang_core::{Boomerang, Error, NewUpload, UploadOutcome};
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::{bearer_user, body_bytes, header};
use crate::multipart::file_part;
use crate::response::{error_response, json_response};

pub async fn upload(app: &Boomerang, req: Request) -> Response<Body> {
    let user = match bearer_user(app, &req).await {
        Ok(u) => u,
        Err(e) => return error_response(&e),
    };
    let content_type = header(&req, "content-type").unwrap_or_default();
    if is_json(content_type) {
        return begin_upload(app, &user, &body_bytes(&req)).await;
    }
    let max = app.limits().max_upload_bytes;
    let file = match file_part(header(&req, "content-type"), body_bytes(&req), max).await {
        Ok(f) => f,
        Err(e) => return error_response(&e),
    };
    match app.upload(&user, file).await {
        Ok(UploadOutcome::Accepted(job)) => json_response(202, &json!({"job": job.view()})),
        // 502, with the failed job so the client can tell which one it was.
        Ok(UploadOutcome::Refused(job)) => json_response(
            502,
            &json!({"error": job.error.clone().unwrap_or_else(|| "the third party did not accept the file".into()), "job": job.view()}),
        ),
        Err(e) => error_response(&e),
    }
}

fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// `{"fileName", "size", "contentType"}` in; 201 with the `uploading` job
/// and where to PUT its bytes.
async fn begin_upload(
    app: &Boomerang,
    user: &boomerang_core::UserId,
    body: &[u8],
) -> Response<Body> {
    let req: NewUpload = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return error_response(&Error::BadRequest(format!(
                "expected {{\"fileName\": string, \"size\": integer, \"contentType\": string}}: {e}"
            )))
        }
    };
    match app.begin_upload(user, req).await {
        Ok((job, ticket)) => {
            let headers: serde_json::Map<String, serde_json::Value> = ticket
                .put
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            json_response(
                201,
                &json!({
                    "job": job.view(),
                    "upload": {
                        "url": ticket.put.url,
                        "method": "PUT",
                        "headers": headers,
                        "expiresAt": boomerang_core::timestamp(ticket.expires_at),
                    }
                }),
            )
        }
        Err(e) => error_response(&e),
    }
}
