//! Operads: composing agent operations by arity, and checking the laws.
//!
//! An operation has an arity (how many inputs it takes). Partial composition
//! `f ∘ᵢ g` plugs `g`'s output into input slot `i` of `f`; the result takes
//! `f`'s other inputs with `g`'s inputs spliced in at `i`. An operad also has
//! an identity operation of arity 1. The laws:
//!
//! - identity: `id ∘₀ f = f` and `f ∘ᵢ id = f`;
//! - sequential associativity: `(f ∘ᵢ g) ∘ᵢ₊ⱼ h = f ∘ᵢ (g ∘ⱼ h)`;
//! - parallel associativity: for `i < k`,
//!   `(f ∘ᵢ g) ∘ₖ₊ₘ₋₁ h = (f ∘ₖ h) ∘ᵢ g` where `m` is `g`'s arity.
//!
//! [`Operad`] is the trait; [`plan::PlanOperad`] is the operad of agent plans
//! (named steps wired into trees); [`laws::check_laws`] checks the laws over
//! samples drawn from a seeded RNG the caller passes in, and shrinks any
//! failure to a minimal counterexample. [`faulty`] holds deliberately broken
//! operads that the checker must catch.
//!
//! Slots are numbered from 0. This crate is layer L1: no I/O, no clocks.

use std::fmt;

use rand_core::RngCore;

pub mod faulty;
pub mod laws;
pub mod plan;

pub use laws::{
    Law, LawCheckConfig, LawCheckError, LawReport, Sample, Violation, check_laws, check_sample,
};
pub use plan::{Plan, PlanOperad};

/// Why a composition could not be formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ComposeError {
    /// The slot does not exist in the outer operation.
    #[error("slot {slot} out of range for an operation of arity {arity}")]
    SlotOutOfRange {
        /// The slot asked for.
        slot: usize,
        /// The outer operation's arity.
        arity: usize,
    },
}

/// An operad of agent operations.
pub trait Operad {
    /// An operation. Equality is the operad's notion of "same operation".
    type Op: Clone + PartialEq + fmt::Debug;

    /// The identity operation, of arity 1.
    fn identity(&self) -> Self::Op;

    /// How many inputs `op` takes.
    fn arity(&self, op: &Self::Op) -> usize;

    /// Partial composition `f ∘_slot g`.
    fn compose(&self, f: &Self::Op, slot: usize, g: &Self::Op) -> Result<Self::Op, ComposeError>;
}

/// An operad whose operations can be generated and shrunk, so its laws can
/// be checked by [`check_laws`].
pub trait OperadSamples: Operad {
    /// Draws an operation with at most `max_nodes` parts from `rng`.
    fn sample(&self, rng: &mut dyn RngCore, max_nodes: usize) -> Self::Op;

    /// Strictly smaller operations to try when shrinking a counterexample.
    fn shrink(&self, op: &Self::Op) -> Vec<Self::Op>;

    /// A size measure; shrinking only accepts candidates that lower it.
    fn size(&self, op: &Self::Op) -> usize;
}

#[cfg(test)]
mod tests;
