//! The AWS side over real wire protocols: the adapters against moto, the
//! pusher against the local gateway's Management API and a throttling peer,
//! and the calls a connect and a webhook make, counted.

mod adapters;
mod calls;
mod cost;
mod pusher;
