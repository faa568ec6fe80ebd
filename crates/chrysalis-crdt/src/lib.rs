//! Delta-state CRDTs for replicated agent state.
//!
//! Agents on different nodes learn at the same time; their states must merge
//! to the same result in any order, without coordination, in bounded memory.
//! Every type here is a join-semilattice with:
//!
//! - a full-state [`Crdt::merge`] (by reference, no forced clone),
//! - mutators that apply a change and return its delta (δ-CRDTs, Almeida,
//!   Shoker and Baquero), and [`DeltaCrdt::apply_delta`] to join one in,
//! - the canonical encoding of `chrysalis-types` for states and deltas;
//!   decoding refuses bad bytes with an error, never a panic.
//!
//! | type | what |
//! |---|---|
//! | [`VectorClock`] | version vector, causal partial order |
//! | [`CausalContext`] | dots seen, interval-compressed |
//! | [`GCounter`], [`PNCounter`] | counters |
//! | [`ORSet`] | add-wins observed-remove set without tombstones |
//! | [`LWWRegister`], [`MVRegister`] | registers |
//! | [`MerkleDag`] | content-addressed causal history, for anti-entropy |
//! | [`AgentState`] | an agent's skills and episodes |
//! | [`AgentVersion`] | what a replica of an agent has seen: the anti-entropy digest |
//! | [`ConflictResolver`] | detects and settles conflicts among concurrent values |
//! | [`SignedDelta`] | a delta with its author's Ed25519 signature |
//!
//! Layer L1: no I/O, no clocks, no randomness. Time comes in as hybrid
//! logical [`chrysalis_types::Timestamp`]s.

mod actor;
pub mod agent;
mod context;
mod counter;
pub mod dag;
mod dotstore;
pub mod fuzz;
mod orset;
mod register;
pub mod resolver;
mod signed;
mod vclock;

pub use actor::Dot;
pub use agent::{
    AgentDelta, AgentEdit, AgentError, AgentState, AgentVersion, Episode, SkillResolutions,
};
pub use context::CausalContext;
pub use counter::{CounterError, GCounter, PNCounter};
pub use dag::{DagDelta, DagError, DagNode, Hash, MerkleDag};
pub use orset::{ORSet, ORSetDelta, SetElement};
pub use register::{LWWRegister, MVRegister, WriteMarker};
pub use resolver::{Candidate, ConflictKind, ConflictResolver, Resolution, Strategy};
pub use signed::{DELTA_DOMAIN, SignedDelta, SignedDeltaError, apply_signed};
pub use vclock::{ClockOrdering, VectorClock};

use chrysalis_types::codec::{Decode, Encode};

/// A state-based CRDT: a join-semilattice.
///
/// `merge` is commutative, associative and idempotent, so replicas that have
/// merged the same states hold equal states, whatever the order.
pub trait Crdt {
    /// Joins `other` into `self`.
    fn merge(&mut self, other: &Self);
}

/// A CRDT whose mutators return deltas: small states that, joined into any
/// replica, carry the change.
pub trait DeltaCrdt: Crdt {
    /// The delta type (often `Self`).
    type Delta: Encode + Decode;

    /// A name for the type in signatures, so a delta signed as one type
    /// never verifies as another.
    const KIND: &'static str;

    /// Joins a delta in. Applying a mutator's deltas has the same effect as
    /// merging the mutated full state.
    fn apply_delta(&mut self, delta: &Self::Delta);
}
