//! Boomerang's outbound HTTP, plain and shared by every door: the third
//! party's client, an identity provider's signing keys, and a signed
//! webhook delivery as a third party sends one.

pub mod jwks;
mod processor;
mod signed;

pub use jwks::JwksCache;
pub use processor::{shown_url, CallRecorder, HttpProcessor};
pub use signed::post_signed;
