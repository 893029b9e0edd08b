//! `GET /jobs`, `GET /jobs/{id}`, `GET /events` (the `api` Lambda).

use boomerang_core::{Authenticator, Error, Queries};
use lambda_http::ext::RequestExt;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::params::{decode_cursor, encode_cursor, page_size, since};
use super::{bearer_user, query};
use crate::response::{error_response, json_response};
use boomerang_core::limits::{
    DEFAULT_EVENTS_PAGE, DEFAULT_JOBS_PAGE, MAX_EVENTS_PAGE, MAX_JOBS_PAGE,
};

pub async fn api(auth: &Authenticator, queries: &Queries, req: Request) -> Response<Body> {
    match serve(auth, queries, &req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn serve(
    auth: &Authenticator,
    queries: &Queries,
    req: &Request,
) -> Result<Response<Body>, Error> {
    let user = bearer_user(auth, req).await?;
    if req.method() != http::Method::GET {
        return Err(Error::NotFound("no such route".into()));
    }
    // Path parameters when API Gateway matched `/jobs/{id}`; the path's
    // last segments otherwise (a stage prefix may come before them).
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let segments: Vec<&str> = path.rsplit('/').take(2).collect();
    let job_id = req
        .path_parameters_ref()
        .and_then(|p| p.first("id"))
        .map(str::to_owned);
    let job_id = job_id.or_else(|| match segments.as_slice() {
        [id, "jobs"] => Some((*id).to_owned()),
        _ => None,
    });
    match (job_id, segments.as_slice()) {
        (Some(id), _) => {
            let job = queries.get_job(&user, &id).await?;
            Ok(json_response(200, &json!({"job": job.view()})))
        }
        (None, ["jobs", ..]) => {
            let limit = page_size(
                query(req, "limit").as_deref(),
                DEFAULT_JOBS_PAGE,
                MAX_JOBS_PAGE,
            )?;
            let after = query(req, "cursor")
                .as_deref()
                .map(decode_cursor)
                .transpose()?;
            let page = queries.list_jobs(&user, limit, after).await?;
            let next = page.next.as_ref().map(encode_cursor);
            Ok(json_response(
                200,
                &json!({"jobs": page.jobs, "nextCursor": next}),
            ))
        }
        (None, ["events", ..]) => {
            let since = since(query(req, "since").as_deref())?;
            let limit = page_size(
                query(req, "limit").as_deref(),
                DEFAULT_EVENTS_PAGE,
                MAX_EVENTS_PAGE,
            )?;
            let page = queries.events_since(&user, since, limit).await?;
            Ok(json_response(
                200,
                &json!({"events": page.events, "lastSeq": page.last_seq, "gap": page.gap}),
            ))
        }
        _ => Err(Error::NotFound("no such route".into())),
    }
}
