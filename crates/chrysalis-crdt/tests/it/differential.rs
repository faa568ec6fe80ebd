//! Differential tests against `crdts` 7.3.2 on random histories: vector
//! clock ordering, `Orswot` add-wins semantics (remove-before-add included)
//! and `MVReg` sibling sets. Its `LWWReg` is not a reference: it refuses
//! equal markers with different values instead of ordering them.
//!
//! Two delivery modes. Under causal delivery both libraries must agree after
//! every step. Under FIFO-per-channel delivery (a remove can overtake the
//! add it observed) ours must converge, and for the register agree with
//! `crdts` once everything is delivered. For the set, `crdts`' op-based
//! `Orswot` may keep *more*: its add does not supersede other actors' adds
//! of the element and its remove carries only the remover's clock of the
//! element, so an add that is in the remove's causal past but reached the
//! remover only through a later add survives there (r2 adds x; r0 sees it
//! and re-adds x; r1 sees only r0's add and removes x: observed-remove
//! drops x, `crdts` keeps r2's add). So at quiescence ours is a subset of
//! theirs, and equal whenever delivery happened to be causal.

use crate::model::node;
use chrysalis_crdt::{ClockOrdering, Crdt, DeltaCrdt, MVRegister, ORSet, VectorClock};
use crdts::{CmRDT, CvRDT};
use proptest::prelude::*;
use std::cmp::Ordering;
use std::collections::VecDeque;

const N: usize = 3;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn clock_ordering_matches(
        a in proptest::collection::vec(0u64..4, N),
        b in proptest::collection::vec(0u64..4, N),
    ) {
        let ours = |c: &[u64]| -> VectorClock {
            c.iter().enumerate().map(|(r, &n)| (node(r), n)).collect()
        };
        let theirs = |c: &[u64]| {
            let mut v = crdts::VClock::<u8>::new();
            for (r, &n) in c.iter().enumerate() {
                if n > 0 {
                    v.apply(crdts::Dot::new(r as u8, n));
                }
            }
            v
        };
        let expected = match theirs(&a).partial_cmp(&theirs(&b)) {
            Some(Ordering::Less) => ClockOrdering::Before,
            Some(Ordering::Greater) => ClockOrdering::After,
            Some(Ordering::Equal) => ClockOrdering::Equal,
            None => ClockOrdering::Concurrent,
        };
        prop_assert_eq!(ours(&a).compare(&ours(&b)), expected);
        let mut merged = ours(&a);
        merged.merge(&ours(&b));
        let mut their_merged = theirs(&a);
        their_merged.merge(theirs(&b));
        for r in 0..N {
            prop_assert_eq!(merged.get(&node(r)), their_merged.get(&(r as u8)));
        }
    }
}

/// One step of a history run on both libraries.
#[derive(Debug, Clone)]
enum Step {
    /// Replica adds (or writes) a value and broadcasts the change.
    Add(usize, u8),
    /// Replica removes a value and broadcasts the change.
    Remove(usize, u8),
    /// Deliver the oldest message on one channel (source, destination).
    Deliver(usize, usize),
    /// Full-state merge of one replica into another.
    Sync(usize, usize),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        3 => (0..N, 0u8..5).prop_map(|(r, x)| Step::Add(r, x)),
        2 => (0..N, 0u8..5).prop_map(|(r, x)| Step::Remove(r, x)),
        4 => (0..N, 0..N).prop_map(|(s, d)| Step::Deliver(s, d)),
        1 => (0..N, 0..N).prop_map(|(a, b)| Step::Sync(a, b)),
    ];
    proptest::collection::vec(step, 0..60)
}

