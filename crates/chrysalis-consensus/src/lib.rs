//! Chrysalis Byzantine consensus: Tendermint (arXiv 1807.04938) as a sans-IO
//! state machine behind the [`BftEngine`] trait.
//!
//! Inputs are signed proposals and votes from peers and timeouts the driver
//! scheduled; outputs are messages to send, timeouts to schedule,
//! write-ahead-log appends and decisions ([`Output`]). The engine never reads
//! a clock, never does I/O and never draws randomness, so the deterministic
//! simulator (`chrysalis-sim`) and the node drive the same code.
//!
//! - [`ValidatorSet`]: Ed25519 keys and voting power; quorum > 2/3 of the
//!   power, proposer rotation.
//! - [`Tendermint`]: the engine, with [`Wal`] recovery ([`Tendermint::recover`])
//!   and double-sign [`Evidence`].
//! - [`Mempool`]: batches client transactions into blocks, bounded by count and bytes.
//! - [`ReplicatedLog`]: decided blocks applied in order to a [`StateMachine`],
//!   with snapshots and log compaction.
//! - Wire and WAL encodings: [`Message`] and [`WalEntry`] implement
//!   chrysalis-types' canonical `Encode`/`Decode`; bad bytes are a typed
//!   `DecodeError`.

mod codec;
mod engine;
mod log;
mod mempool;
mod message;
mod recover;
mod rules;
mod types;
mod validators;
mod votes;
mod wal;

pub use ed25519_consensus::{SigningKey, VerificationKey};
pub use engine::{
    BftEngine, Decision, EngineConfig, EngineError, Input, Output, Tendermint, Timeout, TimeoutKind,
};
pub use log::{LogError, ReplicatedLog, Snapshot, StateMachine};
pub use mempool::{Mempool, MempoolConfig, MempoolError};
pub use message::{
    CommitCert, Message, PROPOSAL_DOMAIN, Proposal, Sig, SignedProposal, SignedVote, VOTE_DOMAIN,
    VerifyError, Vote, VoteKind,
};
pub use types::{Block, BlockHash, Height, PeerId, Round, Tx, ValidatorIndex};
pub use validators::{Validator, ValidatorSet, ValidatorSetError};
pub use votes::{Evidence, ProposalEvidence};
pub use wal::{MemWal, Wal, WalEntry};

#[cfg(test)]
mod engine_tests;
