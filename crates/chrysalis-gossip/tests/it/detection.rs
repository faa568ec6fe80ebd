//! A crashed node is marked down by every live node within a bound derived
//! from foca's configuration.

use chrysalis_gossip::GossipConfig;
use chrysalis_sim::{Faults, Pid};

use crate::harness::{cluster, node_id_of, settle_membership, sim_config};

/// Worst case for every live node to mark a crashed member down: foca probes
/// members round-robin in a shuffled order, so a node probes every member at
/// least once every `2(n−1)` probe periods (the rest of one shuffle plus a
/// whole next one); the failed probe ends within the period (`probe_rtt`
/// then indirect probes), and the member turns down `suspect_to_down_after`
/// later. Learning it by gossip first only makes it sooner.
fn detection_bound_ms(config: &GossipConfig, n: u32) -> u64 {
    let period = config.swim.probe_period.as_millis() as u64;
    let suspicion = config.swim.suspect_to_down_after.as_millis() as u64;
    (2 * u64::from(n - 1) + 1) * period + suspicion
}

fn detect_case(n: u32, seed: u64) -> u64 {
    let config = sim_config(n);
    let faults = Faults {
        loss: 0.02,
        duplicate: 0.01,
        min_delay_ms: 1,
        max_delay_ms: 20,
    };
    let mut sim = cluster(n, seed, faults, &config);
    assert!(
        settle_membership(&mut sim, 60_000),
        "{}",
        sim.failure("membership")
    );
    let victim = Pid(n - 1);
    let victim_id = node_id_of(victim.0);
    for p in sim.pids() {
        sim.process_mut(p).downs_seen.clear();
    }
    let crashed_at = sim.now_ms();
    sim.crash(victim);
    let bound = detection_bound_ms(&config, n);
    let all_saw = |s: &chrysalis_sim::Sim<crate::harness::SimNode>| {
        s.up_pids()
            .all(|p| s.process(p).downs_seen.contains_key(&victim_id))
    };
    while !all_saw(&sim) && sim.now_ms() <= crashed_at + bound {
        sim.run_for(100);
    }
    assert!(
        all_saw(&sim),
        "{}",
        sim.failure(format!(
            "n={n}: not all marked the crash down within {bound} ms"
        ))
    );
    let worst = sim
        .up_pids()
        .map(|p| sim.process(p).downs_seen[&victim_id] - crashed_at)
        .max()
        .unwrap_or(0);
    assert!(
        worst <= bound,
        "{}",
        sim.failure(format!("detection took {worst} ms > {bound} ms"))
    );
    // A down member is reported as such.
    let reported_down = sim.up_pids().all(|p| {
        sim.process(p)
            .gossip()
            .members()
            .iter()
            .all(|m| m.id.node != victim_id || m.state == chrysalis_gossip::MemberState::Down)
    });
    assert!(
        reported_down,
        "{}",
        sim.failure("members() still shows the crashed node active")
    );
    eprintln!(
        "n={n} seed={seed}: all {} live nodes marked the crash down after {worst} ms (bound {bound} ms)",
        n - 1
    );
    worst
}

#[test]
fn crash_is_detected_within_the_bound_ten_nodes() {
    for seed in 1..=4 {
        detect_case(10, seed);
    }
}

#[test]
fn crash_is_detected_within_the_bound_hundred_nodes() {
    for seed in 1..=2 {
        detect_case(100, seed);
    }
}
