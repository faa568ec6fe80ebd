//! BFT consensus inside the node: a tokio task that drives the sans-IO
//! Tendermint engine (`chrysalis-consensus`) over the QUIC endpoint's
//! `Channel::CONSENSUS`.
//!
//! - Frames from peers arrive from the event loop (which owns the
//!   endpoint's receive side) through a bounded queue; a frame that does
//!   not decode, or comes from a node outside the validator set, is dropped
//!   and counted, never a panic.
//! - Every [`chrysalis_consensus::Output::WalAppend`] is written durably ([`ConsensusDisk`])
//!   before any later output is carried out: a vote reaches the wire only
//!   after the WAL holds it, so a restarted validator never signs a
//!   conflicting vote.
//! - Timeouts go into a heap; the task sleeps until the earliest.
//! - Decisions are stored (block + commit certificate) before they are
//!   applied to the [`chrysalis_consensus::ReplicatedLog`], so a restarted node serves its log
//!   and answers peers that are behind with `Message::Commit`.
//! - Messages go out through one queue per validator, each drained by its
//!   own task (a slow or dead peer costs dropped frames, not a stall).
//!
//! The node's consensus key is its Ed25519 node key (same seed); the
//! engine's signatures are domain-separated from every other use.
//!
//! With `consensus_engine = "raft"` the validators run the crash-tolerant
//! engine instead (`raft.rs`, on `chrysalis-raft`): the same commands, the
//! same [`ConsensusHandle`] and HTTP routes, the same [`TxChain`].

mod disk;
mod driver;
mod evidence;
mod handle;
mod raft;
mod state;

pub use chrysalis_consensus::TxChain;
pub use disk::{ConsensusDisk, DiskError, MemDisk, NodeDisk};
pub(crate) use driver::{ConsensusError, start};
pub use handle::{
    BlockView, ConsensusHandle, ConsensusStatus, EvidenceView, MAX_LOG_PAGE, ProposeError,
    SignedView,
};
pub(crate) use raft::start as start_raft;
pub use raft::{MAX_BATCH_BYTES, MAX_TX_BYTES};
pub use state::ConsensusMetrics;
