use std::sync::Arc;
use std::time::Duration;

use chrysalis_flow::{AnyHandler, Flow, Format, Kind, ParamValue, Plan, RetryPolicy, load};
use tokio::sync::{Barrier, mpsc, oneshot};

use super::*;
use crate::handler::HandlerError;
use crate::sink::MemorySink;

/// start -> fork -> {a, b} -> join -> end, with `a` and `b` running `branch`.
fn parallel_flow(branch: &str) -> Flow {
    let mut f = Flow::new("parallel");
    f.add_node("start", Kind::Start, "noop");
    f.add_node("fork", Kind::Fork, "noop");
    f.add_node("a", Kind::Task, branch);
    f.add_node("b", Kind::Task, branch);
    f.add_node("join", Kind::Join, "noop");
    f.add_node("end", Kind::End, "noop");
    for (x, y) in [
        ("start", "fork"),
        ("fork", "a"),
        ("fork", "b"),
        ("a", "join"),
        ("b", "join"),
        ("join", "end"),
    ] {
        f.add_edge(x, y);
    }
    f
}

/// start -> work -> end.
fn single(handler: &str, setup: impl FnOnce(&mut chrysalis_flow::Node)) -> Flow {
    let mut f = Flow::new("single");
    f.add_node("start", Kind::Start, "noop");
    setup(f.add_node("work", Kind::Task, handler));
    f.add_node("end", Kind::End, "noop");
    f.add_edge("start", "work");
    f.add_edge("work", "end");
    f
}

async fn execute(
    flow: &Flow,
    registry: &HandlerRegistry,
) -> (Result<RunSummary, ExecError>, Vec<StepRecord>) {
    let sink = Arc::new(MemorySink::new());
    let result = run_flow(flow, registry, sink.clone(), CancelToken::new()).await;
    (result, sink.records())
}

/// `(node, event kind)` pairs, in record order.
fn trail(records: &[StepRecord]) -> Vec<(String, &'static str)> {
    records
        .iter()
        .map(|r| (r.node.to_string(), r.event.kind()))
        .collect()
}

fn position(records: &[StepRecord], node: &str, kind: &str) -> usize {
    records
        .iter()
        .position(|r| r.node.as_str() == node && r.event.kind() == kind)
        .unwrap_or_else(|| panic!("no {kind} record for {node}"))
}

fn barrier_registry() -> HandlerRegistry {
    let barrier = Arc::new(Barrier::new(2));
    let mut registry = HandlerRegistry::with_builtins();
    registry.register("meet", move |_ctx: StepContext| {
        let barrier = Arc::clone(&barrier);
        // Neither branch can finish until the other has started: a sequential
        // runner would deadlock here.
        async move {
            barrier.wait().await;
            Ok(StepOutput::done())
        }
    });
    registry
}

fn assert_overlap(records: &[StepRecord]) {
    let last_start = position(records, "a", "started").max(position(records, "b", "started"));
    let first_finish = position(records, "a", "finished").min(position(records, "b", "finished"));
    assert!(
        last_start < first_finish,
        "both branches start before either finishes: {:?}",
        trail(records)
    );
    assert!(position(records, "join", "started") > position(records, "a", "finished"));
    assert!(position(records, "join", "started") > position(records, "b", "finished"));
}

