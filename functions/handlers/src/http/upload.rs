//! `POST /uploads` (the `upload` Lambda).

use boomerang_core::{Boomerang, UploadOutcome};
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
