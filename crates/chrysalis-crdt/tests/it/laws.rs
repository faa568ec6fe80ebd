//! Semilattice laws, convergence under reordered and duplicated delivery,
//! deltas against full states, and codec round-trips, for every type.

use crate::model::{Model, check_laws, history, node};
use chrysalis_crdt::{
    AgentState, Crdt, DeltaCrdt, Episode, GCounter, LWWRegister, MVRegister, MerkleDag, ORSet,
    PNCounter, VectorClock,
};
use chrysalis_types::{EpisodeId, Timestamp};
use proptest::prelude::*;

impl Model for VectorClock {
    type Op = ();
    fn op() -> BoxedStrategy<()> {
        Just(()).boxed()
    }
    fn apply(&mut self, r: usize, _: &(), _: u64) -> VectorClock {
        self.increment(node(r))
    }
}

impl Model for GCounter {
    type Op = u64;
    fn op() -> BoxedStrategy<u64> {
        (0u64..1000).boxed()
    }
    fn apply(&mut self, r: usize, by: &u64, _: u64) -> GCounter {
        self.increment(node(r), *by).unwrap()
    }
}

impl Model for PNCounter {
    type Op = (bool, u64);
    fn op() -> BoxedStrategy<(bool, u64)> {
        (any::<bool>(), 0u64..1000).boxed()
    }
    fn apply(&mut self, r: usize, (up, by): &(bool, u64), _: u64) -> PNCounter {
        if *up {
            self.increment(node(r), *by).unwrap()
        } else {
            self.decrement(node(r), *by).unwrap()
        }
    }
}

impl Model for ORSet<u8> {
    type Op = (bool, u8);
    fn op() -> BoxedStrategy<(bool, u8)> {
        (any::<bool>(), 0u8..6).boxed()
    }
    fn apply(&mut self, r: usize, (add, x): &(bool, u8), _: u64) -> Self::Delta {
        if *add {
            self.add(node(r), *x)
        } else {
            self.remove(x)
        }
    }
}

impl Model for LWWRegister<u8> {
    type Op = (u8, u8);
    fn op() -> BoxedStrategy<(u8, u8)> {
        // A coarse clock makes equal timestamps across nodes common.
        (any::<u8>(), 0u8..4).boxed()
    }
    fn apply(&mut self, r: usize, (v, t): &(u8, u8), step: u64) -> Self {
        self.set(*v, Timestamp::new(u64::from(*t), step as u32), node(r))
    }
}

impl Model for MVRegister<u8> {
    type Op = u8;
    fn op() -> BoxedStrategy<u8> {
        any::<u8>().boxed()
    }
    fn apply(&mut self, r: usize, v: &u8, _: u64) -> Self {
        self.write(node(r), *v)
    }
}

impl Model for MerkleDag<u8> {
    type Op = u8;
    fn op() -> BoxedStrategy<u8> {
        any::<u8>().boxed()
    }
    fn apply(&mut self, _: usize, v: &u8, _: u64) -> Self::Delta {
        self.append(*v).1
    }
}

/// Skill updates and episodes, with episode ids drawn from a small space so
/// duplicates happen.
#[derive(Debug, Clone)]
pub(crate) enum AgentOp {
    Skill(u8, u8),
    Episode(u8, Option<u8>),
}

