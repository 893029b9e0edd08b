//! Boomerang's outbound HTTP, plain and shared by every door: the third
//! party's client, and an identity provider's signing keys.

pub mod jwks;
mod processor;

pub use jwks::JwksCache;
pub use processor::{shown_url, CallRecorder, HttpProcessor};
