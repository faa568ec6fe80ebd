//! The seed suites: the correct engine under every fault, the broken
//! variants caught, replay determinism.

use crate::node::Byzantine;
use crate::scenario::{Setup, Variant, mixed_setup, run};
use chrysalis_consensus::ValidatorIndex;

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
