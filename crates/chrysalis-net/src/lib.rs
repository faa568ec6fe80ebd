//! Chrysalis network shell (layer L2): QUIC between nodes, with mutual TLS
//! 1.3 pinned to the nodes' Ed25519 keys.
//!
//! - [`identity`]: a node's self-signed certificate over its Ed25519 key,
//!   and [`identity::node_id_from_cert`], the way back to a [`NodeId`].
//! - [`Admission`]: which nodes may connect (an allowlist shared and
//!   updatable at runtime, or explicitly open).
//! - [`tls`]: the pinning rustls verifiers and the ALPN `chrysalis/1`.
//! - [`frame`]: the versioned, channel-tagged, length-prefixed frame format.
//! - [`Endpoint`]: bind, send, receive, metrics, close.
//!
//! A peer is known by the key it proves in the handshake, never by its
//! address or a name: [`Incoming::from`] is that key, and a dial that pins
//! a node refuses any other key at the address.
//!
//! [`NodeId`]: chrysalis_types::NodeId

mod admission;
mod endpoint;
pub mod frame;
pub mod identity;
mod metrics;
mod stream;
pub mod tls;

pub use admission::Admission;
pub use endpoint::{Endpoint, Incoming, NetConfig, NetError};
pub use frame::Channel;
pub use metrics::NetMetrics;
