//! The seed suites: the correct engine under every fault, the broken
//! variants caught, replay determinism.

use crate::checker::Checker;
use crate::node::{Byzantine, Node};
use crate::scenario::{
    BUSY_CLIENTS_MS, Setup, Variant, build, build_with, config, mixed_setup, run,
};
use chrysalis_consensus::{Message, Tx, ValidatorIndex};
use chrysalis_sim::{Faults, Pid, Sim};

/// Seeds per suite: `CHRYSALIS_SOAK_SEEDS` (total over the four mixed
/// suites) or 1,000 by default.
fn seeds_per_suite() -> u64 {
    std::env::var("CHRYSALIS_SOAK_SEEDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1_000)
        / 4
}

const HEAL_MS: u64 = 1_500;
const SETTLE_MS: u64 = 2_500;

fn mixed_suite(part: u64) {
    let per = seeds_per_suite();
    let mut failures = Vec::new();
    for seed in part * per..(part + 1) * per {
        let setup = mixed_setup(seed);
        if let Err(e) = run(seed, &setup, HEAL_MS, SETTLE_MS, false) {
            eprintln!("{e}\n  setup: {setup:?}\n  replay: CHRYSALIS_DEBUG_SEED={seed}");
            failures.push(seed);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {per} seeds failed: {failures:?}",
        failures.len()
    );
}

#[test]
fn mixed_faults_seeds_part_0() {
    mixed_suite(0);
}

#[test]
fn mixed_faults_seeds_part_1() {
    mixed_suite(1);
}

#[test]
fn mixed_faults_seeds_part_2() {
    mixed_suite(2);
}

#[test]
fn mixed_faults_seeds_part_3() {
    mixed_suite(3);
}

#[test]
fn same_seed_same_trace_hash() {
    let setup = mixed_setup(7);
    let a = run(7, &setup, HEAL_MS, SETTLE_MS, false).unwrap();
    let b = run(7, &setup, HEAL_MS, SETTLE_MS, false).unwrap();
    assert_eq!(a.trace, b.trace);
    assert_eq!(a.max_height, b.max_height);
    assert_eq!((a.steps, a.delivered), (b.steps, b.delivered));
    assert!(a.max_height.0 >= 2, "the run decided almost nothing");
    let c = run(8, &setup, HEAL_MS, SETTLE_MS, false).unwrap();
    assert_ne!(a.trace, c.trace);
}

/// A double-voting validator is accused by the honest engines' evidence,
/// and nobody else is.
#[test]
fn double_voters_are_accused_and_only_they() {
    let setup = Setup {
        validators: 4,
        twins: vec![],
        byzantine: vec![(
            2,
            Byzantine {
                double_vote: true,
                ..Byzantine::default()
            },
        )],
        amnesia: vec![],
        variant: Variant::Correct,
        declared_f: 1,
        wait_for_txs: false,
        client_period_ms: BUSY_CLIENTS_MS,
    };
    let mut accused_somewhere = false;
    for seed in 0..5 {
        let o = run(seed, &setup, 500, 1_500, false).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            o.accused.iter().all(|v| *v == ValidatorIndex(2)),
            "seed={seed}: {:?}",
            o.accused
        );
        accused_somewhere |= o.accused.contains(&ValidatorIndex(2));
    }
    assert!(accused_somewhere, "the double voter was never caught");
}

/// Replays one mixed-family seed and prints each node's state at the heal
/// and at the end: `CHRYSALIS_DEBUG_SEED=<seed> cargo test -p
/// chrysalis-consensus --test it replay_one_seed -- --nocapture` (seed 0
/// without the variable).
#[test]
fn replay_one_seed() {
    let seed = std::env::var("CHRYSALIS_DEBUG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let setup = mixed_setup(seed);
    let result = crate::scenario::run_inspect(seed, &setup, HEAL_MS, SETTLE_MS, |sim| {
        for pid in sim.pids() {
            let n = sim.process(pid);
            let desc = n.engine.as_ref().map(|e| e.describe()).unwrap_or_default();
            eprintln!("{pid} up={} log={} {desc}", sim.is_up(pid), n.height());
        }
    });
    if let Err(e) = result {
        panic!("{e}\n  setup: {setup:?}");
    }
}

/// Four honest validators that wait for transactions, with no clients.
fn idle_setup() -> Setup {
    Setup {
        validators: 4,
        twins: vec![],
        byzantine: vec![],
        amnesia: vec![],
        variant: Variant::Correct,
        declared_f: 1,
        wait_for_txs: true,
        client_period_ms: 0,
    }
}

/// With `wait_for_txs`, idle validators decide nothing; one client
/// transaction at one validator (forwarded to the others) is decided by
/// every validator, after which they are idle again; a transaction a peer
/// forwarded to a single validator wakes the whole set too. Lossy,
/// reordering network throughout.
#[test]
fn idle_validators_decide_only_when_transactions_wait() {
    let setup = idle_setup();
    let faults = Faults {
        loss: 0.05,
        duplicate: 0.05,
        min_delay_ms: 1,
        max_delay_ms: 20,
    };
    for seed in 0..20u64 {
        let (mut sim, set) = build(seed, &setup, faults);
        let client = Pid(seed as u32 % 4);
        sim.crash(client);
        let node = sim.process_mut(client);
        node.client_period_ms = 2_000;
        node.client_max = 1;
        sim.restart(client);
        let mut checker = Checker::new(set, 4);
        let heights = |sim: &Sim<Node>| -> Vec<u64> {
            sim.pids().map(|p| sim.process(p).height().0).collect()
        };
        let expect = |sim: &Sim<Node>, want: u64, what: &str| {
            let got = heights(sim);
            if got.iter().any(|h| *h != want) {
                panic!(
                    "{}",
                    sim.failure(format!("{what}: heights {got:?}, want {want}"))
                );
            }
        };
        sim.run_until(1_900, |s| checker.check(s))
            .unwrap_or_else(|e| panic!("{e}"));
        expect(&sim, 0, "decided while idle");
        sim.run_until(6_000, |s| checker.check(s))
            .unwrap_or_else(|e| panic!("{e}"));
        expect(&sim, 1, "one transaction, one height");
        let one_tx = sim.pids().all(|p| {
            let d = &sim.process(p).decided;
            d.last()
                .is_some_and(|(_, _, block, _)| block.txs.len() == 1)
        });
        assert!(
            one_tx,
            "seed={seed}: the height did not carry the transaction"
        );
        // Known to one validator only (forwarded transactions are not
        // forwarded again): its votes wake the others. A woken proposer
        // with an empty pool may decide an empty height first.
        let (from, to) = (Pid((seed as u32 + 1) % 4), Pid((seed as u32 + 2) % 4));
        let tx = Tx(vec![0x01, 0x77, 0x77]);
        sim.inject(from, to, Message::Txs(vec![tx.clone()]));
        sim.run_until(10_000, |s| checker.check(s))
            .unwrap_or_else(|e| panic!("{e}"));
        let settled = heights(&sim);
        let everywhere = sim.pids().all(|p| {
            let d = &sim.process(p).decided;
            d.iter().any(|(_, _, block, _)| block.txs.contains(&tx))
        });
        if !everywhere || settled[0] < 2 {
            panic!(
                "{}",
                sim.failure(format!(
                    "the forwarded transaction was not decided everywhere: heights {settled:?}"
                ))
            );
        }
        expect(&sim, settled[0], "heights differ after settling");
        sim.run_until(13_000, |s| checker.check(s))
            .unwrap_or_else(|e| panic!("{e}"));
        expect(&sim, settled[0], "decided again with nothing to decide");
    }
}

/// With a heartbeat (`empty_block_interval_ms`), idle validators decide an
/// empty height each interval, and agree on them.
#[test]
fn idle_validators_with_a_heartbeat_decide_empty_heights() {
    let setup = idle_setup();
    let cfg = chrysalis_consensus::EngineConfig {
        wait_for_txs: true,
        empty_block_interval_ms: 500,
        ..config()
    };
    for seed in 0..5u64 {
        let (mut sim, set) = build_with(seed, &setup, Faults::lossy(), cfg.clone());
        let mut checker = Checker::new(set, 4);
        sim.run_until(5_000, |s| checker.check(s))
            .unwrap_or_else(|e| panic!("{e}"));
        for p in sim.pids() {
            let node = sim.process(p);
            // About one height per interval (ten intervals), all empty.
            let h = node.height().0;
            if !(4..=10).contains(&h) || node.decided.iter().any(|d| !d.2.txs.is_empty()) {
                panic!(
                    "{}",
                    sim.failure(format!(
                        "{p} decided {h} heights: {:?}",
                        node.decided
                            .iter()
                            .map(|d| d.2.txs.len())
                            .collect::<Vec<_>>()
                    ))
                );
            }
        }
    }
}
