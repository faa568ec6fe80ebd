//! Crash-fault-tolerant consensus for Chrysalis nodes: a replicated log on
//! [openraft](https://docs.rs/openraft/0.9.25) (pinned `=0.9.25`), for
//! deployments that need only crash-fault tolerance. The Byzantine engine
//! is `chrysalis-consensus` (Tendermint); which one a cluster runs is the
//! node's `consensus_engine` setting.
//!
//! - [`types`]: the openraft type configuration (node ids are validator
//!   indices, the node record is the hex node id and QUIC address,
//!   application data is a batch of transactions with its write id) and
//!   the stored records.
//! - [`log_store`]: the raft log, vote and committed id in the node's redb
//!   database; everything raft must see durable is fsynced first.
//! - [`session`]: write ids and the session table that makes a batch
//!   committed twice (a writer's retry) take effect once.
//! - [`state_machine`]: any [`chrysalis_consensus::StateMachine`], applied
//!   block by block in log order; its snapshots are openraft's.
//! - [`network`]: request/response frames over the node's QUIC endpoint.
//! - [`engine`]: one node's engine ([`RaftEngine`]): start, write (from
//!   any node), blocks, status.
//!
//! Records and frames are JSON: openraft's messages are serde types, and
//! a configuration log is small enough that JSON's cost does not matter
//! more than one encoding for all of it.

pub mod engine;
pub mod log_store;
pub mod network;
pub mod session;
pub mod state_machine;
pub mod types;

pub use engine::{
    EngineConfig, EngineStatus, RaftEngine, Role, StartError, Validator, WriteError, Written,
};
pub use session::{Outcome, SessionTable, WriteId};
pub use types::{Batch, Block, Member, RaftNodeId, TypeConfig};
