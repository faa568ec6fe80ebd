//! The harness catches bugs: each deliberately broken engine fails within
//! the seed budget, the correct engine passes the same scenarios, and with
//! f+1 faulty validators every disagreement comes with evidence.

use crate::node::Byzantine;
use crate::scenario::{BUSY_CLIENTS_MS, Setup, Variant, keys, run, run_split};
use chrysalis_consensus::{Validator, ValidatorSet, ValidatorSetError};

/// Seeds each variant gets.
const BUDGET: u64 = 20;

fn twins(validators: usize, twins: Vec<usize>, declared_f: u64, variant: Variant) -> Setup {
    Setup {
        validators,
        twins,
        byzantine: vec![],
        amnesia: vec![],
        variant,
        declared_f,
        wait_for_txs: false,
        client_period_ms: BUSY_CLIENTS_MS,
    }
}

fn forger(variant: Variant) -> Setup {
    let byz = Byzantine {
        forge: true,
        ..Byzantine::default()
    };
    Setup {
        validators: 4,
        twins: vec![],
        byzantine: vec![(3, byz)],
        amnesia: vec![],
        variant,
        declared_f: 1,
        wait_for_txs: false,
        client_period_ms: BUSY_CLIENTS_MS,
    }
}

/// The first seed in the budget whose run fails, with its message.
fn first_failure(run_one: impl Fn(u64) -> Result<(), String>) -> Option<(u64, String)> {
    (0..BUDGET).find_map(|seed| run_one(seed).err().map(|e| (seed, e)))
}

fn all_pass(name: &str, run_one: impl Fn(u64) -> Result<(), String>) {
    if let Some((seed, e)) = first_failure(run_one) {
        panic!("correct engine failed the {name} scenario: {e} (seed={seed})");
    }
}

#[test]
fn three_f_validators_is_refused_and_the_broken_acceptance_is_caught() {
    let vals: Vec<Validator> = keys(6)
        .iter()
        .map(|k| Validator {
            key: k.verification_key(),
            power: 1,
        })
        .collect();
    assert_eq!(
        ValidatorSet::tolerating(vals, 2),
        Err(ValidatorSetError::TooFewForFaults {
            total_power: 6,
            faulty_power: 2
        })
    );
    let broken = twins(6, vec![0, 1], 2, Variant::ThreeF);
    let caught = first_failure(|s| {
        run_split(s, &broken, false)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let (seed, msg) = caught.expect("the n = 3f engine survived every seed");
    assert!(msg.contains("disagreement"), "seed {seed}: {msg}");
    // The correct engine with the smallest valid set for f = 2 (n = 7).
    let correct = twins(7, vec![0, 1], 2, Variant::Correct);
    all_pass("twins split (n=7, f=2)", |s| {
        run_split(s, &correct, false)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
}

#[test]
fn a_majority_quorum_is_caught() {
    let broken = twins(7, vec![0, 1], 2, Variant::HalfQuorum);
    let caught = first_failure(|s| {
        run_split(s, &broken, false)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let (seed, msg) = caught.expect("the n/2 quorum engine survived every seed");
    assert!(msg.contains("disagreement"), "seed {seed}: {msg}");
    let correct = twins(7, vec![0, 1], 2, Variant::Correct);
    all_pass("twins split (n=7, f=2)", |s| {
        run_split(s, &correct, false)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
}

#[test]
fn skipping_signature_checks_is_caught() {
    let broken = forger(Variant::SkipSignatures);
    let caught = first_failure(|s| {
        run(s, &broken, 1_000, 1_500, false)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let (seed, msg) = caught.expect("the unsigned engine survived every seed");
    assert!(
        msg.contains("invalid transaction")
            || msg.contains("nobody proposed")
            || msg.contains("disagreement"),
        "seed {seed}: {msg}"
    );
    let correct = forger(Variant::Correct);
    all_pass("forger", |s| {
        run(s, &correct, 1_000, 1_500, false)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
}

/// f+1 twins (n = 4, two validators doubled) can break agreement; the
/// checker accepts a disagreement only with double-sign evidence, and at
/// least one seed must actually disagree (or the test proves nothing).
#[test]
fn f_plus_one_twins_disagree_only_with_evidence() {
    let setup = twins(4, vec![0, 1], 1, Variant::Correct);
    let mut disagreed = 0;
    for seed in 0..BUDGET {
        match run_split(seed, &setup, true) {
            Ok(o) => disagreed += o.disagreements,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        disagreed > 0,
        "f+1 twins never broke agreement: the scenario is too weak"
    );
}
