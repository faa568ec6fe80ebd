//! Law-checker tests: a lawful operad passes, broken ones are caught with
//! minimal counterexamples.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::faulty::{BreadthFirstSlots, WrappedIdentity};
use crate::*;

fn config(samples: usize) -> LawCheckConfig {
    LawCheckConfig {
        samples,
        ..LawCheckConfig::default()
    }
}

#[test]
fn plan_operad_is_lawful() {
    let mut rng = StdRng::seed_from_u64(42);
    let report = check_laws(&PlanOperad::new(), &mut rng, config(500)).unwrap();
    assert_eq!(report.samples, 500);
    // Left identity is never vacuous, so at least one instance per sample.
    assert!(report.instances > 1000, "{report:?}");
}

#[test]
fn wrapped_identity_is_caught_with_minimal_counterexample() {
    let mut rng = StdRng::seed_from_u64(7);
    let err = check_laws(&WrappedIdentity::new(), &mut rng, config(100)).unwrap_err();
    let LawCheckError::Violated { violation, .. } = err;
    assert_eq!(violation.law, Law::LeftIdentity);
    assert_eq!(violation.sample.f, Plan::Input);
    assert_eq!(violation.left, Ok(Plan::step("noop", vec![Plan::Input])));
    assert_eq!(violation.right, Ok(Plan::Input));
    assert_eq!(
        violation.to_string(),
        "left_identity fails with f = _, slots []: left = Ok(noop(_)), right = Ok(_)"
    );
}

#[test]
fn breadth_first_slots_break_associativity_minimally() {
    let operad = BreadthFirstSlots::new();
    let mut rng = StdRng::seed_from_u64(7);
    let err = check_laws(&operad, &mut rng, config(500)).unwrap_err();
    let LawCheckError::Violated {
        violation,
        shrink_steps,
    } = err;
    assert!(matches!(
        violation.law,
        Law::SequentialAssociativity | Law::ParallelAssociativity
    ));
    assert!(shrink_steps > 0);
    // Smallest shape that tells breadth first from depth first: slots at
    // two depths, so f plus g (and h) are tiny.
    let s = &violation.sample;
    let total = s.f.node_count() + s.g.node_count() + s.h.node_count();
    assert!(total <= 8, "not minimal: {violation}");
    // Local minimality: every smaller candidate satisfies the law.
    for f in operad.shrink(&s.f) {
        let smaller = Sample { f, ..s.clone() };
        assert!(
            check_sample(&operad, &smaller).is_ok()
                || check_sample(&operad, &smaller).unwrap_err().law != violation.law,
            "shrinkable further: {violation}"
        );
    }
}

#[test]
fn same_seed_same_verdict() {
    let run = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        check_laws(&BreadthFirstSlots::new(), &mut rng, config(500))
    };
    assert_eq!(run(3), run(3));
}

#[test]
fn out_of_range_slot_is_a_typed_error() {
    let op = PlanOperad::new();
    assert_eq!(
        op.compose(&Plan::Input, 1, &Plan::Input),
        Err(ComposeError::SlotOutOfRange { slot: 1, arity: 1 })
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The plan operad passes from any seed.
    #[test]
    fn plan_operad_lawful_from_any_seed(seed in any::<u64>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        prop_assert!(check_laws(&PlanOperad::new(), &mut rng, config(64)).is_ok());
    }
}
