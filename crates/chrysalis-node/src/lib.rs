//! The Chrysalis node (layer L2): the tokio shell around the node's state.
//!
//! - [`config`]: [`NodeConfig`] from defaults, a TOML file, `CHRYSALIS_*`
//!   variables and flags.
//! - [`identity`]: the node's Ed25519 key and API token, sealed in its vault.
//! - [`store`]: durable agent states behind [`StateStore`].
//! - [`core`]: the gossip core (`chrysalis-gossip`: SWIM membership and
//!   signed delta anti-entropy, the one owner of agent states), the clock
//!   and the conflict queue, without I/O.
//! - [`service`]: the event loop that drives the gossip core over QUIC
//!   with pinned mutual TLS (`chrysalis-net`), and the [`NodeHandle`] that
//!   talks to it.
//! - [`consensus`]: the BFT consensus driver (Tendermint from
//!   `chrysalis-consensus`) over the QUIC endpoint, its durable WAL and
//!   decided log.
//! - [`http`]: the HTTP API (axum), its OpenAPI document and metrics.
//! - [`logging`]: structured logs to standard error.
//! - [`client`]: a small blocking HTTP client for the CLI and tests.

// The OpenAPI document's `json!` literals nest deeper than the default.
#![recursion_limit = "256"]

pub mod client;
pub mod config;
pub mod consensus;
pub mod core;
mod event_loop;
pub mod http;
pub mod identity;
pub mod logging;
pub mod metrics;
pub mod service;
pub mod store;

pub use config::{ConfigError, ConfigOverrides, NodeConfig, ValidatorAddr};
pub use identity::{IdentityError, NodeIdentity};
pub use service::{Node, NodeError, NodeHandle};
pub use store::{MemoryStore, NodeStore, StateStore, StoreError};
