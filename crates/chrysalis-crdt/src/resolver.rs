//! Detecting and settling conflicts among concurrent values.
//!
//! CRDTs guarantee replicas agree; they do not guarantee the agreed state
//! makes sense. When concurrent writes leave several candidate values
//! (multi-value register siblings, contradictory skill levels, …), a
//! [`ConflictResolver`]:
//!
//! 1. **detects** what is wrong ([`ConflictKind`]):
//!    - [`ConflictKind::CausalOrdering`]: a candidate that another candidate
//!      causally supersedes (it is stale and is dropped), or a pair whose
//!      causal order disagrees with their timestamps (clock skew: a
//!      last-writer-wins rule would pick the older write);
//!    - [`ConflictKind::SemanticInconsistency`]: a candidate that breaks the
//!      domain invariant you registered (it is excluded);
//!    - [`ConflictKind::DirectContradiction`]: concurrent candidates that
//!      contradict each other (by default: differ; for skill levels: differ
//!      by more than a tolerance);
//!    - [`ConflictKind::MergeFailure`]: the chosen strategy could not produce
//!      a value (no merge function, or it declined, or nothing valid left);
//! 2. **resolves** them by a [`Strategy`], per subject or by default; a
//!    failure falls back to the manual review queue, which a user inspects
//!    ([`ConflictResolver::pending`]) and settles
//!    ([`ConflictResolver::settle`]).
//!
//! Resolution is deterministic for a given candidate list, so replicas that
//! resolve the same siblings write the same value.

use crate::VectorClock;
use crate::vclock::ClockOrdering;
use chrysalis_types::{NodeId, Timestamp};
use std::collections::BTreeMap;
use std::fmt;

/// One concurrent value, with who wrote it and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate<V> {
    /// The value.
    pub value: V,
    /// Who wrote it.
    pub author: NodeId,
    /// When, on the author's hybrid logical clock.
    pub at: Timestamp,
    /// What the author had seen when writing, when known: enables causal
    /// checks.
    pub seen: Option<VectorClock>,
}

impl<V> Candidate<V> {
    /// A candidate without causal metadata.
    pub fn new(value: V, author: NodeId, at: Timestamp) -> Self {
        Self {
            value,
            author,
            at,
            seen: None,
        }
    }

    /// The same candidate, with what its author had seen.
    pub fn with_seen(mut self, seen: VectorClock) -> Self {
        self.seen = Some(seen);
        self
    }

    fn marker(&self) -> (Timestamp, NodeId) {
        (self.at, self.author)
    }
}

/// What kind of conflict was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictKind {
    /// Concurrent candidates contradict each other.
    DirectContradiction,
    /// Causal order and candidates disagree: a stale candidate, or
    /// timestamps that run against causality.
    CausalOrdering,
    /// A candidate breaks the registered domain invariant.
    SemanticInconsistency,
    /// The strategy could not produce a value.
    MergeFailure,
}

/// One conflict found among the candidates of a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// What kind.
    pub kind: ConflictKind,
    /// Indexes of the candidates involved.
    pub candidates: Vec<usize>,
    /// What exactly, in a few words.
    pub note: &'static str,
}

/// How to pick a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// The greatest (timestamp, author).
    LastWriterWins,
    /// The least (timestamp, author).
    FirstWriterWins,
    /// The value most candidates hold; a tie goes to the tied value written
    /// last.
    MajorityVote,
    /// The registered merge function combines the candidates.
    SemanticMerge,
    /// A person decides: the conflict waits in the review queue.
    ManualReview,
}

/// A ticket for a conflict waiting in the review queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReviewTicket(pub u64);

/// The outcome of [`ConflictResolver::resolve`].
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution<V> {
    /// No conflict: all valid candidates agree.
    Agreed(V),
    /// Settled by a strategy.
    Resolved {
        /// The value chosen or built.
        value: V,
        /// The strategy that produced it.
        strategy: Strategy,
        /// What was detected.
        conflicts: Vec<Conflict>,
    },
    /// Waiting for manual review.
    Queued {
        /// Its ticket.
        ticket: ReviewTicket,
        /// What was detected.
        conflicts: Vec<Conflict>,
    },
}

impl<V> Resolution<V> {
    /// The value, unless queued for review.
    pub fn value(&self) -> Option<&V> {
        match self {
            Resolution::Agreed(v) | Resolution::Resolved { value: v, .. } => Some(v),
            Resolution::Queued { .. } => None,
        }
    }
}

/// A conflict waiting for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct Review<V> {
    /// Its ticket.
    pub ticket: ReviewTicket,
    /// What the conflict is about (e.g. a skill name).
    pub subject: String,
    /// The candidates.
    pub candidates: Vec<Candidate<V>>,
    /// What was detected.
    pub conflicts: Vec<Conflict>,
}

