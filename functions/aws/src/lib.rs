//! Adapters to the services Boomerang talks to when deployed: for now the
//! HTTP client of the third party, which the local stack shares.

mod http_processor;

pub use http_processor::{HttpProcessor, DEFAULT_TIMEOUT};
