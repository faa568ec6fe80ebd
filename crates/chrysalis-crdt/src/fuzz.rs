//! Decoder checks shared by the cargo-fuzz targets (`fuzz/fuzz_targets/crdt_*.rs`)
//! and the test suite, so every decoder is exercised without a nightly
//! toolchain too.
//!
//! Each check decodes arbitrary bytes as a full message. Refusal is fine; a
//! panic is a bug; and bytes that *are* accepted must be the value's one
//! canonical encoding (re-encoding gives the same bytes) and must merge
//! with themselves idempotently.

use crate::dag::DagDelta;
use crate::{
    AgentState, AgentVersion, CausalContext, Crdt, GCounter, LWWRegister, MVRegister, MerkleDag,
    ORSet, ORSetDelta, PNCounter, SignedDelta, VectorClock,
};
use chrysalis_types::codec::{Decode, Encode};

/// A broken property found by a check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FuzzFailure {
    /// Accepted bytes that are not the canonical encoding of the value.
    #[error("{0}: accepted bytes are not canonical")]
    NotCanonical(&'static str),
    /// Merging a decoded value with itself changed it.
    #[error("{0}: merge with itself is not idempotent")]
    NotIdempotent(&'static str),
}

/// Whether the bytes were accepted, or why the check failed.
pub type FuzzResult = Result<bool, FuzzFailure>;

fn round_trip<T: Encode + Decode>(
    name: &'static str,
    bytes: &[u8],
) -> Result<Option<T>, FuzzFailure> {
    match T::from_bytes(bytes) {
        Err(_) => Ok(None),
        Ok(value) if value.to_bytes() == bytes => Ok(Some(value)),
        Ok(_) => Err(FuzzFailure::NotCanonical(name)),
    }
}

fn lattice<T: Encode + Decode + Crdt + Clone>(name: &'static str, bytes: &[u8]) -> FuzzResult {
    let Some(value) = round_trip::<T>(name, bytes)? else {
        return Ok(false);
    };
    let mut merged = value.clone();
    merged.merge(&value);
    if merged.to_bytes() != bytes {
        return Err(FuzzFailure::NotIdempotent(name));
    }
    Ok(true)
}

fn plain<T: Encode + Decode>(name: &'static str, bytes: &[u8]) -> FuzzResult {
    Ok(round_trip::<T>(name, bytes)?.is_some())
}

/// [`VectorClock`].
pub fn vector_clock(bytes: &[u8]) -> FuzzResult {
    lattice::<VectorClock>("vector clock", bytes)
}

/// [`CausalContext`].
pub fn causal_context(bytes: &[u8]) -> FuzzResult {
    let Some(mut ctx) = round_trip::<CausalContext>("causal context", bytes)? else {
        return Ok(false);
    };
    let copy = ctx.clone();
    ctx.merge(&copy);
    if ctx.to_bytes() != bytes {
        return Err(FuzzFailure::NotIdempotent("causal context"));
    }
    Ok(true)
}

/// [`GCounter`] and [`PNCounter`].
pub fn counters(bytes: &[u8]) -> FuzzResult {
    Ok(lattice::<GCounter>("g-counter", bytes)? | lattice::<PNCounter>("pn-counter", bytes)?)
}

/// [`ORSet`] of `u64`, and its delta.
pub fn orset(bytes: &[u8]) -> FuzzResult {
    Ok(lattice::<ORSet<u64>>("or-set", bytes)? | plain::<ORSetDelta<u64>>("or-set delta", bytes)?)
}

/// [`LWWRegister`] and [`MVRegister`] of strings.
pub fn registers(bytes: &[u8]) -> FuzzResult {
    Ok(lattice::<LWWRegister<String>>("lww-register", bytes)?
        | lattice::<MVRegister<String>>("mv-register", bytes)?)
}

/// [`MerkleDag`] of strings, and its delta.
pub fn merkle_dag(bytes: &[u8]) -> FuzzResult {
    Ok(lattice::<MerkleDag<String>>("merkle dag", bytes)?
        | plain::<DagDelta<String>>("dag delta", bytes)?)
}

/// [`AgentState`] (skills and episodes), and its [`AgentVersion`] digest.
pub fn agent_state(bytes: &[u8]) -> FuzzResult {
    Ok(lattice::<AgentState>("agent state", bytes)?
        | lattice::<AgentVersion>("agent version", bytes)?)
}

/// [`SignedDelta`] envelopes.
pub fn signed_delta(bytes: &[u8]) -> FuzzResult {
    plain::<SignedDelta<ORSet<u64>>>("signed delta", bytes)
}

/// One decoder check.
pub type Check = fn(&[u8]) -> FuzzResult;

/// Every check, by fuzz target name.
pub const CHECKS: &[(&str, Check)] = &[
    ("crdt_vector_clock", vector_clock),
    ("crdt_causal_context", causal_context),
    ("crdt_counters", counters),
    ("crdt_orset", orset),
    ("crdt_registers", registers),
    ("crdt_merkle_dag", merkle_dag),
    ("crdt_agent_state", agent_state),
    ("crdt_signed_delta", signed_delta),
];
