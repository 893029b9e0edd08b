//! `boomerang-local`: the whole Boomerang system on one machine. It has
//! two jobs, one module each:
//!
//! - [`embedded`]: the one-host Boomerang, with SQLite and the data folder
//!   as its storage: the default, what `make run` starts;
//! - [`emulator`]: the API Gateway emulator the same handlers run in as
//!   Lambdas do (and, with the aws backend, the resources the template
//!   creates), with the AWS adapters on DynamoDB and S3 (moto) behind it.
//!
//! Beside them, a [`simulator`] of the third party on its own loopback
//! port. [`Stack::start`] is what `main.rs` and the end-to-end tests call.

pub mod config;
pub mod descriptors;
pub mod embedded;
pub mod emulator;
pub mod metrics;
pub mod private;
pub mod secrets;
pub mod simulator;
mod stack;

pub use config::{Backend, Config};
pub use stack::{Stack, StartError};
