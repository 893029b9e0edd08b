//! End-to-end: the real local stack on port 0, real WebSockets, real HTTP,
//! real signed webhooks.

mod bad_input;
mod catch_up;
mod deadlines;
mod direct;
mod edge;
mod flow;
mod http_errors;
mod idempotency;
mod identity;
mod limits;
mod lists;
mod metrics;
mod progress;
mod schema;
mod smoke;
mod start;
mod third_party;
mod url_mode;
mod webhook;
mod websocket;
