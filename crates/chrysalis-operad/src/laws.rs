//! The law checker: identity and associativity over generated samples, with
//! shrinking to a minimal counterexample.

use std::fmt;

use rand_core::RngCore;

use crate::{ComposeError, Operad, OperadSamples};

/// An operad law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// `id ∘₀ f = f`.
    LeftIdentity,
    /// `f ∘ᵢ id = f`.
    RightIdentity,
    /// `(f ∘ᵢ g) ∘ᵢ₊ⱼ h = f ∘ᵢ (g ∘ⱼ h)`.
    SequentialAssociativity,
    /// `(f ∘ᵢ g) ∘ₖ₊ₘ₋₁ h = (f ∘ₖ h) ∘ᵢ g` for `i < k`, `m = arity(g)`.
    ParallelAssociativity,
}

impl Law {
    /// Every law, in the order they are checked.
    pub const ALL: [Law; 4] = [
        Law::LeftIdentity,
        Law::RightIdentity,
        Law::SequentialAssociativity,
        Law::ParallelAssociativity,
    ];

    /// A stable snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            Law::LeftIdentity => "left_identity",
            Law::RightIdentity => "right_identity",
            Law::SequentialAssociativity => "sequential_associativity",
            Law::ParallelAssociativity => "parallel_associativity",
        }
    }
}

impl fmt::Display for Law {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Three operations and three slot choices. Slots are taken modulo the
/// relevant arity when a law is evaluated, so any sample is usable.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<Op> {
    /// The outer operation.
    pub f: Op,
    /// The first inner operation.
    pub g: Op,
    /// The second inner operation.
    pub h: Op,
    /// Slot choice in `f`.
    pub i: usize,
    /// Slot choice in `g`.
    pub j: usize,
    /// Second slot choice in `f` (parallel associativity).
    pub k: usize,
}

/// A failing instance of a law.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation<Op> {
    /// The law that fails.
    pub law: Law,
    /// The operations involved (shrunk when reported by [`check_laws`]).
    pub sample: Sample<Op>,
    /// The slots the law used, after reduction by arity: `[i]`, `[i, j]` or
    /// `[i, k]`.
    pub slots: Vec<usize>,
    /// The left-hand side of the law.
    pub left: Result<Op, ComposeError>,
    /// The right-hand side of the law.
    pub right: Result<Op, ComposeError>,
}

impl<Op: fmt::Debug> fmt::Display for Violation<Op> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.sample;
        write!(out, "{} fails with f = {:?}", self.law, s.f)?;
        if matches!(
            self.law,
            Law::SequentialAssociativity | Law::ParallelAssociativity
        ) {
            write!(out, ", g = {:?}, h = {:?}", s.g, s.h)?;
        }
        write!(out, ", slots {:?}: ", self.slots)?;
        write!(out, "left = {:?}, right = {:?}", self.left, self.right)
    }
}

/// How many samples to draw and how large they may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LawCheckConfig {
    /// Number of samples.
    pub samples: usize,
    /// Upper bound on each sampled operation's node count.
    pub max_nodes: usize,
    /// Upper bound on accepted shrink steps.
    pub max_shrink_steps: usize,
}

impl Default for LawCheckConfig {
    fn default() -> Self {
        LawCheckConfig {
            samples: 256,
            max_nodes: 12,
            max_shrink_steps: 1000,
        }
    }
}

/// A passed law check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LawReport {
    /// Samples drawn.
    pub samples: usize,
    /// Law instances evaluated (laws that were vacuous for a sample, such
    /// as right identity on an arity-0 operation, are not counted).
    pub instances: usize,
}

/// A failed law check.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LawCheckError<Op: fmt::Debug> {
    /// A law fails; the counterexample is shrunk to a local minimum.
    #[error("operad law violated after {shrink_steps} shrink steps: {violation}")]
    Violated {
        /// The minimal counterexample.
        violation: Box<Violation<Op>>,
        /// How many shrink steps were accepted.
        shrink_steps: usize,
    },
}

/// The result of evaluating one law on one sample.
enum Outcome<Op> {
    Vacuous,
    Holds,
    Fails(Violation<Op>),
}

fn evaluate<O: Operad>(operad: &O, law: Law, s: &Sample<O::Op>) -> Outcome<O::Op> {
    let n = operad.arity(&s.f);
    let (slots, left, right) = match law {
        Law::LeftIdentity => {
            let left = operad.compose(&operad.identity(), 0, &s.f);
            (Vec::new(), left, Ok(s.f.clone()))
        }
        Law::RightIdentity => {
            if n == 0 {
                return Outcome::Vacuous;
            }
            let i = s.i % n;
            (
                vec![i],
                operad.compose(&s.f, i, &operad.identity()),
                Ok(s.f.clone()),
            )
        }
        Law::SequentialAssociativity => {
            let m = operad.arity(&s.g);
            if n == 0 || m == 0 {
                return Outcome::Vacuous;
            }
            let (i, j) = (s.i % n, s.j % m);
            let left = operad
                .compose(&s.f, i, &s.g)
                .and_then(|fg| operad.compose(&fg, i + j, &s.h));
            let right = operad
                .compose(&s.g, j, &s.h)
                .and_then(|gh| operad.compose(&s.f, i, &gh));
            (vec![i, j], left, right)
        }
        Law::ParallelAssociativity => {
            let (a, b) = (s.i % n.max(1), s.k % n.max(1));
            if n < 2 || a == b {
                return Outcome::Vacuous;
            }
            let (i, k) = (a.min(b), a.max(b));
            let m = operad.arity(&s.g);
            let left = operad
                .compose(&s.f, i, &s.g)
                .and_then(|fg| operad.compose(&fg, k + m - 1, &s.h));
            let right = operad
                .compose(&s.f, k, &s.h)
                .and_then(|fh| operad.compose(&fh, i, &s.g));
            (vec![i, k], left, right)
        }
    };
    let holds = matches!((&left, &right), (Ok(l), Ok(r)) if l == r);
    if holds {
        Outcome::Holds
    } else {
        // Report the slots actually used, not the raw draws.
        let mut sample = s.clone();
        match (law, slots.as_slice()) {
            (Law::RightIdentity, [i]) => sample.i = *i,
            (Law::SequentialAssociativity, [i, j]) => (sample.i, sample.j) = (*i, *j),
            (Law::ParallelAssociativity, [i, k]) => (sample.i, sample.k) = (*i, *k),
            _ => {}
        }
        Outcome::Fails(Violation {
            law,
            sample,
            slots,
            left,
            right,
        })
    }
}

