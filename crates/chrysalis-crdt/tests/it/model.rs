//! A random-history harness shared by the law tests: several replicas
//! mutate, ship deltas over a network that reorders and duplicates, and
//! sometimes merge full states.

use chrysalis_crdt::DeltaCrdt;
use chrysalis_types::NodeId;
use chrysalis_types::codec::{Decode, Encode};
use proptest::prelude::*;
use std::fmt::Debug;

/// How many replicas a history runs on.
pub(crate) const REPLICAS: usize = 3;

/// The node id of replica `r`.
pub(crate) fn node(r: usize) -> NodeId {
    NodeId::new([r as u8 + 1; 32])
}

/// A CRDT with random operations for the harness.
pub(crate) trait Model:
    DeltaCrdt + Clone + PartialEq + Debug + Encode + Decode + Default
where
    Self::Delta: Clone + Debug,
{
    /// One operation.
    type Op: Debug + Clone;
    /// Random operations.
    fn op() -> BoxedStrategy<Self::Op>;
    /// Applies `op` at replica `r` during `step`; returns the delta.
    fn apply(&mut self, r: usize, op: &Self::Op, step: u64) -> Self::Delta;
}

/// One step of a history.
#[derive(Debug, Clone)]
pub(crate) enum Step<Op> {
    /// Replica runs an operation and broadcasts the delta.
    Op(usize, Op),
    /// Deliver an in-flight message (chosen by index), keeping a copy to
    /// deliver again when `duplicate`.
    Deliver(usize, bool),
    /// Replica `.0` merges replica `.1`'s full state.
    Sync(usize, usize),
}

/// Random histories for `M`.
pub(crate) fn history<M: Model>(max_len: usize) -> impl Strategy<Value = Vec<Step<M::Op>>>
where
    M::Delta: Clone + Debug,
{
    let step = prop_oneof![
        4 => (0..REPLICAS, M::op()).prop_map(|(r, op)| Step::Op(r, op)),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(i, d)| Step::Deliver(i, d)),
        1 => (0..REPLICAS, 0..REPLICAS).prop_map(|(a, b)| Step::Sync(a, b)),
    ];
    proptest::collection::vec(step, 0..max_len)
}

/// The outcome of running a history.
pub(crate) struct Run<M: Model>
where
    M::Delta: Clone + Debug,
{
    /// The replicas after every message was delivered.
    pub replicas: Vec<M>,
    /// Every delta produced, in production order.
    pub deltas: Vec<M::Delta>,
    /// The replicas' states midway (before the final delivery), for laws.
    pub midway: Vec<M>,
}

/// Runs `steps`, then delivers everything still in flight.
pub(crate) fn run<M: Model>(steps: &[Step<M::Op>]) -> Run<M>
where
    M::Delta: Clone + Debug,
{
    let mut replicas = vec![M::default(); REPLICAS];
    let mut in_flight: Vec<(usize, M::Delta)> = Vec::new();
    let mut deltas = Vec::new();
    for (step, s) in steps.iter().enumerate() {
        match s {
            Step::Op(r, op) => {
                let delta = replicas[*r].apply(*r, op, step as u64);
                for to in (0..REPLICAS).filter(|to| to != r) {
                    in_flight.push((to, delta.clone()));
                }
                deltas.push(delta);
            }
            Step::Deliver(i, duplicate) if !in_flight.is_empty() => {
                let i = i % in_flight.len();
                let (to, delta) = if *duplicate {
                    in_flight[i].clone()
                } else {
                    in_flight.swap_remove(i)
                };
                replicas[to].apply_delta(&delta);
            }
            Step::Deliver(..) => {}
            Step::Sync(a, b) => {
                let other = replicas[*b].clone();
                replicas[*a].merge(&other);
            }
        }
    }
    let midway = replicas.clone();
    // Deliver the rest newest-first: the reverse of causal order.
    while let Some((to, delta)) = in_flight.pop() {
        replicas[to].apply_delta(&delta);
    }
    Run {
        replicas,
        deltas,
        midway,
    }
}

/// Checks every law on a history of `M`.
pub(crate) fn check_laws<M: Model>(steps: &[Step<M::Op>]) -> Result<(), TestCaseError>
where
    M::Delta: Clone + Debug + Encode + Decode,
{
    let Run {
        replicas,
        deltas,
        midway,
    } = run::<M>(steps);

    // Convergence: every replica ends equal, whatever the delivery order.
    for r in &replicas[1..] {
        prop_assert_eq!(r, &replicas[0]);
    }

    // Deltas equal full states: joining every delta into a fresh replica
    // equals merging every replica's full state.
    let mut from_deltas = M::default();
    for d in &deltas {
        from_deltas.apply_delta(d);
    }
    let mut from_states = M::default();
    for r in &midway {
        from_states.merge(r);
    }
    for r in &replicas {
        from_states.merge(r);
    }
    prop_assert_eq!(&from_deltas, &from_states);
    prop_assert_eq!(&from_states, &replicas[0]);

    // Semilattice laws on the divergent midway states.
    let (a, b, c) = (&midway[0], &midway[1], &midway[2]);
    let join = |x: &M, y: &M| {
        let mut z = x.clone();
        z.merge(y);
        z
    };
    prop_assert_eq!(join(a, b), join(b, a), "commutative");
    prop_assert_eq!(join(&join(a, b), c), join(a, &join(b, c)), "associative");
    prop_assert_eq!(join(a, a), a.clone(), "idempotent");
    prop_assert_eq!(join(&join(a, b), b), join(a, b), "idempotent after join");

    // Canonical encoding round-trips, for states and deltas.
    for s in midway.iter().chain(&replicas) {
        let bytes = s.to_bytes();
        let back = M::from_bytes(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, s);
        prop_assert_eq!(back.to_bytes(), bytes);
    }
    for d in &deltas {
        let bytes = d.to_bytes();
        let back = M::Delta::from_bytes(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.to_bytes(), bytes);
    }
    Ok(())
}
