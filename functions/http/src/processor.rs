//! `HttpProcessor`: hands a file to the third party over HTTP.
//!
//! `POST BOOMERANG_THIRD_PARTY_URL` as multipart/form-data with parts
//! `file`, `job_id` and `callback_url`, or, in url mode, as JSON with a
//! `file_url` to fetch the file from; any 2xx within the timeout is
//! acceptance. One attempt per call: the core decides on retries.

use std::time::Duration;

use async_trait::async_trait;
use boomerang_core::ports::{FileBody, Handover, Processor, Submission, SubmitError};
use reqwest::multipart::{Form, Part};

/// Told of each call to the third party: its host, a namespace, when it
/// started, its status if answered, and fields for a trace (the Lambdas
/// record an X-Ray subsegment; the local stack nothing).
pub type CallRecorder = fn(&str, &str, std::time::SystemTime, Option<u16>, serde_json::Value);

#[derive(Clone)]
pub struct HttpProcessor {
    client: reqwest::Client,
    url: reqwest::Url,
    /// Sent verbatim as `Authorization` with every hand-over, when set.
    authorization: Option<reqwest::header::HeaderValue>,
    record: Option<CallRecorder>,
}

/// `url` as it may be logged, traced or printed: scheme, host, port and
/// path; never its userinfo, query string or fragment, where credentials
/// and API keys live.
pub fn shown_url(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{}://{host}:{port}{}", url.scheme(), url.path()),
        None => format!("{}://{host}{}", url.scheme(), url.path()),
    }
}

impl HttpProcessor {
    /// Builds the client once; call at start, not per request. Each
    /// submission brings its own timeout.
    pub fn new(url: &str) -> Result<Self, String> {
        // Not the URL itself in the error: it may hold credentials.
        let url = reqwest::Url::parse(url)
            .map_err(|e| format!("the third party URL is not a URL ({e})"))?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("boomerang/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            client,
            url,
            authorization: None,
            record: None,
        })
    }

    /// Sends `value` as the `Authorization` header of every hand-over (the
    /// third party's credentials: `BOOMERANG_THIRD_PARTY_AUTH`, or the
    /// secret `ThirdPartyAuthSecretArn` names). Never logged. It takes the
    /// place of the URL's userinfo, which the client would send as Basic
    /// credentials instead.
    pub fn with_authorization(mut self, value: &str) -> Result<Self, String> {
        let mut header = reqwest::header::HeaderValue::from_str(value.trim())
            .map_err(|_| "not a valid header value".to_owned())?;
        header.set_sensitive(true);
        self.authorization = Some(header);
        let _ = self.url.set_username("");
        let _ = self.url.set_password(None);
        Ok(self)
    }

    /// The URL as it may be shown ([`shown_url`]).
    pub fn shown_url(&self) -> String {
        shown_url(&self.url)
    }

    /// Tells `record` of each call (its host, never its query string).
    pub fn recording_with(mut self, record: CallRecorder) -> Self {
        self.record = Some(record);
        self
    }

    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }
}

#[async_trait]
impl Processor for HttpProcessor {
    async fn submit(
        &self,
        s: &Submission,
        what: Handover,
        timeout: Duration,
    ) -> Result<(), SubmitError> {
        let mut request = self.client.post(self.url.clone()).timeout(timeout);
        if let Some(auth) = &self.authorization {
            request = request.header(reqwest::header::AUTHORIZATION, auth.clone());
        }
        let request = match what {
            Handover::File(body) => request.multipart(form(s, body)?),
            // Url mode: the third party fetches the file itself.
            Handover::Url(u) => request.json(&serde_json::json!({
                "job_id": s.job_id,
                "file_url": u.url,
                "file_url_expires_at": boomerang_core::timestamp(u.expires_at),
                "file_name": s.file_name,
                "content_type": s.content_type,
                "size": s.size,
                "callback_url": s.callback_url,
            })),
        };
        let started = std::time::SystemTime::now();
        let sent = request.send().await;
        // The call as a trace shows it: never its userinfo or query string.
        if let Some(record) = self.record {
            record(
                self.url.host_str().unwrap_or("third party"),
                "remote",
                started,
                sent.as_ref().ok().map(|r| r.status().as_u16()),
                serde_json::json!({"http": {"request": {"method": "POST", "url": shown_url(&self.url)}}}),
            );
        }
        let res = sent.map_err(describe)?;
        let status = res.status();
        match status.is_success() {
            true => Ok(()),
            false => Err(SubmitError::Refused {
                status: status.as_u16(),
            }),
        }
    }
}

/// The multipart hand-over: the small parts, then the file.
fn form(s: &Submission, body: FileBody) -> Result<Form, SubmitError> {
    // Streamed as it is read, with its length up front: a file is never
    // held whole in memory. A content type the multipart encoder
    // refuses was cleaned at upload already; octet-stream otherwise.
    let mime = s
        .content_type
        .parse::<mime::Mime>()
        .map(|_| s.content_type.as_str())
        .unwrap_or("application/octet-stream");
    let file = Part::stream_with_length(reqwest::Body::wrap_stream(body), s.size)
        .file_name(s.file_name.clone())
        .mime_str(mime)
        .map_err(|e| SubmitError::Transport(e.without_url().into()))?;
    // The small parts first: a receiver knows the job before the bytes.
    Ok(Form::new()
        .text("job_id", s.job_id.to_string())
        .text("callback_url", s.callback_url.clone())
        .part("file", file))
}

/// A transport error, without the URL (its query string or userinfo).
fn describe(e: reqwest::Error) -> SubmitError {
    if e.is_timeout() {
        SubmitError::TimedOut
    } else if e.is_connect() {
        SubmitError::Unreachable
    } else {
        SubmitError::Transport(e.without_url().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unparseable_url_is_refused_without_being_repeated() {
        let Err(e) = HttpProcessor::new("https://user:hunter2@[bad/") else {
            panic!("a URL that does not parse is refused");
        };
        assert!(!e.contains("hunter2") && !e.contains("user"), "{e}");
    }
}
