//! Executor overhead per step: a chain of no-op tasks run through the planner,
//! tokio tasks and the trace sink, next to two peers in the same run: awaiting
//! the same no-op handler directly in a loop, and spawning one tokio task per
//! step with no planner (the floor for "one task per step").

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use chrysalis_executor::{CancelToken, FnSink, HandlerRegistry, StepContext, StepSink, run};
use chrysalis_flow::{Flow, FlowId, Kind, NodeName, Plan};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const STEPS: usize = 1_000;

/// start -> t0 -> … -> t{n-3} -> end: `n` no-op steps.
fn chain(steps: usize) -> Flow {
    let mut flow = Flow::new("chain");
    flow.add_node("start", Kind::Start, "noop");
    let mut prev = "start".to_owned();
    for i in 0..steps - 2 {
        let name = format!("t{i}");
        flow.add_node(&name, Kind::Task, "noop");
        flow.add_edge(&prev, &name);
        prev = name;
    }
    flow.add_node("end", Kind::End, "noop");
    flow.add_edge(&prev, "end");
    flow
}

fn bench_overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let registry = HandlerRegistry::with_builtins();
    let plan = Arc::new(Plan::new(&chain(STEPS), &registry).expect("valid chain"));
    let sink: Arc<dyn StepSink> = Arc::new(FnSink(|record: &chrysalis_executor::StepRecord| {
        black_box(record);
    }));
    let noop = registry.get("noop").expect("built-in");
    let ctx = StepContext {
        flow: FlowId::from("chain"),
        node: NodeName::from("t"),
        attempt: 1,
        iteration: 1,
        params: Arc::default(),
    };

    let mut group = c.benchmark_group("executor_1000_noop_steps");
    group.throughput(Throughput::Elements(STEPS as u64));
    group.bench_function("chrysalis_run", |b| {
        b.iter(|| {
            runtime
                .block_on(run(
                    Arc::clone(&plan),
                    &registry,
                    Arc::clone(&sink),
                    CancelToken::new(),
                ))
                .expect("run completes")
        })
    });
    group.bench_function("peer_direct_await", |b| {
        b.iter(|| {
            runtime.block_on(async {
                for _ in 0..STEPS {
                    noop.call(ctx.clone()).await.expect("noop");
                }
            })
        })
    });
    group.bench_function("peer_spawn_per_step", |b| {
        b.iter(|| {
            runtime.block_on(async {
                for _ in 0..STEPS {
                    let call = noop.call(ctx.clone());
                    tokio::spawn(call).await.expect("join").expect("noop");
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench_overhead);
criterion_main!(benches);
