//! The vocabulary every Chrysalis crate speaks: identifiers, the hybrid
//! logical clock, and the canonical binary encoding.
//!
//! This crate is layer L0: no I/O, no async, no clocks, no randomness. Time
//! and random bytes come in as arguments, so every function here is a pure
//! function of its inputs.

pub mod codec;
pub mod hlc;
pub mod id;

pub use codec::{Decode, DecodeError, Encode, Limits, Reader, Writer};
pub use hlc::{ClockError, HybridClock, Timestamp};
pub use id::{AgentId, EpisodeId, IdParseError, KeyId, NodeId, TraceId};
