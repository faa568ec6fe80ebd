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

mod structured {
    //! Random series-parallel flows (sequences, fork/join blocks, decisions that
    //! merge again) must validate cleanly, and every schedule of completions must
    //! run each reached node once, start joins only after all their branches, and
    //! complete.

    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;
    use crate::validate::validate;

    #[derive(Debug, Clone)]
    enum Shape {
        Task,
        Seq(Vec<Shape>),
        Par(Vec<Shape>),
        Choice(Vec<Shape>),
    }

    fn shape() -> impl Strategy<Value = Shape> {
        Just(Shape::Task).prop_recursive(4, 40, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 1..4).prop_map(Shape::Seq),
                proptest::collection::vec(inner.clone(), 2..4).prop_map(Shape::Par),
                proptest::collection::vec(inner, 2..4).prop_map(Shape::Choice),
            ]
        })
    }

    /// Adds `shape` after `entry`; returns the name of its exit node.
    fn build(shape: &Shape, flow: &mut Flow, entry: &str) -> String {
        let fresh = |prefix: &str, kind: Kind, flow: &mut Flow| {
            let name = format!("{prefix}{}", flow.nodes.len());
            flow.add_node(&name, kind, "noop");
            name
        };
        match shape {
            Shape::Task => {
                let t = fresh("t", Kind::Task, flow);
                flow.add_edge(entry, &t);
                t
            }
            Shape::Seq(parts) => {
                let mut at = entry.to_owned();
                for part in parts {
                    at = build(part, flow, &at);
                }
                at
            }
            Shape::Par(branches) | Shape::Choice(branches) => {
                let (open, close) = match shape {
                    Shape::Par(_) => (Kind::Fork, Kind::Join),
                    _ => (Kind::Decision, Kind::Task),
                };
                let split = fresh("s", open, flow);
                flow.add_edge(entry, &split);
                let exits: Vec<String> = branches.iter().map(|b| build(b, flow, &split)).collect();
                let merge = fresh("m", close, flow);
                for exit in exits {
                    flow.add_edge(&exit, &merge);
                }
                merge
            }
        }
    }

    fn structured_flow(shape: &Shape) -> Flow {
        let mut flow = Flow::new("structured");
        flow.add_node("start", Kind::Start, "noop");
        let exit = build(shape, &mut flow, "start");
        flow.add_node("end", Kind::End, "noop");
        flow.add_edge(&exit, "end");
        // Label the edges out of each decision: the first is the default.
        let decisions: BTreeSet<String> = flow
            .nodes
            .iter()
            .filter(|n| n.kind == Kind::Decision)
            .map(|n| n.name.to_string())
            .collect();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for edge in &mut flow.edges {
            if decisions.contains(edge.from.as_str()) {
                let k = seen.entry(edge.from.to_string()).or_default();
                if *k == 0 {
                    edge.default = true;
                } else {
                    edge.condition = Some(format!("b{k}"));
                }
                *k += 1;
            }
        }
        flow
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn every_schedule_completes(shape in shape(), picks in proptest::collection::vec(0usize..64, 1..64)) {
            let flow = structured_flow(&shape);
            let report = validate(&flow, &AnyHandler);
            prop_assert!(report.is_empty(), "{}", report);
            let plan = Arc::new(Plan::new(&flow, &AnyHandler).unwrap());
            let mut preds: Vec<Vec<NodeIndex>> = vec![Vec::new(); flow.nodes.len()];
            for e in &flow.edges {
                let (a, b) = (plan.index_of(e.from.as_str()).unwrap(), plan.index_of(e.to.as_str()).unwrap());
                preds[b.get()].push(a);
            }
            let mut p = Planner::new(Arc::clone(&plan));
            let mut running: Vec<StepRequest> = Vec::new();
            let mut runs = vec![0u32; flow.nodes.len()];
            let mut turn = 0usize;
            loop {
                while let Some(r) = p.next_request() {
                    let node = plan.node(r.node);
                    if node.kind == Kind::Join {
                        for pred in &preds[r.node.get()] {
                            prop_assert_eq!(runs[pred.get()], 1, "join {} before {}", node.name, plan.node(*pred).name);
                        }
                    }
                    running.push(r);
                }
                if running.is_empty() {
                    break;
                }
                let pick = picks[turn % picks.len()];
                turn += 1;
                let r = running.swap_remove(pick % running.len());
                runs[r.node.get()] += 1;
                let label = format!("b{}", pick % 4);
                p.succeeded(r.step, Some(&label)).unwrap();
            }
            prop_assert!(matches!(p.outcome(), Some(Outcome::Completed { .. })), "{:?}", p.outcome());
            prop_assert!(runs.iter().all(|&n| n <= 1), "a node ran twice: {:?}", runs);
        }
    }
}
