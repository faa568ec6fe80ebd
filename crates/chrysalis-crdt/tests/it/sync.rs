//! Anti-entropy by version digests: `b.apply_delta(&a.delta_since(&b.version()))`
//! equals `b.merge(&a)` for any replicas, and the delta stays small when the
//! peer is nearly up to date.

use crate::laws::AgentOp;
use crate::model::{Model, REPLICAS, node};
use chrysalis_crdt::{AgentState, AgentVersion, Crdt, DeltaCrdt, Episode};
use chrysalis_types::codec::{Decode, Encode};
use chrysalis_types::{EpisodeId, Timestamp};
use proptest::prelude::*;

/// One step of a history in which replicas also sync by digests.
#[derive(Debug, Clone)]
enum Step {
    /// Replica edits and broadcasts the delta.
    Op(usize, AgentOp),
    /// Deliver an in-flight delta (by index), maybe keeping a copy.
    Deliver(usize, bool),
    /// Replica `.0` catches up with `.1` by digest.
    Digest(usize, usize),
    /// Replica `.0` merges `.1`'s full state.
    Merge(usize, usize),
}

fn steps(max_len: usize) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        5 => (0..REPLICAS, AgentState::op()).prop_map(|(r, op)| Step::Op(r, op)),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(i, d)| Step::Deliver(i, d)),
        2 => (0..REPLICAS, 0..REPLICAS).prop_map(|(a, b)| Step::Digest(a, b)),
        1 => (0..REPLICAS, 0..REPLICAS).prop_map(|(a, b)| Step::Merge(a, b)),
    ];
    proptest::collection::vec(step, 0..max_len)
}