impl Model for AgentState {
    type Op = AgentOp;
    fn op() -> BoxedStrategy<AgentOp> {
        prop_oneof![
            (0u8..3, 0u8..=10).prop_map(|(s, l)| AgentOp::Skill(s, l)),
            (0u8..12, proptest::option::of(0u8..12)).prop_map(|(e, c)| AgentOp::Episode(e, c)),
        ]
        .boxed()
    }
    fn apply(&mut self, r: usize, op: &AgentOp, step: u64) -> AgentState {
        let at = Timestamp::new(step, r as u32);
        let edit = self.edit(node(r));
        let edit = match op {
            AgentOp::Skill(s, l) => {
                edit.update_skill(["rust", "go", "zig"][*s as usize], f64::from(*l) / 10.0, at)
            }
            AgentOp::Episode(e, cause) => {
                let mut episode = Episode::new(EpisodeId::new([*e; 16]), at, format!("e{e}"));
                if let Some(c) = cause.filter(|c| c != e) {
                    episode = episode.caused_by(EpisodeId::new([c; 16]));
                }
                edit.add_episode(episode)
            }
        };
        // An unknown cause is refused: an empty delta then.
        edit.commit().unwrap_or_default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn vector_clock_laws(steps in history::<VectorClock>(40)) {
        check_laws::<VectorClock>(&steps)?;
    }

    #[test]
    fn g_counter_laws(steps in history::<GCounter>(40)) {
        check_laws::<GCounter>(&steps)?;
    }

    #[test]
    fn pn_counter_laws(steps in history::<PNCounter>(40)) {
        check_laws::<PNCounter>(&steps)?;
    }

    #[test]
    fn orset_laws(steps in history::<ORSet<u8>>(60)) {
        check_laws::<ORSet<u8>>(&steps)?;
    }

    #[test]
    fn lww_register_laws(steps in history::<LWWRegister<u8>>(40)) {
        check_laws::<LWWRegister<u8>>(&steps)?;
    }

    #[test]
    fn mv_register_laws(steps in history::<MVRegister<u8>>(40)) {
        check_laws::<MVRegister<u8>>(&steps)?;
    }

    #[test]
    fn merkle_dag_laws(steps in history::<MerkleDag<u8>>(40)) {
        check_laws::<MerkleDag<u8>>(&steps)?;
    }

    #[test]
    fn agent_state_laws(steps in history::<AgentState>(50)) {
        check_laws::<AgentState>(&steps)?;
    }

    /// Joined delta groups apply like their parts.
    #[test]
    fn orset_delta_groups(ops in proptest::collection::vec((0usize..3, any::<bool>(), 0u8..6), 0..40)) {
        let mut origin = ORSet::<u8>::new();
        let mut group = None::<<ORSet<u8> as DeltaCrdt>::Delta>;
        let mut one_by_one = ORSet::<u8>::new();
        for (r, add, x) in ops {
            let d = if add { origin.add(node(r), x) } else { origin.remove(&x) };
            one_by_one.apply_delta(&d);
            match &mut group {
                None => group = Some(d),
                Some(g) => g.join(&d),
            }
        }
        let mut grouped = ORSet::<u8>::new();
        if let Some(g) = &group {
            grouped.apply_delta(g);
        }
        prop_assert_eq!(&grouped, &origin);
        prop_assert_eq!(&one_by_one, &origin);
    }

    /// Causal-stability compaction changes no observable value and keeps
    /// replicas converging.
    #[test]
    fn gc_keeps_values(steps in history::<ORSet<u8>>(60)) {
        let run = crate::model::run::<ORSet<u8>>(&steps);
        let acked: Vec<VectorClock> = run.replicas.iter().map(|r| r.context().vector()).collect();
        let stable = VectorClock::stable_of(&acked);
        let mut collected = run.replicas[0].clone();
        collected.gc(&stable);
        prop_assert_eq!(collected.sorted(), run.replicas[0].sorted());
        let mut other = run.midway[1].clone();
        other.merge(&collected);
        prop_assert_eq!(other.sorted(), run.replicas[0].sorted());
    }

    /// Episodes: `delta_since` a peer's vector brings it level.
    #[test]
    fn episodes_since_catches_up(steps in history::<AgentState>(50)) {
        let run = crate::model::run::<AgentState>(&steps);
        let (mut behind, ahead) = (run.midway[0].clone(), &run.replicas[1]);
        let delta = ahead.episodes_since(&behind.episodes().vector());
        behind.apply_delta(&delta);
        for e in ahead.episodes().causal_order() {
            prop_assert!(behind.episodes().contains(&e.id));
        }
        // Causal order puts every known cause first.
        let order = ahead.episodes().causal_order();
        for (i, e) in order.iter().enumerate() {
            for c in &e.causes {
                if let Some(j) = order.iter().position(|x| x.id == *c) {
                    prop_assert!(j < i);
                }
            }
        }
    }
}