/// Why resolution failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// There was nothing to resolve.
    #[error("no candidates to resolve for {subject:?}")]
    NoCandidates {
        /// The subject.
        subject: String,
    },
    /// No review has this ticket (already settled, or never issued).
    #[error("no pending review with ticket {0:?}")]
    UnknownTicket(ReviewTicket),
    /// A settlement chose a candidate index that does not exist.
    #[error("review {ticket:?} has {count} candidates; index {index} is out of range")]
    NoSuchCandidate {
        /// The review.
        ticket: ReviewTicket,
        /// The index given.
        index: usize,
        /// How many candidates there are.
        count: usize,
    },
}

type Relation<V> = Box<dyn Fn(&V, &V) -> bool + Send + Sync>;
type Check<V> = Box<dyn Fn(&V) -> bool + Send + Sync>;
type MergeFn<V> = Box<dyn Fn(&[Candidate<V>]) -> Option<V> + Send + Sync>;

/// Detects conflicts among concurrent values and settles them.
pub struct ConflictResolver<V> {
    default: Strategy,
    per_subject: BTreeMap<String, Strategy>,
    contradicts: Relation<V>,
    invariant: Option<Check<V>>,
    merge: Option<MergeFn<V>>,
    queue: BTreeMap<ReviewTicket, Review<V>>,
    next_ticket: u64,
}