/// Checks the digest law for `b` catching up with `a`; returns the result.
fn catch_up(b: &AgentState, a: &AgentState) -> Result<AgentState, TestCaseError> {
    let delta = a.delta_since(&b.version());
    let bytes = delta.to_bytes();
    let decoded = AgentState::from_bytes(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(decoded.to_bytes(), bytes);
    let mut applied = b.clone();
    applied.apply_delta(&decoded);
    let mut merged = b.clone();
    merged.merge(a);
    prop_assert_eq!(&applied, &merged);
    // The delta is also a valid state: merging it gives the same.
    let mut as_state = b.clone();
    as_state.merge(&delta);
    prop_assert_eq!(&as_state, &merged);
    prop_assert!(applied.version().covers(&a.version()));
    Ok(applied)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn digest_delta_equals_merge(steps in steps(60)) {
        let mut replicas = vec![AgentState::new(); REPLICAS];
        let mut in_flight: Vec<(usize, AgentState)> = Vec::new();
        for (i, s) in steps.iter().enumerate() {
            match s {
                Step::Op(r, op) => {
                    let d = replicas[*r].apply(*r, op, i as u64);
                    in_flight.extend((0..REPLICAS).filter(|t| t != r).map(|t| (t, d.clone())));
                }
                Step::Deliver(k, dup) if !in_flight.is_empty() => {
                    let k = k % in_flight.len();
                    let (to, d) = if *dup { in_flight[k].clone() } else { in_flight.swap_remove(k) };
                    replicas[to].apply_delta(&d);
                }
                Step::Deliver(..) => {}
                Step::Digest(b, a) => {
                    let next = catch_up(&replicas[*b], &replicas[*a])?;
                    replicas[*b] = next;
                }
                Step::Merge(b, a) => {
                    let a = replicas[*a].clone();
                    replicas[*b].merge(&a);
                }
            }
        }
        // Every ordered pair of the final, divergent replicas.
        for a in 0..REPLICAS {
            for b in 0..REPLICAS {
                catch_up(&replicas[b], &replicas[a])?;
            }
        }
    }
}

fn synced_pair(skills: usize) -> (AgentState, AgentState) {
    let mut a = AgentState::new();
    for r in 0..REPLICAS {
        for s in 0..skills {
            let t = Timestamp::new((r * skills + s) as u64, 0);
            a.edit(node(r))
                .update_skill(&format!("skill-{s}"), 0.5, t)
                .commit()
                .unwrap();
        }
    }
    for e in 0..20u8 {
        let t = Timestamp::new(1000 + u64::from(e), 0);
        a.edit(node(usize::from(e) % REPLICAS))
            .add_episode(Episode::new(EpisodeId::new([e; 16]), t, "x"))
            .commit()
            .unwrap();
    }
    let b = a.clone();
    (a, b)
}

#[test]
fn up_to_date_peers_get_an_empty_delta() {
    let (a, b) = synced_pair(10);
    let delta = a.delta_since(&b.version());
    assert!(delta.skills().is_empty());
    assert!(delta.episodes().is_empty());
    assert!(b.version().covers(&a.version()));
}

#[test]
fn one_update_ships_one_update() {
    let skills = 40;
    let (mut a, b) = synced_pair(skills);
    let t = Timestamp::new(5000, 0);
    let edit = a
        .edit(node(0))
        .update_skill("skill-3", 0.75, t)
        .add_episode(Episode::new(EpisodeId::new([99; 16]), t, "new"))
        .commit()
        .unwrap();
    let delta = a.delta_since(&b.version());
    assert_eq!(delta.skills().names().collect::<Vec<_>>(), vec!["skill-3"]);
    assert_eq!(delta.episodes().len(), 1);
    // The context: one entry per writer. It is every dot seen except the
    // live values of the skills left out, and those values sit among dead
    // dots only where a skill was rewritten: here each writer's dots are
    // all dead, all live, or all live but the one the update superseded.
    let ctx = delta.skills().context();
    let ctx_bytes = ctx.to_bytes().len();
    let per_writer = 32 + 8 + 4 + 16;
    assert!(ctx_bytes <= 4 + REPLICAS * per_writer, "{ctx_bytes} bytes");
    assert!(
        delta.to_bytes().len() < b.to_bytes().len() / 2,
        "{} vs {}",
        delta.to_bytes().len(),
        b.to_bytes().len()
    );
    let mut caught_up = b.clone();
    caught_up.apply_delta(&delta);
    assert_eq!(caught_up, a);
    // The edit's own delta does the same.
    let mut by_edit = b.clone();
    by_edit.apply_delta(&edit);
    assert_eq!(by_edit, a);
}

/// The peer saw a write that superseded a value without the write's own
/// context, so it still holds the superseded value; the digest delta must
/// drop it even though the peer's vector covers every dot involved.
#[test]
fn stale_values_under_a_covering_vector_are_dropped() {
    let t = |n| Timestamp::new(n, 0);
    let (mut p, mut q, mut r, mut b) = (
        AgentState::new(),
        AgentState::new(),
        AgentState::new(),
        AgentState::new(),
    );
    let v = r
        .edit(node(2))
        .update_skill("s", 0.1, t(1))
        .commit()
        .unwrap();
    q.apply_delta(&v);
    b.apply_delta(&v);
    let w1 = q
        .edit(node(1))
        .update_skill("s", 0.2, t(2))
        .commit()
        .unwrap();
    p.apply_delta(&v);
    p.apply_delta(&w1);
    let e = p
        .edit(node(0))
        .update_skill("s", 0.3, t(3))
        .commit()
        .unwrap();
    b.apply_delta(&e);
    // b holds v and e; its vector covers v, w1 and e.
    assert_eq!(b.skills().candidates("s").len(), 2);
    assert!(b.version().covers(&p.version()));
    let mut caught_up = b.clone();
    caught_up.apply_delta(&p.delta_since(&b.version()));
    assert_eq!(caught_up.skills().candidates("s").len(), 1);
    let mut merged = b.clone();
    merged.merge(&p);
    assert_eq!(caught_up, merged);
}

#[test]
fn versions_encode_and_order() {
    let (mut a, b) = synced_pair(3);
    a.edit(node(1))
        .update_skill("skill-0", 0.9, Timestamp::new(9000, 0))
        .commit()
        .unwrap();
    let (va, vb) = (a.version(), b.version());
    assert!(va.covers(&vb) && !vb.covers(&va));
    assert_eq!(AgentVersion::from_bytes(&va.to_bytes()).unwrap(), va);
    let mut joined = vb.clone();
    joined.merge(&va);
    assert_eq!(joined, va);
    assert_eq!(AgentVersion::stable_of([&va, &vb]), vb);
}
