//! Boomerang's core: the domain, the ports it needs from the outside world,
//! and the use cases that both the Lambdas and the local stack run.
//!
//! Nothing here knows about AWS, SQLite, HTTP or WebSockets: adapters
//! implement [`ports`], doors turn their events into use-case calls
//! ([`usecases`]).

pub mod auth;
pub mod domain;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod ports;
pub mod usecases;
pub mod webhook;

/// In-memory adapters: the core's own tests, and the fuzz targets
/// (feature `testing`).
#[cfg(any(test, feature = "testing"))]
pub mod memory;

pub use domain::*;
pub use error::{Error, Result};
pub use limits::Limits;
pub use usecases::{
    Adapters, App, Authenticator, Connections, Idempotency, Idempotent, NewUpload, Ports, Queries,
    Settings, Stored, Sweeper, UploadOutcome, UploadTicket, UploadedFile, Uploads, WebhookOutcome,
    Webhooks, Wiring,
};