#[tokio::test(start_paused = true)]
async fn parallel_branches_overlap() {
    let (flow, registry) = (parallel_flow("meet"), barrier_registry());
    let run = execute(&flow, &registry);
    // Paused clock: a deadlock would jump straight to this limit and fail.
    let (result, records) = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("no deadlock");
    assert_eq!(result.unwrap().end.as_str(), "end");
    assert_overlap(&records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_branches_overlap_on_worker_threads() {
    let (flow, registry) = (parallel_flow("meet"), barrier_registry());
    let run = execute(&flow, &registry);
    let (result, records) = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("no deadlock");
    assert!(result.is_ok());
    assert_overlap(&records);
}

#[tokio::test(start_paused = true)]
async fn timeout_fails_a_slow_step() {
    let flow = single("sleep", |n| {
        n.timeout_ms(100)
            .param("duration_ms", ParamValue::Integer(10_000));
    });
    let (result, records) = execute(&flow, &HandlerRegistry::with_builtins()).await;
    match result {
        Err(ExecError::StepFailed {
            node,
            attempts,
            error,
        }) => {
            assert_eq!(
                (node.as_str(), attempts, error.as_str()),
                ("work", 1, "timed out after 100 ms")
            );
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let failed = &records[position(&records, "work", "failed")];
    assert_eq!(
        failed.event,
        StepEvent::Failed {
            error: "timed out after 100 ms".into()
        }
    );
    assert!(!trail(&records).contains(&("end".into(), "started")));
}

#[tokio::test(start_paused = true)]
async fn retries_fire_with_backoff() {
    let flow = single("flaky", |n| {
        n.retry(RetryPolicy::new(3, 50))
            .param("failures", ParamValue::Integer(2));
    });
    let (result, records) = execute(&flow, &HandlerRegistry::with_builtins()).await;
    let summary = result.unwrap();
    assert_eq!((summary.retries, summary.steps), (2, 5));
    let work: Vec<(u32, StepEvent)> = records
        .iter()
        .filter(|r| r.node.as_str() == "work")
        .map(|r| (r.attempt, r.event.clone()))
        .collect();
    let failed = |n: u32| StepEvent::Failed {
        error: format!("flaky failure on attempt {n}"),
    };
    assert_eq!(
        work,
        vec![
            (1, StepEvent::Started),
            (1, failed(1)),
            (
                1,
                StepEvent::Retrying {
                    next_attempt: 2,
                    delay_ms: 50
                }
            ),
            (2, StepEvent::Started),
            (2, failed(2)),
            (
                2,
                StepEvent::Retrying {
                    next_attempt: 3,
                    delay_ms: 100
                }
            ),
            (3, StepEvent::Started),
            (
                3,
                StepEvent::Finished {
                    branch: None,
                    message: Some("succeeded on attempt 3".into())
                }
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_retried_too() {
    let flow = single("sleep", |n| {
        n.timeout_ms(10)
            .retry(RetryPolicy::new(2, 5))
            .param("duration_ms", ParamValue::Integer(1_000));
    });
    let (result, records) = execute(&flow, &HandlerRegistry::with_builtins()).await;
    assert!(
        matches!(result, Err(ExecError::StepFailed { attempts: 2, .. })),
        "{result:?}"
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| r.event.kind() == "failed")
            .count(),
        2
    );
}

#[tokio::test(start_paused = true)]
async fn failing_handler_fails_the_flow_with_its_error() {
    let flow = single("fail", |n| {
        n.param("message", ParamValue::Text("disk full".into()));
    });
    let (result, records) = execute(&flow, &HandlerRegistry::with_builtins()).await;
    let err = result.unwrap_err();
    assert_eq!(
        err.to_string(),
        "node \"work\" failed after 1 attempt(s): disk full"
    );
    assert_eq!(
        trail(&records),
        [
            ("start".into(), "started"),
            ("start".into(), "finished"),
            ("work".into(), "started"),
            ("work".into(), "failed")
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_stops_the_other_branch() {
    let (started_tx, mut started_rx) = mpsc::unbounded_channel::<()>();
    let mut registry = HandlerRegistry::with_builtins();
    registry.register("hang", move |_ctx: StepContext| {
        let started = started_tx.clone();
        async move {
            let _ = started.send(());
            std::future::pending::<()>().await;
            Ok(StepOutput::done())
        }
    });
    let mut flow = parallel_flow("hang");
    flow.nodes[3].handler = "fail".into();
    let (result, records) = execute(&flow, &registry).await;
    assert!(matches!(result, Err(ExecError::StepFailed { .. })));
    assert!(started_rx.recv().await.is_some());
    assert_eq!(
        records.last().map(|r| (r.node.as_str(), r.event.kind())),
        Some(("a", "cancelled"))
    );
}

#[tokio::test]
async fn cancellation_stops_everything() {
    let (started_tx, mut started_rx) = mpsc::unbounded_channel::<oneshot::Receiver<()>>();
    let mut registry = HandlerRegistry::with_builtins();
    registry.register("hang", move |_ctx: StepContext| {
        let started = started_tx.clone();
        async move {
            // The receiver sees the sender dropped when this future is dropped.
            let (alive, watcher) = oneshot::channel::<()>();
            let _ = started.send(watcher);
            std::future::pending::<()>().await;
            drop(alive);
            Ok(StepOutput::done())
        }
    });
    let flow = parallel_flow("hang");
    let sink = Arc::new(MemorySink::new());
    let cancel = CancelToken::new();
    let handle = {
        let (sink, cancel) = (sink.clone(), cancel.clone());
        tokio::spawn(async move { run_flow(&flow, &registry, sink, cancel).await })
    };
    let first = started_rx.recv().await.unwrap();
    let second = started_rx.recv().await.unwrap();
    cancel.cancel();
    assert!(matches!(handle.await.unwrap(), Err(ExecError::Cancelled)));
    assert!(first.await.is_err(), "handler a dropped");
    assert!(second.await.is_err(), "handler b dropped");
    let records = sink.records();
    let cancelled: Vec<&str> = records
        .iter()
        .filter(|r| r.event.kind() == "cancelled")
        .map(|r| r.node.as_str())
        .collect();
    assert_eq!(cancelled, ["a", "b"]);
}

#[tokio::test(start_paused = true)]
async fn panicking_handler_is_a_step_failure() {
    let mut registry = HandlerRegistry::with_builtins();
    registry.register("explode", |_ctx: StepContext| async {
        if true {
            panic!("kaboom");
        }
        Ok::<_, HandlerError>(StepOutput::done())
    });
    let (result, _) = execute(&single("explode", |_| {}), &registry).await;
    match result {
        Err(ExecError::StepFailed { error, .. }) => {
            assert!(error.starts_with("handler panicked"), "{error}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn example_flows_run() {
    let registry = HandlerRegistry::with_builtins();
    let order = load(
        include_str!("../../../../examples/flows/order.toml"),
        Format::Toml,
    )
    .unwrap();
    let (result, records) = execute(&order, &registry).await;
    let summary = result.unwrap();
    assert_eq!((summary.end.as_str(), summary.retries), ("done", 1));
    assert!(records.iter().any(|r| r.event
        == StepEvent::Finished {
            branch: None,
            message: Some("order 1042 shipped".into())
        }));
    assert!(!trail(&records).contains(&("reject".into(), "started")));

    let review = load(
        include_str!("../../../../examples/flows/review.yaml"),
        Format::Yaml,
    )
    .unwrap();
    let (result, records) = execute(&review, &registry).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        records
            .iter()
            .filter(|r| r.node.as_str() == "draft" && r.event.kind() == "started")
            .count(),
        2
    );

    let fails = load(
        include_str!("../../../../examples/flows/fails.json"),
        Format::Json,
    )
    .unwrap();
    let (result, _) = execute(&fails, &registry).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "node \"call\" failed after 2 attempt(s): upstream service unavailable"
    );
}

#[tokio::test]
async fn invalid_flows_and_missing_handlers_are_refused() {
    let registry = HandlerRegistry::with_builtins();
    let (result, records) = execute(&single("nope", |_| {}), &registry).await;
    match result {
        Err(ExecError::Invalid(report)) => assert_eq!(
            report.to_string(),
            "error[unregistered-handler]: node \"work\" uses handler \"nope\", which is not registered\n"
        ),
        other => panic!("{other:?}"),
    }
    assert!(records.is_empty());
    let plan = Arc::new(Plan::new(&single("nope", |_| {}), &AnyHandler).unwrap());
    let err = run(
        plan,
        &registry,
        Arc::new(MemorySink::new()),
        CancelToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "node \"work\" names handler \"nope\", which is not registered"
    );
}

#[tokio::test(start_paused = true)]
async fn records_are_numbered_and_name_the_flow() {
    let (result, records) =
        execute(&parallel_flow("noop"), &HandlerRegistry::with_builtins()).await;
    assert!(result.is_ok());
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..records.len() as u64).collect::<Vec<_>>());
    assert!(records.iter().all(|r| r.flow.as_str() == "parallel"));
    assert_eq!(records.len(), 12, "six nodes, started and finished each");
}

#[tokio::test(start_paused = true)]
async fn loop_bound_stops_a_runaway_loop() {
    let text =
        include_str!("../../../../examples/flows/review.yaml").replace("revise,approve", "revise");
    let review = load(&text, Format::Yaml).unwrap();
    let (result, records) = execute(&review, &HandlerRegistry::with_builtins()).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "node \"draft\" was entered more than its max_iterations = 3 times"
    );
    let drafts = records
        .iter()
        .filter(|r| r.node.as_str() == "draft" && r.event.kind() == "finished")
        .count();
    assert_eq!(drafts, 3);
}
