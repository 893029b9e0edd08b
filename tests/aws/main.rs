//! The AWS side over real wire protocols: the adapters against moto, the
//! pusher against the local gateway's Management API and a throttling peer.

mod adapters;
mod pusher;
