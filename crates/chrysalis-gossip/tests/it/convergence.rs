//! After quiescence every live node holds the same state, under loss,
//! duplication, reordering, partitions, crashes and wipes; a round sends at
//! most `fanout` digests; a single write reaches everyone in O(log n) rounds.

use chrysalis_sim::{Faults, Pid, Sim, SimRng};

use crate::harness::{
    SimNode, agent, cluster, digests, run_to_convergence, settle_membership, sim_config,
    single_write_rounds,
};

fn faulty() -> Faults {
    Faults {
        loss: 0.05,
        duplicate: 0.02,
        min_delay_ms: 1,
        max_delay_ms: 40,
    }
}

/// Random skill and episode writes at random up nodes, `writes` of them over
/// `span_ms`.
fn random_writes(sim: &mut Sim<SimNode>, rng: &mut SimRng, writes: u32, span_ms: u64, agents: u32) {
    let step = span_ms / u64::from(writes.max(1));
    for w in 0..writes {
        sim.run_for(step);
        let up: Vec<Pid> = sim.up_pids().collect();
        let who = up[rng.below(up.len() as u64) as usize];
        let a = agent(rng.below(u64::from(agents)) as u32);
        let now = sim.now_ms();
        let node = sim.process_mut(who);
        if rng.chance(0.5) {
            node.write_skill(
                a,
                ["rust", "go", "zig"][w as usize % 3],
                rng.unit_f64(),
                now,
            );
        } else {
            node.write_episode(a, u64::from(w), "did a thing", now);
        }
    }
}

fn assert_fanout(sim: &Sim<SimNode>) {
    for p in sim.pids() {
        let t = sim.process(p).traffic;
        let k = sim.process(p).config.fanout as u64;
        assert!(
            t.max_digests <= k,
            "{}: {p} sent {} digests in a round",
            sim.failure(""),
            t.max_digests
        );
    }
}

fn converge_case(n: u32, seed: u64, writes: u32) {
    let config = sim_config(n);
    let mut sim = cluster(n, seed, faulty(), &config);
    assert!(
        settle_membership(&mut sim, 60_000),
        "{}",
        sim.failure("membership did not settle")
    );
    let mut rng = SimRng::new(seed);
    random_writes(&mut sim, &mut rng, writes, 5_000, 8);
    let took = run_to_convergence(&mut sim, 30_000);
    assert!(
        took.is_some(),
        "{}",
        sim.failure(format!("{} distinct states", digests(&sim).len()))
    );
    assert_fanout(&sim);
    let applied: u64 = sim
        .pids()
        .map(|p| sim.process(p).gossip().stats().deltas_applied)
        .sum();
    assert!(applied > 0, "{}", sim.failure("nothing was gossiped"));
}

#[test]
fn ten_nodes_converge_under_faults() {
    for seed in 1..=5 {
        converge_case(10, seed, 40);
    }
}

#[test]
fn hundred_nodes_converge_under_faults() {
    for seed in 1..=3 {
        converge_case(100, seed, 30);
    }
}

#[test]
fn single_write_spreads_in_logarithmic_rounds() {
    for (n, seeds) in [(10u32, 1..=4u64), (100, 1..=3)] {
        for seed in seeds {
            let config = sim_config(n);
            let mut sim = cluster(n, seed, Faults::default(), &config);
            assert!(
                settle_membership(&mut sim, 60_000),
                "{}",
                sim.failure("membership")
            );
            let rounds = single_write_rounds(&mut sim, Pid(n / 2), agent(42), 20_000);
            let bound = 2.0 * f64::from(n).log2();
            let rounds = rounds.unwrap_or_else(|| panic!("{}", sim.failure("write never spread")));
            assert!(
                (rounds as f64) <= bound,
                "{}",
                sim.failure(format!("n={n}: {rounds} rounds > {bound}"))
            );
            eprintln!(
                "n={n} seed={seed}: single write reached all in {rounds} rounds (log2 n = {:.1})",
                f64::from(n).log2()
            );
        }
    }
}

#[test]
fn partition_heals_to_one_state() {
    for seed in 1..=3 {
        let config = sim_config(10);
        let mut sim = cluster(10, seed, faulty(), &config);
        assert!(
            settle_membership(&mut sim, 30_000),
            "{}",
            sim.failure("membership")
        );
        let left: Vec<Pid> = (0..5).map(Pid).collect();
        let right: Vec<Pid> = (5..10).map(Pid).collect();
        sim.partition(&[left, right]);
        let mut rng = SimRng::new(seed);
        random_writes(&mut sim, &mut rng, 20, 4_000, 4);
        sim.run_for(5_000);
        assert!(
            digests(&sim).len() > 1,
            "{}",
            sim.failure("halves should differ while partitioned")
        );
        sim.heal();
        let took = run_to_convergence(&mut sim, 60_000);
        assert!(
            took.is_some(),
            "{}",
            sim.failure("no convergence after heal")
        );
    }
}

#[test]
fn one_way_block_still_converges() {
    let seed = 4;
    let config = sim_config(6);
    let mut sim = cluster(6, seed, faulty(), &config);
    assert!(
        settle_membership(&mut sim, 30_000),
        "{}",
        sim.failure("membership")
    );
    sim.block_one_way(&[Pid(1)], &[Pid(2), Pid(3)]);
    let mut rng = SimRng::new(seed);
    random_writes(&mut sim, &mut rng, 15, 3_000, 4);
    assert!(
        run_to_convergence(&mut sim, 60_000).is_some(),
        "{}",
        sim.failure("no convergence")
    );
}

