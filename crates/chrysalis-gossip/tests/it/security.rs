//! Forged and misattributed deltas are dropped and counted; nothing changes.

use chrysalis_crdt::{AgentState, SignedDelta};
use chrysalis_gossip::Frame;
use chrysalis_sim::{Faults, Pid};
use chrysalis_types::Timestamp;
use chrysalis_types::codec::Encode;

use crate::harness::{agent, cluster, key_of, settle_membership, sim_config};

fn skill_delta(level: f64) -> AgentState {
    let mut s = AgentState::new();
    s.edit(crate::harness::node_id_of(1))
        .update_skill("forged", level, Timestamp::new(1, 0))
        .commit()
        .expect("valid edit")
}

#[test]
fn bad_signature_and_wrong_author_are_dropped() {
    let mut sim = cluster(3, 11, Faults::none(), &sim_config(3));
    assert!(
        settle_membership(&mut sim, 20_000),
        "{}",
        sim.failure("membership")
    );
    let before = sim.process(Pid(0)).gossip().state_digest();

    // Signed by node 1 but a signature byte flipped.
    let signed = SignedDelta::<AgentState>::sign(&skill_delta(0.9), &key_of(1));
    let mut bytes = Frame::<AgentState>::Deltas(vec![(agent(1), signed.clone())]).to_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    sim.inject(Pid(1), Pid(0), bytes);
    sim.step();
    let stats = sim.process(Pid(0)).gossip().stats().clone();
    assert_eq!(
        stats.bad_signatures,
        1,
        "{}",
        sim.failure("forged signature not counted")
    );

    // Validly signed by node 1, but sent from node 2's address.
    let bytes = Frame::<AgentState>::Deltas(vec![(agent(1), signed.clone())]).to_bytes();
    sim.inject(Pid(2), Pid(0), bytes);
    sim.step();
    assert_eq!(sim.process(Pid(0)).gossip().stats().unknown_authors, 1);
    assert_eq!(
        sim.process(Pid(0)).gossip().state_digest(),
        before,
        "nothing applied"
    );

    // The same delta from its author is applied.
    let bytes = Frame::<AgentState>::Deltas(vec![(agent(1), signed)]).to_bytes();
    sim.inject(Pid(1), Pid(0), bytes);
    sim.step();
    assert_eq!(sim.process(Pid(0)).gossip().stats().deltas_applied, 1);
    assert_ne!(sim.process(Pid(0)).gossip().state_digest(), before);
}

#[test]
fn garbage_frames_are_counted_not_fatal() {
    let mut sim = cluster(2, 12, Faults::none(), &sim_config(2));
    assert!(
        settle_membership(&mut sim, 20_000),
        "{}",
        sim.failure("membership")
    );
    for junk in [
        vec![],
        vec![1],
        vec![1, 77],
        vec![9, 9, 9],
        vec![1, 0, 255, 255, 255, 255],
    ] {
        sim.inject(Pid(1), Pid(0), junk);
        sim.step();
    }
    assert_eq!(sim.process(Pid(0)).gossip().stats().malformed, 5);
    let now = sim.now_ms();
    sim.process_mut(Pid(1))
        .write_skill(agent(3), "ok", 0.1, now);
    assert!(
        crate::harness::run_to_convergence(&mut sim, 10_000).is_some(),
        "{}",
        sim.failure("no convergence")
    );
}
