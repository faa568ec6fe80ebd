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

//! # Departures from the paper
//!
//! Each only adds nil votes, round changes or re-sent messages, or changes
//! what a proposer proposes (peers still check the proof-of-lock), so safety
//! is the paper's; each fixes a liveness stall the simulator found.
//!
//! - The prevote timeout is scheduled on entering the prevote step, not after
//!   a quorum of mixed prevotes (a validator that lost those votes would
//!   otherwise wait forever); own votes of the previous round are re-sent
//!   too, so a peer left behind reaches its precommit quorum.
//! - Round skip: join the highest round that validators with more than a
//!   third of the power have reached or passed (the paper: f+1 in one round).
//! - `validValue` is raised from any round up to the current one that has the
//!   proposal and a prevote quorum, so a proposer that learns a proof-of-lock
//!   late re-proposes the locked block.
//! - A validator that signs two values in one slot counts towards both (it is
//!   also recorded as [`Evidence`]): otherwise an equivocator can hide a
//!   proof-of-lock from some validators forever.
//! - A re-proposal is sent with the prevotes of its proof-of-lock round; own
//!   messages of the current round are re-sent every `rebroadcast_ms` with a
//!   [`Message::Status`]; a peer behind gets the decided block and its
//!   [`CommitCert`] ([`Output::SendCommit`]).
//! - `commit_wait_ms` (Tendermint's `timeout_commit`) lets blocks batch more.
//! - With `wait_for_txs` (CometBFT's `create_empty_blocks = false`) a height
//!   starts only once a transaction waits, a peer's proposal or vote for it
//!   arrives, or `empty_block_interval_ms` passes. Waiting only delays the
//!   first round; any validator's message starts it, so a height that one
//!   validator works on is worked on by all.
//! - Client transactions are forwarded once to every validator
//!   ([`Message::Txs`], unsigned: a validator may propose any valid
//!   transaction anyway), and the mempool refuses the last
//!   `recent_committed` committed ones, so a late copy is not decided twice.

mod chain;
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

pub use chain::{BadChainSnapshot, TxChain};
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
pub use types::{Block, BlockHash, Height, PeerId, Round, Tx, TxKey, ValidatorIndex};
pub use validators::{Validator, ValidatorSet, ValidatorSetError};
pub use votes::{Evidence, ProposalEvidence};
pub use wal::{MemWal, Wal, WalEntry};

#[cfg(test)]
mod engine_tests;