#[test]
fn crashed_node_catches_up_after_restart() {
    for seed in 1..=3 {
        let config = sim_config(8);
        let mut sim = cluster(8, seed, faulty(), &config);
        assert!(
            settle_membership(&mut sim, 30_000),
            "{}",
            sim.failure("membership")
        );
        let mut rng = SimRng::new(seed);
        random_writes(&mut sim, &mut rng, 10, 2_000, 4);
        sim.crash(Pid(3));
        random_writes(&mut sim, &mut rng, 10, 2_000, 4);
        sim.run_for(10_000);
        sim.restart(Pid(3));
        assert!(
            run_to_convergence(&mut sim, 60_000).is_some(),
            "{}",
            sim.failure("no convergence after restart")
        );
    }
}

#[test]
fn wiped_node_streams_a_large_state_in_chunks() {
    let seed = 9;
    let mut config = sim_config(4);
    config.max_message_bytes = 4_096;
    config.max_reply_frames = 2;
    let mut sim = cluster(4, seed, faulty(), &config);
    assert!(
        settle_membership(&mut sim, 30_000),
        "{}",
        sim.failure("membership")
    );
    // One agent with ~40 KB of episodes: ten times a frame.
    for i in 0..200 {
        let now = sim.now_ms();
        sim.process_mut(Pid(1))
            .write_episode(agent(7), i, &"x".repeat(150), now);
    }
    assert!(
        run_to_convergence(&mut sim, 60_000).is_some(),
        "{}",
        sim.failure("no convergence")
    );
    sim.wipe(Pid(2));
    sim.run_for(1_000);
    sim.restart(Pid(2));
    assert!(
        run_to_convergence(&mut sim, 120_000).is_some(),
        "{}",
        sim.failure("wiped node never caught up")
    );
    let stats = sim.process(Pid(2)).gossip().stats().clone();
    assert!(stats.chunks_received > 0, "{}", sim.failure("no chunks"));
    assert!(
        stats.transfers_completed > 0,
        "{}",
        sim.failure("no transfer completed")
    );
    for p in sim.pids() {
        let s = sim.process(p).gossip().stats();
        assert!(s.bytes_sent / s.frames_sent.max(1) <= 4_096);
    }
}

#[test]
fn same_seed_same_run() {
    let run = |seed| {
        let config = sim_config(6);
        let mut sim = cluster(6, seed, faulty(), &config);
        sim.run_for(3_000);
        sim.process_mut(Pid(2))
            .write_skill(agent(1), "rust", 0.7, 3_000);
        sim.run_for(3_000);
        (sim.trace_hash(), digests(&sim))
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5).0, run(6).0);
}

#[test]
fn acknowledged_versions_make_writes_stable_and_gc_runs() {
    let seed = 21;
    let config = sim_config(6);
    let mut sim = cluster(6, seed, faulty(), &config);
    assert!(
        settle_membership(&mut sim, 30_000),
        "{}",
        sim.failure("membership")
    );
    let mut rng = SimRng::new(seed);
    random_writes(&mut sim, &mut rng, 12, 2_000, 3);
    assert!(
        run_to_convergence(&mut sim, 30_000).is_some(),
        "{}",
        sim.failure("no convergence")
    );
    // Quiet rounds: every member's digests reach every other one.
    sim.run_for(20_000);
    for p in sim.up_pids() {
        let node = sim.process(p).gossip();
        assert!(node.stats().gc_runs > 0, "{}", sim.failure("gc never ran"));
        for (a, state) in node.agents() {
            let stable = node.stable_version(a);
            assert_eq!(
                stable,
                state.version(),
                "{}",
                sim.failure(format!("{p}: {a} not stable"))
            );
        }
    }
    // Stability is the meet: with a member that has not acknowledged a new
    // write, it is not stable.
    let now = sim.now_ms();
    sim.process_mut(Pid(0))
        .write_skill(agent(0), "fresh", 0.3, now);
    let node = sim.process(Pid(0)).gossip();
    let state = node.state(&agent(0)).unwrap();
    assert_ne!(node.stable_version(&agent(0)), state.version());
}

/// A cluster started from a static member list. Default 30 nodes; set
/// `CHRYSALIS_SIM_NODES=1000` (in a release build:
/// `cargo test --release -p chrysalis-gossip --test it static_member`) for
/// the 1,000-node soak.
#[test]
fn static_member_list_cluster_converges_under_faults() {
    let n: u32 = std::env::var("CHRYSALIS_SIM_NODES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    for seed in 1..=2 {
        let config = sim_config(n);
        let mut sim = crate::harness::preloaded_cluster(n, seed, faulty(), &config);
        assert!(
            settle_membership(&mut sim, 30_000),
            "{}",
            sim.failure("membership")
        );
        let mut rng = SimRng::new(seed);
        random_writes(&mut sim, &mut rng, 20, 3_000, 6);
        let took = run_to_convergence(&mut sim, 60_000);
        assert!(
            took.is_some(),
            "{}",
            sim.failure(format!("n={n}: {} distinct states", digests(&sim).len()))
        );
        assert_fanout(&sim);
        eprintln!(
            "n={n} seed={seed}: converged {} ms after the last write",
            took.unwrap_or(0)
        );
    }
}