/// One replica in both libraries.
trait Pair: Clone {
    type OurMsg: Clone;
    type TheirMsg: Clone;
    fn new() -> Self;
    /// Runs a local step; returns the messages to broadcast.
    fn local(&mut self, r: usize, add: bool, x: u8) -> (Self::OurMsg, Self::TheirMsg);
    fn deliver(&mut self, msg: &(Self::OurMsg, Self::TheirMsg));
    fn sync(&mut self, other: &Self);
    /// What each library reads, sorted.
    fn read(&self) -> (Vec<u8>, Vec<u8>);
    /// Whether `crdts` may keep more than we do under non-causal delivery.
    const SUPERSET_WHEN_FIFO: bool = false;
}

/// A message: its sender's sequence number and the sender's delivery
/// vector when sent (for causal delivery), and the payloads.
struct Msg<P: Pair> {
    seq: u64,
    deps: [u64; N],
    payload: (P::OurMsg, P::TheirMsg),
}

/// Runs `steps`; compares reads after every step when `causal`, and after
/// delivering everything in either mode.
fn run_pair<P: Pair>(steps: &[Step], causal: bool) -> Result<(), TestCaseError> {
    let mut replicas: Vec<P> = vec![P::new(); N];
    let mut seen = [[0u64; N]; N];
    let mut channels: Vec<VecDeque<Msg<P>>> = (0..N * N).map(|_| VecDeque::new()).collect();
    for step in steps {
        match *step {
            Step::Add(r, x) | Step::Remove(r, x) => {
                let payload = replicas[r].local(r, matches!(step, Step::Add(..)), x);
                seen[r][r] += 1;
                for to in (0..N).filter(|&to| to != r) {
                    channels[r * N + to].push_back(Msg {
                        seq: seen[r][r],
                        deps: seen[r],
                        payload: payload.clone(),
                    });
                }
            }
            Step::Deliver(s, d) => {
                deliver_head(&mut replicas, &mut seen, &mut channels, s, d, causal);
            }
            Step::Sync(a, b) => {
                let other = replicas[b].clone();
                replicas[a].sync(&other);
                let theirs = seen[b];
                for (mine, their) in seen[a].iter_mut().zip(theirs) {
                    *mine = (*mine).max(their);
                }
            }
        }
        if causal {
            for (r, p) in replicas.iter().enumerate() {
                let (ours, theirs) = p.read();
                prop_assert_eq!(ours, theirs, "replica {} after {:?}", r, step);
            }
        }
    }
    // Flush: keep delivering whatever is deliverable until nothing is left.
    while channels.iter().any(|c| !c.is_empty()) {
        for s in 0..N {
            for d in 0..N {
                deliver_head(&mut replicas, &mut seen, &mut channels, s, d, causal);
            }
        }
    }
    let converged = replicas[0].read().0;
    for (r, p) in replicas.iter().enumerate() {
        let (ours, theirs) = p.read();
        prop_assert_eq!(&ours, &converged, "replica {} converges", r);
        if causal || !P::SUPERSET_WHEN_FIFO {
            prop_assert_eq!(ours, theirs, "replica {} at quiescence", r);
        } else {
            prop_assert!(
                ours.iter().all(|x| theirs.contains(x)),
                "replica {}: ours {:?} not within theirs {:?}",
                r,
                ours,
                theirs
            );
        }
    }
    Ok(())
}

fn deliver_head<P: Pair>(
    replicas: &mut [P],
    seen: &mut [[u64; N]; N],
    channels: &mut [VecDeque<Msg<P>>],
    s: usize,
    d: usize,
    causal: bool,
) {
    let Some(msg) = channels[s * N + d].front() else {
        return;
    };
    let ready =
        msg.seq <= seen[d][s] || !causal || (0..N).all(|t| t == s || seen[d][t] >= msg.deps[t]);
    if ready {
        let msg = channels[s * N + d].pop_front().expect("a head message");
        replicas[d].deliver(&msg.payload);
        seen[d][s] = seen[d][s].max(msg.seq);
    }
}

type TheirSet = crdts::Orswot<u8, u8>;

#[derive(Clone)]
struct SetPair(ORSet<u8>, TheirSet);

