use std::sync::Arc;

use super::*;
use crate::model::{Flow, RetryPolicy};
use crate::validate::AnyHandler;

fn plan(flow: &Flow) -> Arc<Plan> {
    Arc::new(Plan::new(flow, &AnyHandler).unwrap())
}

fn name(planner: &Planner, r: &StepRequest) -> String {
    planner.plan().node(r.node).name.to_string()
}

/// Drains the queue, returning the requested node names.
fn drain(planner: &mut Planner) -> Vec<(String, StepRequest)> {
    let requests: Vec<StepRequest> = std::iter::from_fn(|| planner.next_request()).collect();
    requests
        .into_iter()
        .map(|r| (name(planner, &r), r))
        .collect()
}

fn diamond() -> Flow {
    let mut f = Flow::new("diamond");
    f.add_node("s", Kind::Start, "noop");
    f.add_node("f", Kind::Fork, "noop");
    f.add_node("a", Kind::Task, "noop");
    f.add_node("b", Kind::Task, "noop");
    f.add_node("j", Kind::Join, "noop");
    f.add_node("e", Kind::End, "noop");
    for (x, y) in [
        ("s", "f"),
        ("f", "a"),
        ("f", "b"),
        ("a", "j"),
        ("b", "j"),
        ("j", "e"),
    ] {
        f.add_edge(x, y);
    }
    f
}

#[test]
fn fork_releases_all_branches_and_join_waits_for_all() {
    let mut p = Planner::new(plan(&diamond()));
    let start = drain(&mut p);
    assert_eq!(start.len(), 1);
    p.succeeded(start[0].1.step, None).unwrap();
    let fork = drain(&mut p);
    p.succeeded(fork[0].1.step, None).unwrap();
    let branches = drain(&mut p);
    let names: Vec<&str> = branches.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a", "b"], "both branches may run at once");
    p.succeeded(branches[0].1.step, None).unwrap();
    assert!(drain(&mut p).is_empty(), "join waits for the second branch");
    p.succeeded(branches[1].1.step, None).unwrap();
    let join = drain(&mut p);
    assert_eq!(join[0].0, "j");
    p.succeeded(join[0].1.step, None).unwrap();
    let end = drain(&mut p);
    p.succeeded(end[0].1.step, None).unwrap();
    let e = p.plan().index_of("e").unwrap();
    assert_eq!(p.outcome(), Some(Outcome::Completed { end: e }));
    assert_eq!(p.next_request(), None);
}

fn decision_loop(bound: u32) -> Flow {
    let mut f = Flow::new("loop");
    f.add_node("s", Kind::Start, "noop");
    f.add_node("w", Kind::Task, "noop").max_iterations(bound);
    f.add_node("d", Kind::Decision, "choose");
    f.add_node("e", Kind::End, "noop");
    f.add_edge("s", "w");
    f.add_edge("w", "d");
    f.add_edge("d", "w").when("again");
    f.add_edge("d", "e").default_branch();
    f
}

/// Runs to the end, answering every decision with `branch`.
fn run_all(p: &mut Planner, branch: Option<&str>) -> Vec<String> {
    let mut trail = Vec::new();
    while let Some(r) = p.next_request() {
        trail.push(name(p, &r));
        p.succeeded(r.step, branch).unwrap();
    }
    trail
}

#[test]
fn decision_follows_label_then_default() {
    let mut p = Planner::new(plan(&decision_loop(5)));
    assert_eq!(run_all(&mut p, Some("done")), ["s", "w", "d", "e"]);
    assert!(matches!(p.outcome(), Some(Outcome::Completed { .. })));
}

#[test]
fn loop_bound_stops_a_runaway_cycle() {
    let mut p = Planner::new(plan(&decision_loop(2)));
    assert_eq!(run_all(&mut p, Some("again")), ["s", "w", "d", "w", "d"]);
    let w = p.plan().index_of("w").unwrap();
    assert_eq!(
        p.outcome(),
        Some(Outcome::Failed {
            node: w,
            cause: FailureCause::LoopBound { max_iterations: 2 }
        })
    );
}

#[test]
fn retries_back_off_then_give_up() {
    let mut f = Flow::new("retry");
    f.add_node("s", Kind::Start, "noop");
    f.add_node("t", Kind::Task, "flaky")
        .retry(RetryPolicy::new(3, 10));
    f.add_node("e", Kind::End, "noop");
    f.add_edge("s", "t");
    f.add_edge("t", "e");
    let mut p = Planner::new(plan(&f));
    let s = p.next_request().unwrap();
    p.succeeded(s.step, None).unwrap();
    let first = p.next_request().unwrap();
    let AfterFailure::Retry(second) = p.failed(first.step).unwrap() else {
        panic!("retry")
    };
    assert_eq!((second.attempt, second.delay_ms), (2, 10));
    assert_eq!(p.next_request(), Some(second));
    let AfterFailure::Retry(third) = p.failed(second.step).unwrap() else {
        panic!("retry")
    };
    assert_eq!((third.attempt, third.delay_ms), (3, 20));
    p.next_request().unwrap();
    assert_eq!(p.failed(third.step).unwrap(), AfterFailure::GiveUp);
    assert_eq!(
        p.outcome(),
        Some(Outcome::Failed {
            node: third.node,
            cause: FailureCause::Handler { attempts: 3 }
        })
    );
    assert_eq!(
        p.failed(third.step),
        Err(PlannerError::UnknownStep(third.step))
    );
}

#[test]
fn unknown_steps_are_refused() {
    let mut p = Planner::new(plan(&diamond()));
    assert_eq!(
        p.succeeded(StepId(99), None),
        Err(PlannerError::UnknownStep(StepId(99)))
    );
    let s = p.next_request().unwrap();
    p.succeeded(s.step, None).unwrap();
    assert_eq!(
        p.succeeded(s.step, None),
        Err(PlannerError::UnknownStep(s.step))
    );
}
