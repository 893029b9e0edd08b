//! API Gateway events in, Boomerang use cases, API Gateway responses out.
//!
//! The one place that knows the event shapes. The Lambdas' `main.rs` files
//! and the local stack's gateway both hand their events to these functions,
//! so what passes locally is what runs on AWS.

pub mod http;
pub mod multipart;
mod response;
pub mod submit;
pub mod ws;

pub use response::{error_response, json_response, HttpStatus};
