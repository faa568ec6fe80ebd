//! Causal-stability collection: it bounds memory and changes no value.
//!
//! - Merkle DAG: the same random history runs in two worlds, one of which
//!   collects settled history whenever asked; after every step both worlds
//!   have the same heads, and the collecting one never holds more.
//! - Agent state: compaction below the stable version keeps every value and
//!   every merge with a peer that acknowledged it.

use crate::model::{REPLICAS, run};
use chrysalis_crdt::{AgentState, AgentVersion, Crdt, DeltaCrdt, Hash, MerkleDag};
use chrysalis_types::codec::{Decode, Encode};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Append(usize, u8),
    /// Replica `.0` merges `.1`'s full state.
    Merge(usize, usize),
    /// `.1` sends `.0` what `.0` lacks, as a delta.
    Delta(usize, usize),
    /// Replica acknowledges its current heads.
    Ack(usize),
    /// Replica collects with every replica's latest acknowledgement.
    Gc(usize),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        4 => (0..REPLICAS, any::<u8>()).prop_map(|(r, v)| Step::Append(r, v)),
        2 => (0..REPLICAS, 0..REPLICAS).prop_map(|(a, b)| Step::Merge(a, b)),
        2 => (0..REPLICAS, 0..REPLICAS).prop_map(|(a, b)| Step::Delta(a, b)),
        1 => (0..REPLICAS).prop_map(Step::Ack),
        1 => (0..REPLICAS).prop_map(Step::Gc),
    ];
    proptest::collection::vec(step, 0..80)
}

fn heads(d: &MerkleDag<u8>) -> Vec<Hash> {
    d.heads().copied().collect()
}

fn apply(world: &mut [MerkleDag<u8>], step: &Step) {
    match *step {
        Step::Append(r, v) => {
            world[r].append(v);
        }
        Step::Merge(a, b) => {
            let other = world[b].clone();
            world[a].merge(&other);
        }
        Step::Delta(a, b) => {
            let delta = world[b].delta_for(&world[b].missing_in(&world[a]));
            world[a].apply_delta(&delta);
        }
        Step::Ack(_) | Step::Gc(_) => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn dag_gc_keeps_heads_and_merges(steps in steps()) {
        let mut plain = vec![MerkleDag::<u8>::new(); REPLICAS];
        let mut collected = plain.clone();
        let mut acks: Vec<Vec<Hash>> = vec![Vec::new(); REPLICAS];
        for step in &steps {
            apply(&mut plain, step);
            apply(&mut collected, step);
            match *step {
                Step::Ack(r) => acks[r] = heads(&collected[r]),
                Step::Gc(r) => {
                    collected[r].gc(acks.iter().map(Vec::as_slice));
                    let bytes = collected[r].to_bytes();
                    let back = MerkleDag::<u8>::from_bytes(&bytes)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(heads(&back), heads(&collected[r]));
                    prop_assert_eq!(back.to_bytes(), bytes);
                }
                _ => {}
            }
            for (p, c) in plain.iter().zip(&collected) {
                prop_assert_eq!(heads(p), heads(c));
                prop_assert!(c.len() <= p.len());
                // Heads kept incrementally match heads derived from scratch.
                let derived = MerkleDag::<u8>::from_bytes(&p.to_bytes())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(heads(&derived), heads(p));
            }
        }
        // Everyone syncs: both worlds settle on the same heads.
        for world in [&mut plain, &mut collected] {
            for a in 0..REPLICAS {
                for b in 0..REPLICAS {
                    apply(world, &Step::Merge(a, b));
                }
            }
        }
        for (p, c) in plain.iter().zip(&collected) {
            prop_assert_eq!(heads(p), heads(c));
            prop_assert!(c.awaited().is_empty());
        }
    }
}

#[test]
fn dag_memory_stays_bounded_with_gc_and_grows_without() {
    let rounds = 3000u32;
    let run = |gc: bool| {
        let mut a = MerkleDag::<u32>::new();
        let mut b = MerkleDag::<u32>::new();
        let mut most = 0;
        for i in 0..rounds {
            let (_, d) = a.append(i);
            b.apply_delta(&d);
            let (_, d) = b.append(i + rounds);
            a.apply_delta(&d);
            if gc && i % 50 == 49 {
                let acks = [heads32(&a), heads32(&b)];
                a.gc(acks.iter().map(Vec::as_slice));
                b.gc(acks.iter().map(Vec::as_slice));
            }
            most = most.max(a.len()).max(b.len());
        }
        assert_eq!(heads32(&a), heads32(&b));
        (most, a.heap_bytes())
    };
    let (with_gc, bytes_with) = run(true);
    let (without, bytes_without) = run(false);
    assert!(
        with_gc <= 2 * 50 + 4,
        "{with_gc} nodes held at most with gc"
    );
    assert_eq!(without, 2 * rounds as usize);
    assert!(
        bytes_with * 20 < bytes_without,
        "{bytes_with} vs {bytes_without}"
    );
}

fn heads32(d: &MerkleDag<u32>) -> Vec<Hash> {
    d.heads().copied().collect()
}

/// What a replica of an agent shows: every skill's candidates and the
/// episodes in causal order.
fn observed(s: &AgentState) -> (Vec<String>, Vec<String>) {
    let skills = s
        .skills()
        .names()
        .map(|n| format!("{n}: {:?}", s.skills().candidates(n)))
        .collect();
    let episodes = s
        .episodes()
        .causal_order()
        .iter()
        .map(|e| format!("{e:?}"))
        .collect();
    (skills, episodes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn agent_gc_keeps_values_and_merges(steps in crate::model::history::<AgentState>(50)) {
        let run = run::<AgentState>(&steps);
        let replicas: Vec<AgentState> = run.midway.clone();
        let versions: Vec<AgentVersion> = replicas.iter().map(AgentState::version).collect();
        let stable = AgentVersion::stable_of(&versions);
        for r in &replicas {
            let mut collected = r.clone();
            collected.gc(stable.skills(), stable.episodes());
            prop_assert_eq!(observed(&collected), observed(r));
            for peer in &replicas {
                let (mut x, mut y) = (peer.clone(), peer.clone());
                x.merge(r);
                y.merge(&collected);
                prop_assert_eq!(observed(&x), observed(&y));
                let (mut x, mut y) = (r.clone(), collected.clone());
                x.merge(peer);
                y.merge(peer);
                prop_assert_eq!(observed(&x), observed(&y));
                let d = peer.delta_since(&collected.version());
                y = collected.clone();
                y.apply_delta(&d);
                prop_assert_eq!(observed(&x), observed(&y));
            }
        }
    }
}
