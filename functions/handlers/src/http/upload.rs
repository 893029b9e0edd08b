//! `POST /uploads` (the `upload` Lambda): a multipart form carries the
//! file itself; JSON declares a large one, answered with a presigned PUT.
//! Either may carry an `Idempotency-Key`: a retry gets the first answer.

use boomerang_core::ports::Answer;
use boomerang_core::usecases::{fingerprint, Claimed};
use boomerang_core::{
    Authenticator, Error, Idempotency, Idempotent, Job, NewUpload, UploadOutcome, Uploads, UserId,
};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use tracing::warn;

use super::{bearer_user, body_bytes, header};
use crate::multipart::file_part;
use crate::response::{error_response, json_response};

/// What a request asks for, parsed before anything is claimed or stored.
enum Asked {
    File(boomerang_core::UploadedFile),
    Declared(NewUpload),
}

/// `POST /uploads`, in either form, under an `Idempotency-Key` or not.
pub async fn upload(
    auth: &Authenticator,
    uploads: &Uploads,
    idempotency: &Idempotency,
    req: Request,
) -> Response<Body> {
    let user = match bearer_user(auth, &req).await {
        Ok(u) => u,
        Err(e) => return error_response(&e),
    };
    let asked = match parse(uploads, &req).await {
        Ok(a) => a,
        Err(e) => return error_response(&e),
    };
    let key = match idempotency_key(&req) {
        Ok(k) => k,
        Err(e) => return error_response(&e),
    };
    let Some(key) = key else {
        return run(uploads, &user, asked).await.0;
    };
    let print = match &asked {
        Asked::File(f) => fingerprint(&f.file_name, f.bytes.len() as u64, &f.content_type),
        Asked::Declared(d) => fingerprint(&d.file_name, d.size, &d.content_type),
    };
    let claimed: Claimed = match idempotency.claim(&user, key, print).await {
        Ok(Idempotent::Run(claimed)) => claimed,
        Ok(Idempotent::Replay { job, answer }) => return replay(uploads, job, answer).await,
        Err(e) => return error_response(&e),
    };
    let (response, answered) = run(uploads, &user, asked).await;
    let answered = answered.as_ref().map(|(job, answer)| (job, *answer));
    if let Err(e) = idempotency.finish(claimed, answered).await {
        // The answer stands; a retry within 15 minutes gets 409, then runs.
        warn!(error = %e, "could not record an idempotent request's answer");
    }
    response
}

/// The `Idempotency-Key` header, if sent: 1 to 255 visible ASCII
/// characters (checked by the core), one of them.
fn idempotency_key(req: &Request) -> Result<Option<&str>, Error> {
    let mut all = req.headers().get_all("idempotency-key").iter();
    let (Some(value), None) = (all.next(), all.next()) else {
        return match req.headers().contains_key("idempotency-key") {
            true => Err(Error::Invalid("send one Idempotency-Key".into())),
            false => Ok(None),
        };
    };
    value.to_str().map(Some).map_err(|_| {
        Error::Invalid("Idempotency-Key must be 1 to 255 visible ASCII characters".into())
    })
}

async fn parse(uploads: &Uploads, req: &Request) -> Result<Asked, Error> {
    let content_type = header(req, "content-type").unwrap_or_default();
    if is_json(content_type) {
        return serde_json::from_slice(&body_bytes(req))
            .map(Asked::Declared)
            .map_err(|e| {
                Error::Invalid(format!(
                    "expected {{\"fileName\": string, \"size\": integer, \"contentType\": string}}: {e}"
                ))
            });
    }
    let max = uploads.max_upload_bytes();
    file_part(header(req, "content-type"), body_bytes(req), max)
        .await
        .map(Asked::File)
}

/// Runs the request; the answer, and the job it made, if any.
async fn run(
    uploads: &Uploads,
    user: &UserId,
    asked: Asked,
) -> (Response<Body>, Option<(Job, Answer)>) {
    match asked {
        Asked::File(file) => match uploads.upload(user, file).await {
            Ok(UploadOutcome::Accepted(job)) => (accepted(&job), Some((job, Answer::Accepted))),
            Ok(UploadOutcome::Refused(job)) => (refused(&job), Some((job, Answer::Refused))),
            Err(e) => (error_response(&e), None),
        },
        Asked::Declared(declared) => match uploads.begin_upload(user, declared).await {
            Ok((job, ticket)) => (created(&job, &ticket), Some((job, Answer::Declared))),
            Err(e) => (error_response(&e), None),
        },
    }
}

/// The first answer again, with the job as it is now.
async fn replay(uploads: &Uploads, job: Job, answer: Answer) -> Response<Body> {
    let mut response = match answer {
        // The bytes may not have been sent yet: a fresh URL for them.
        Answer::Declared => match uploads.upload_ticket(&job).await {
            Ok(ticket) => created(&job, &ticket),
            Err(e) => return error_response(&e),
        },
        Answer::Refused => refused(&job),
        Answer::Accepted => accepted(&job),
    };
    response.headers_mut().insert(
        "idempotent-replayed",
        "true".parse().expect("a valid value"),
    );
    response
}

fn accepted(job: &Job) -> Response<Body> {
    json_response(202, &json!({"job": job.view()}))
}

/// 502, with the failed job so the client can tell which one it was.
fn refused(job: &Job) -> Response<Body> {
    let error = job
        .error
        .clone()
        .unwrap_or_else(|| "the third party did not accept the file".into());
    json_response(502, &json!({"error": error, "job": job.view()}))
}

/// 201 with the `uploading` job and where to PUT its bytes.
fn created(job: &Job, ticket: &boomerang_core::UploadTicket) -> Response<Body> {
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

fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}
