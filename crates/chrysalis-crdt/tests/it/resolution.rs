//! Conflict detection and resolution, on skills and on plain values.

use crate::model::node;
use chrysalis_crdt::resolver::{Candidate, ConflictKind, ResolveError, Strategy};
use chrysalis_crdt::{AgentState, ConflictResolver, DeltaCrdt, Resolution, VectorClock};
use chrysalis_types::Timestamp;

fn t(ms: u64) -> Timestamp {
    Timestamp::new(ms, 0)
}

fn diverged_skills() -> (AgentState, AgentState) {
    let mut a = AgentState::new();
    let mut b = AgentState::new();
    let da = a
        .edit(node(0))
        .update_skill("rust", 0.9, t(10))
        .commit()
        .unwrap();
    let db = b
        .edit(node(1))
        .update_skill("rust", 0.2, t(11))
        .commit()
        .unwrap();
    a.apply_delta(&db);
    b.apply_delta(&da);
    (a, b)
}

#[test]
fn strategies_pick_as_documented() {
    let cands = vec![
        Candidate::new(0.9, node(0), t(10)),
        Candidate::new(0.2, node(1), t(11)),
        Candidate::new(0.2, node(2), t(5)),
    ];
    let pick = |s: Strategy| {
        let mut r = ConflictResolver::for_levels(s, 0.25);
        r.resolve("rust", &cands).unwrap().value().copied()
    };
    assert_eq!(pick(Strategy::LastWriterWins), Some(0.2));
    assert_eq!(pick(Strategy::FirstWriterWins), Some(0.2));
    assert_eq!(pick(Strategy::MajorityVote), Some(0.2));
    let mean = pick(Strategy::SemanticMerge).unwrap();
    assert!((mean - 1.3 / 3.0).abs() < 1e-12);
    assert_eq!(pick(Strategy::ManualReview), None);
}

#[test]
fn contradictions_are_detected_within_tolerance() {
    let r = ConflictResolver::for_levels(Strategy::LastWriterWins, 0.25);
    let close = [
        Candidate::new(0.5, node(0), t(1)),
        Candidate::new(0.6, node(1), t(2)),
    ];
    assert!(r.detect(&close).is_empty());
    let far = [
        Candidate::new(0.1, node(0), t(1)),
        Candidate::new(0.9, node(1), t(2)),
    ];
    let found = r.detect(&far);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, ConflictKind::DirectContradiction);
}

#[test]
fn stale_and_skewed_candidates_are_causal_ordering_conflicts() {
    let early: VectorClock = [(node(0), 1)].into_iter().collect();
    let late: VectorClock = [(node(0), 2)].into_iter().collect();
    // The causally later write carries the earlier timestamp: clock skew.
    let cands = vec![
        Candidate::new(0.3, node(0), t(50)).with_seen(early),
        Candidate::new(0.7, node(0), t(40)).with_seen(late),
    ];
    let mut r = ConflictResolver::for_levels(Strategy::LastWriterWins, 0.25);
    let conflicts = r.detect(&cands);
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].kind, ConflictKind::CausalOrdering);
    assert!(conflicts[0].note.contains("skew"));
    // The stale candidate is dropped: causality beats the skewed timestamp.
    assert_eq!(r.resolve("rust", &cands).unwrap().value(), Some(&0.7));
}

#[test]
fn invalid_values_and_failed_merges_go_to_review() {
    let mut r = ConflictResolver::<f64>::new(Strategy::SemanticMerge)
        .with_invariant(|v| (0.0..=1.0).contains(v))
        .with_merge(|_| None);
    let cands = vec![
        Candidate::new(1.5, node(0), t(1)),
        Candidate::new(0.4, node(1), t(2)),
    ];
    let Resolution::Queued { ticket, conflicts } = r.resolve("rust", &cands).unwrap() else {
        panic!("expected a review");
    };
    let kinds: Vec<_> = conflicts.iter().map(|c| c.kind).collect();
    assert!(kinds.contains(&ConflictKind::SemanticInconsistency));
    assert!(kinds.contains(&ConflictKind::MergeFailure));
    assert_eq!(r.pending().count(), 1);
    assert_eq!(
        r.settle_with_candidate(ticket, 1),
        Ok(("rust".to_string(), 0.4))
    );
    assert_eq!(r.pending().count(), 0);
    assert_eq!(
        r.settle(ticket, 0.1),
        Err(ResolveError::UnknownTicket(ticket))
    );
    assert!(matches!(
        r.resolve("rust", &[]),
        Err(ResolveError::NoCandidates { .. })
    ));
}

#[test]
fn resolving_skills_collapses_siblings_on_every_replica() {
    let (mut a, mut b) = diverged_skills();
    assert_eq!(a.skills().conflicted().count(), 1);
    let mut resolver = ConflictResolver::for_levels(Strategy::SemanticMerge, 0.25)
        .with_strategy("go", Strategy::ManualReview);
    let (delta, outcomes) = a.resolve_skills(&mut resolver, node(0), t(20)).unwrap();
    assert_eq!(outcomes.len(), 1);
    assert!(matches!(
        &outcomes[0].1,
        Resolution::Resolved { strategy: Strategy::SemanticMerge, conflicts, .. }
            if conflicts[0].kind == ConflictKind::DirectContradiction
    ));
    b.apply_delta(&delta);
    assert_eq!(a, b);
    assert_eq!(b.skills().conflicted().count(), 0);
    let level = b.skills().level("rust").unwrap();
    assert!((level - 0.55).abs() < 1e-12);
}

#[test]
fn manual_review_leaves_siblings_until_settled() {
    let (mut a, mut b) = diverged_skills();
    let mut resolver = ConflictResolver::for_levels(Strategy::ManualReview, 0.25);
    let (delta, outcomes) = a.resolve_skills(&mut resolver, node(0), t(20)).unwrap();
    assert!(matches!(outcomes[0].1, Resolution::Queued { .. }));
    assert_eq!(a.skills().candidates("rust").len(), 2);
    let review = resolver.pending().next().unwrap().clone();
    assert_eq!(review.subject, "rust");
    let (name, level) = resolver.settle(review.ticket, 0.7).unwrap();
    let settle = a
        .edit(node(0))
        .update_skill(&name, level, t(30))
        .commit()
        .unwrap();
    b.apply_delta(&delta);
    b.apply_delta(&settle);
    assert_eq!(b.skills().level("rust"), Some(0.7));
    assert_eq!(b.skills().candidates("rust").len(), 1);
}
