//! The core's one error type, by kind. Each kind is answered with its
//! HTTP status at the edge (`boomerang_handlers::HttpStatus`), never here.

/// What caused an internal error, kept for the logs.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Everything a use case can refuse or fail with.
///
/// The `String` carried by a client error is safe to show the client; an
/// `Internal` error's cause is for logs only and never leaves the process.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or breaks a rule of the contract.
    #[error("{0}")]
    Invalid(String),
    /// No valid token (or webhook signature).
    #[error("{0}")]
    Unauthenticated(String),
    /// No such thing, or not the caller's to know of.
    #[error("{0}")]
    NotFound(String),
    /// The thing is not in a state that allows the request.
    #[error("{0}")]
    Conflict(String),
    /// Over a size limit.
    #[error("{0}")]
    TooLarge(String),
    /// A content type the request may not have.
    #[error("{0}")]
    Unsupported(String),
    /// Well-formed, but not something the contract takes (a webhook's
    /// unknown status).
    #[error("{0}")]
    Unprocessable(String),
    /// Over a rate or a count a user may hold; when known, how long until
    /// the same request may pass (`Retry-After`).
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Option<std::time::Duration>,
    },
    /// The third party did not do its part.
    #[error("{0}")]
    Upstream(String),
    /// Something the request needs is not available for now (an identity
    /// provider's keys): the same request may succeed if tried again.
    #[error("{0}")]
    Unavailable(String),
    /// Ours: a store, a bug. Its cause (with the causes under it) is
    /// logged, never shown.
    #[error("internal error: {}", chain(.0.as_ref()))]
    Internal(Cause),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `cause: its source: ...`, the whole chain on one line (an SDK error's
/// own text is only its kind; what went wrong is in its sources).
fn chain(cause: &(dyn std::error::Error + 'static)) -> String {
    let mut text = cause.to_string();
    let mut next = cause.source();
    while let Some(e) = next {
        let part = e.to_string();
        if !text.ends_with(&part) {
            text = format!("{text}: {part}");
        }
        next = e.source();
    }
    text
}

impl Error {
    /// The text a client may see: internal details stay in the logs.
    pub fn public_message(&self) -> String {
        match self {
            Error::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        }
    }

    /// An internal error caused by `cause` (an error, or a description).
    pub fn internal(cause: impl Into<Cause>) -> Self {
        Error::Internal(cause.into())
    }
}
