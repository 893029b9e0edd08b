//! End-to-end: the real local stack on port 0, real WebSockets, real HTTP,
//! real signed webhooks.

mod audit2;
mod bad_input;
mod catch_up;
mod deadlines;
mod direct;
mod flow;
mod hardening;
mod http_errors;
mod idempotency;
mod identity;
mod lists;
mod metrics;
mod schema;
mod smoke;
mod third_party;
mod webhook;
mod websocket;