impl<V> fmt::Debug for ConflictResolver<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConflictResolver")
            .field("default", &self.default)
            .field("per_subject", &self.per_subject)
            .field("pending", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl<V: Clone + PartialEq + 'static> ConflictResolver<V> {
    /// A resolver using `default` for every subject; candidates contradict
    /// when they differ.
    pub fn new(default: Strategy) -> Self {
        Self {
            default,
            per_subject: BTreeMap::new(),
            contradicts: Box::new(|a, b| a != b),
            invariant: None,
            merge: None,
            queue: BTreeMap::new(),
            next_ticket: 1,
        }
    }

    /// Uses `strategy` for `subject`.
    pub fn with_strategy(mut self, subject: impl Into<String>, strategy: Strategy) -> Self {
        self.per_subject.insert(subject.into(), strategy);
        self
    }

    /// When two concurrent values contradict (default: when they differ).
    pub fn with_contradiction(
        mut self,
        f: impl Fn(&V, &V) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.contradicts = Box::new(f);
        self
    }

    /// The domain invariant every value must satisfy.
    pub fn with_invariant(mut self, f: impl Fn(&V) -> bool + Send + Sync + 'static) -> Self {
        self.invariant = Some(Box::new(f));
        self
    }

    /// The function [`Strategy::SemanticMerge`] uses; it may decline with
    /// `None`.
    pub fn with_merge(
        mut self,
        f: impl Fn(&[Candidate<V>]) -> Option<V> + Send + Sync + 'static,
    ) -> Self {
        self.merge = Some(Box::new(f));
        self
    }

    /// The strategy for `subject`.
    pub fn strategy_for(&self, subject: &str) -> Strategy {
        self.per_subject
            .get(subject)
            .copied()
            .unwrap_or(self.default)
    }

    /// What is wrong among `candidates`, without resolving anything.
    pub fn detect(&self, candidates: &[Candidate<V>]) -> Vec<Conflict> {
        let mut out = Vec::new();
        if let Some(check) = &self.invariant {
            let bad: Vec<usize> = (0..candidates.len())
                .filter(|&i| !check(&candidates[i].value))
                .collect();
            if !bad.is_empty() {
                out.push(Conflict {
                    kind: ConflictKind::SemanticInconsistency,
                    candidates: bad,
                    note: "values break the domain invariant",
                });
            }
        }
        for (i, a) in candidates.iter().enumerate() {
            for (j, b) in candidates.iter().enumerate().skip(i + 1) {
                let order = match (&a.seen, &b.seen) {
                    (Some(x), Some(y)) => x.compare(y),
                    _ => ClockOrdering::Concurrent,
                };
                let skewed = match order {
                    ClockOrdering::Before => a.marker() > b.marker(),
                    ClockOrdering::After => a.marker() < b.marker(),
                    _ => false,
                };
                if order != ClockOrdering::Concurrent {
                    out.push(Conflict {
                        kind: ConflictKind::CausalOrdering,
                        candidates: vec![i, j],
                        note: if skewed {
                            "timestamps run against causal order (clock skew)"
                        } else {
                            "a candidate is causally superseded by another"
                        },
                    });
                } else if (self.contradicts)(&a.value, &b.value) {
                    out.push(Conflict {
                        kind: ConflictKind::DirectContradiction,
                        candidates: vec![i, j],
                        note: "concurrent values contradict",
                    });
                }
            }
        }
        out
    }

    /// Detects and resolves the conflicts among `candidates` for `subject`.
    pub fn resolve(
        &mut self,
        subject: &str,
        candidates: &[Candidate<V>],
    ) -> Result<Resolution<V>, ResolveError> {
        if candidates.is_empty() {
            return Err(ResolveError::NoCandidates {
                subject: subject.to_owned(),
            });
        }
        let mut conflicts = self.detect(candidates);
        let live = self.live_candidates(candidates);
        if !live.is_empty()
            && !conflicts
                .iter()
                .any(|c| c.kind == ConflictKind::DirectContradiction)
            && live.iter().all(|c| c.value == live[0].value)
        {
            return Ok(if conflicts.is_empty() {
                Resolution::Agreed(live[0].value.clone())
            } else {
                Resolution::Resolved {
                    value: live[0].value.clone(),
                    strategy: self.strategy_for(subject),
                    conflicts,
                }
            });
        }
        let strategy = self.strategy_for(subject);
        match self.apply(strategy, &live) {
            Some(value) => Ok(Resolution::Resolved {
                value,
                strategy,
                conflicts,
            }),
            None => {
                if strategy != Strategy::ManualReview {
                    conflicts.push(Conflict {
                        kind: ConflictKind::MergeFailure,
                        candidates: (0..candidates.len()).collect(),
                        note: "the strategy produced no value",
                    });
                }
                Ok(self.enqueue(subject, candidates, conflicts))
            }
        }
    }

    /// Candidates that are valid and not causally superseded by another.
    fn live_candidates(&self, candidates: &[Candidate<V>]) -> Vec<Candidate<V>> {
        candidates
            .iter()
            .filter(|c| self.invariant.as_ref().is_none_or(|check| check(&c.value)))
            .filter(|c| {
                !candidates.iter().any(|other| match (&c.seen, &other.seen) {
                    (Some(mine), Some(theirs)) => mine.compare(theirs) == ClockOrdering::Before,
                    _ => false,
                })
            })
            .cloned()
            .collect()
    }

    fn apply(&self, strategy: Strategy, live: &[Candidate<V>]) -> Option<V> {
        let last = |cs: &[&Candidate<V>]| {
            cs.iter()
                .max_by_key(|c| c.marker())
                .map(|c| c.value.clone())
        };
        let all: Vec<&Candidate<V>> = live.iter().collect();
        match strategy {
            Strategy::LastWriterWins => last(&all),
            Strategy::FirstWriterWins => all
                .iter()
                .min_by_key(|c| c.marker())
                .map(|c| c.value.clone()),
            Strategy::MajorityVote => {
                let votes = |v: &V| live.iter().filter(|c| c.value == *v).count();
                let top = live.iter().map(|c| votes(&c.value)).max()?;
                let tied: Vec<&Candidate<V>> =
                    live.iter().filter(|c| votes(&c.value) == top).collect();
                last(&tied)
            }
            Strategy::SemanticMerge => {
                if live.is_empty() {
                    return None;
                }
                self.merge.as_ref().and_then(|f| f(live))
            }
            Strategy::ManualReview => None,
        }
    }

    fn enqueue(
        &mut self,
        subject: &str,
        candidates: &[Candidate<V>],
        conflicts: Vec<Conflict>,
    ) -> Resolution<V> {
        let ticket = ReviewTicket(self.next_ticket);
        self.next_ticket += 1;
        self.queue.insert(
            ticket,
            Review {
                ticket,
                subject: subject.to_owned(),
                candidates: candidates.to_vec(),
                conflicts: conflicts.clone(),
            },
        );
        Resolution::Queued { ticket, conflicts }
    }

    /// Conflicts waiting for review, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &Review<V>> + '_ {
        self.queue.values()
    }

    /// Settles review `ticket` with `value`; returns the subject and value
    /// to write.
    pub fn settle(&mut self, ticket: ReviewTicket, value: V) -> Result<(String, V), ResolveError> {
        let review = self
            .queue
            .remove(&ticket)
            .ok_or(ResolveError::UnknownTicket(ticket))?;
        Ok((review.subject, value))
    }

    /// Settles review `ticket` by picking its candidate `index`.
    pub fn settle_with_candidate(
        &mut self,
        ticket: ReviewTicket,
        index: usize,
    ) -> Result<(String, V), ResolveError> {
        let review = self
            .queue
            .get(&ticket)
            .ok_or(ResolveError::UnknownTicket(ticket))?;
        let value = review
            .candidates
            .get(index)
            .ok_or(ResolveError::NoSuchCandidate {
                ticket,
                index,
                count: review.candidates.len(),
            })?
            .value
            .clone();
        self.settle(ticket, value)
    }
}

impl ConflictResolver<f64> {
    /// A resolver for proficiencies: levels contradict when they differ by
    /// more than `tolerance`; a level outside [0, 1] breaks the invariant;
    /// the semantic merge is the mean of the valid levels.
    pub fn for_levels(default: Strategy, tolerance: f64) -> Self {
        Self::new(default)
            .with_contradiction(move |a, b| (a - b).abs() > tolerance)
            .with_invariant(|v| (0.0..=1.0).contains(v))
            .with_merge(|cs| {
                let sum: f64 = cs.iter().map(|c| c.value).sum();
                Some(sum / cs.len() as f64)
            })
    }
}
