//! Covenants: what an agent may do, and how much of it.
//!
//! - [`capability`]: biscuit-auth tokens (Ed25519-signed, Datalog, offline
//!   attenuation) naming which actions on which resources a holder may take,
//!   under which conditions (holder, expiry, per-call cost cap).
//! - [`budget`]: cost, token, time and call budgets with atomic reserve,
//!   then commit or release; never negative under concurrency.
//! - [`gate`]: the [`CovenantGate`], which checks both together and records
//!   every decision, allowed or refused, through a [`DecisionRecorder`].
//! - [`trace`]: [`TraceRecorder`], the recorder that makes each decision a
//!   `chrysalis_ledger::TraceNode` and appends it to a [`TraceSink`] (the
//!   trace ledger).
//!
//! This crate is layer L1: no I/O, no clocks. Time comes in as a
//! [`chrysalis_types::Timestamp`] and randomness as an RNG argument.

pub mod budget;
pub mod capability;
mod decision_cache;
pub mod gate;
pub mod trace;

pub use budget::{
    Amount, Budget, BudgetError, BudgetSnapshot, CommitError, Dimension, Reservation,
};
pub use capability::{Attenuation, CapabilityError, Covenant, Denial, Grant, Issuer, Request};
pub use gate::{
    Admission, CovenantGate, DECISION_KIND, Decision, DecisionRecorder, GateError, MemoryRecorder,
    RecordedDecision, Refusal,
};
pub use trace::{RecordError, TraceRecorder, TraceSink};

#[cfg(test)]
mod tests;