/// Checks every law on one sample; returns how many law instances were
/// evaluated, or the first violation (not shrunk).
pub fn check_sample<O: Operad>(
    operad: &O,
    sample: &Sample<O::Op>,
) -> Result<usize, Box<Violation<O::Op>>> {
    let mut instances = 0;
    for law in Law::ALL {
        match evaluate(operad, law, sample) {
            Outcome::Vacuous => {}
            Outcome::Holds => instances += 1,
            Outcome::Fails(v) => return Err(Box::new(v)),
        }
    }
    Ok(instances)
}

/// Draws `config.samples` samples from `rng` and checks every law on each.
/// The first violation is shrunk (operations and slots) to a local minimum
/// before it is reported.
pub fn check_laws<O: OperadSamples>(
    operad: &O,
    rng: &mut dyn RngCore,
    config: LawCheckConfig,
) -> Result<LawReport, LawCheckError<O::Op>> {
    let mut instances = 0;
    for _ in 0..config.samples {
        let sample = Sample {
            f: operad.sample(rng, config.max_nodes),
            g: operad.sample(rng, config.max_nodes),
            h: operad.sample(rng, config.max_nodes),
            i: rng.next_u32() as usize,
            j: rng.next_u32() as usize,
            k: rng.next_u32() as usize,
        };
        match check_sample(operad, &sample) {
            Ok(n) => instances += n,
            Err(violation) => {
                let (violation, shrink_steps) = shrink(operad, *violation, config.max_shrink_steps);
                return Err(LawCheckError::Violated {
                    violation: Box::new(violation),
                    shrink_steps,
                });
            }
        }
    }
    Ok(LawReport {
        samples: config.samples,
        instances,
    })
}

/// The measure shrinking lowers: operation sizes, then slot numbers.
fn weight<O: OperadSamples>(operad: &O, v: &Violation<O::Op>) -> (usize, usize) {
    let s = &v.sample;
    let mut size = operad.size(&s.f);
    if matches!(
        v.law,
        Law::SequentialAssociativity | Law::ParallelAssociativity
    ) {
        size += operad.size(&s.g) + operad.size(&s.h);
    }
    (size, v.slots.iter().sum())
}

/// Candidate samples one step smaller than `v`'s.
fn candidates<O: OperadSamples>(operad: &O, v: &Violation<O::Op>) -> Vec<Sample<O::Op>> {
    let s = &v.sample;
    let mut out = Vec::new();
    // Slots first, resolved so that a lower number is really lower.
    let resolved = |slot: usize| [slot.saturating_sub(1), 0];
    let (i, second) = (v.slots.first().copied(), v.slots.get(1).copied());
    if let Some(i) = i {
        for smaller in resolved(i) {
            out.push(Sample {
                i: smaller,
                ..s.clone()
            });
        }
    }
    if let Some(second) = second {
        for smaller in resolved(second) {
            let next = match v.law {
                Law::ParallelAssociativity => Sample {
                    k: smaller,
                    i: v.slots[0],
                    ..s.clone()
                },
                _ => Sample {
                    j: smaller,
                    i: v.slots[0],
                    ..s.clone()
                },
            };
            out.push(next);
        }
    }
    for f in operad.shrink(&s.f) {
        out.push(Sample { f, ..s.clone() });
    }
    for g in operad.shrink(&s.g) {
        out.push(Sample { g, ..s.clone() });
    }
    for h in operad.shrink(&s.h) {
        out.push(Sample { h, ..s.clone() });
    }
    out
}

/// Greedy shrinking: take the first candidate that still violates the same
/// law with a lower weight, until none does or `max_steps` is reached.
fn shrink<O: OperadSamples>(
    operad: &O,
    mut current: Violation<O::Op>,
    max_steps: usize,
) -> (Violation<O::Op>, usize) {
    let mut steps = 0;
    'outer: while steps < max_steps {
        let now = weight(operad, &current);
        for candidate in candidates(operad, &current) {
            if let Outcome::Fails(v) = evaluate(operad, current.law, &candidate)
                && weight(operad, &v) < now
            {
                current = v;
                steps += 1;
                continue 'outer;
            }
        }
        break;
    }
    (current, steps)
}
