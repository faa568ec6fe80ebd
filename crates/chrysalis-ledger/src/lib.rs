//! Chrysalis trace ledger (layer L1, sans-IO).
//!
//! Every act of every agent is a [`TraceNode`], appended to a [`TraceLedger`]
//! that anyone can verify:
//!
//! - [`node`]: [`TraceNode`] and its builder; a node's id is the RFC 6962
//!   leaf hash of its canonical encoding.
//! - [`merkle`]: the RFC 6962 / 9162 Merkle tree, inclusion and consistency
//!   proofs, and verifiers that check every element.
//! - [`head`]: Ed25519-signed tree heads and the [`head::Checkpoint`] a client
//!   keeps to detect any rewrite.
//! - [`frame`]: the on-storage record framing (length, CRC32C, payload).
//! - [`storage`]: the [`storage::LedgerStorage`] trait, with an in-memory and a
//!   fault-injecting implementation (the segment files live in
//!   `chrysalis-store`).
//! - [`ledger`]: [`TraceLedger`], group commit under an [`FsyncPolicy`],
//!   recovery, proofs and paged queries.
//!
//! Nothing here reads a clock or touches a file: time comes in as arguments
//! and bytes go out through the storage trait.

pub mod frame;
pub mod head;
pub mod ledger;
pub mod merkle;
pub mod node;
pub mod query;
pub mod storage;

pub use head::{Checkpoint, HeadError, SignedTreeHead};
pub use ledger::{AppendError, FsyncPolicy, OpenError, ReadError, RecordError, TraceLedger};
pub use merkle::{ConsistencyProof, Hash, InclusionProof, MerkleTree, ProofError};
pub use node::{NodeError, Payload, PayloadRef, TraceKind, TraceNode, TraceNodeBuilder};
pub use query::{Cursor, Page, Query, QueryError};
pub use storage::{FaultyStorage, LedgerStorage, MemoryStorage, Recovery, StorageError};