impl Pair for SetPair {
    type OurMsg = <ORSet<u8> as DeltaCrdt>::Delta;
    type TheirMsg = crdts::orswot::Op<u8, u8>;
    const SUPERSET_WHEN_FIFO: bool = true;
    fn new() -> Self {
        Self(ORSet::new(), TheirSet::new())
    }
    fn local(&mut self, r: usize, add: bool, x: u8) -> (Self::OurMsg, Self::TheirMsg) {
        let (ours, theirs) = (&mut self.0, &mut self.1);
        let op = if add {
            theirs.add(x, theirs.read_ctx().derive_add_ctx(r as u8))
        } else {
            theirs.rm(x, theirs.contains(&x).derive_rm_ctx())
        };
        theirs.apply(op.clone());
        let delta = if add {
            ours.add(node(r), x)
        } else {
            ours.remove(&x)
        };
        (delta, op)
    }
    fn deliver(&mut self, (delta, op): &(Self::OurMsg, Self::TheirMsg)) {
        self.0.apply_delta(delta);
        self.1.apply(op.clone());
    }
    fn sync(&mut self, other: &Self) {
        self.0.merge(&other.0);
        self.1.merge(other.1.clone());
    }
    fn read(&self) -> (Vec<u8>, Vec<u8>) {
        let mut theirs: Vec<u8> = self.1.read().val.into_iter().collect();
        theirs.sort_unstable();
        (self.0.sorted(), theirs)
    }
}

type TheirReg = crdts::MVReg<u8, u8>;

#[derive(Clone)]
struct RegPair(MVRegister<u8>, TheirReg);

impl Pair for RegPair {
    type OurMsg = MVRegister<u8>;
    type TheirMsg = crdts::mvreg::Op<u8, u8>;
    fn new() -> Self {
        Self(MVRegister::new(), TheirReg::new())
    }
    fn local(&mut self, r: usize, _: bool, x: u8) -> (Self::OurMsg, Self::TheirMsg) {
        let op = self.1.write(x, self.1.read_ctx().derive_add_ctx(r as u8));
        self.1.apply(op.clone());
        (self.0.write(node(r), x), op)
    }
    fn deliver(&mut self, (delta, op): &(Self::OurMsg, Self::TheirMsg)) {
        self.0.apply_delta(delta);
        self.1.apply(op.clone());
    }
    fn sync(&mut self, other: &Self) {
        self.0.merge(&other.0);
        self.1.merge(other.1.clone());
    }
    fn read(&self) -> (Vec<u8>, Vec<u8>) {
        let mut ours: Vec<u8> = self.0.values().into_iter().copied().collect();
        ours.sort_unstable();
        let mut theirs = self.1.read().val;
        theirs.sort_unstable();
        (ours, theirs)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn orset_matches_orswot_under_causal_delivery(steps in steps()) {
        run_pair::<SetPair>(&steps, true)?;
    }

    #[test]
    fn orset_matches_orswot_at_quiescence(steps in steps()) {
        run_pair::<SetPair>(&steps, false)?;
    }

    #[test]
    fn mv_register_matches_mvreg_under_causal_delivery(steps in steps()) {
        run_pair::<RegPair>(&steps, true)?;
    }

    #[test]
    fn mv_register_matches_mvreg_at_quiescence(steps in steps()) {
        run_pair::<RegPair>(&steps, false)?;
    }
}

/// A remove that overtakes the add it observed: the add never shows, at
/// any step, in either library.
#[test]
fn remove_before_add() {
    let mut a = SetPair::new();
    let mut b = SetPair::new();
    let mut c = SetPair::new();
    let add = a.local(0, true, 7);
    b.deliver(&add);
    let rm = b.local(1, false, 7);
    c.deliver(&rm);
    assert_eq!(c.read(), (vec![], vec![]));
    c.deliver(&add);
    assert_eq!(c.read(), (vec![], vec![]));
    a.deliver(&rm);
    assert_eq!(a.read(), (vec![], vec![]));
}
