//! Validation cost: a 10k-node structured flow (bar: 50 ms) and a 1M-edge graph
//! (bar: 2 s), each next to a plain forward + backward breadth-first search over
//! the same graph as the peer (the least any reachability check must do).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::time::Duration;

use chrysalis_flow::{AnyHandler, Flow, Kind, validate};
use criterion::{Criterion, criterion_group, criterion_main};

/// start, then blocks of fork -> {a, b} -> join -> task -> decision (looping back
/// to the bounded task, default on to the next block), then end: `nodes` nodes.
fn structured_flow(nodes: usize) -> Flow {
    let mut flow = Flow::new("bench");
    flow.add_node("start", Kind::Start, "noop");
    let mut prev = "start".to_owned();
    for i in 0..(nodes - 2) / 6 {
        let name = |s: &str| format!("{s}{i}");
        flow.add_node(&name("fork"), Kind::Fork, "noop");
        flow.add_node(&name("a"), Kind::Task, "noop");
        flow.add_node(&name("b"), Kind::Task, "noop");
        flow.add_node(&name("join"), Kind::Join, "noop");
        flow.add_node(&name("work"), Kind::Task, "noop")
            .max_iterations(3);
        flow.add_node(&name("check"), Kind::Decision, "choose");
        flow.add_edge(&prev, &name("fork"));
        flow.add_edge(&name("fork"), &name("a"));
        flow.add_edge(&name("fork"), &name("b"));
        flow.add_edge(&name("a"), &name("join"));
        flow.add_edge(&name("b"), &name("join"));
        flow.add_edge(&name("join"), &name("work"));
        flow.add_edge(&name("work"), &name("check"));
        flow.add_edge(&name("check"), &name("work")).when("again");
        prev = name("check");
        // The next edge out of `check` is the default one, added by the next block.
    }
    flow.add_node("end", Kind::End, "noop");
    flow.add_edge(&prev, "end");
    for edge in &mut flow.edges {
        if edge.from.as_str().starts_with("check") && edge.condition.is_none() {
            edge.default = true;
        }
    }
    flow
}

/// A random graph of decisions with `edges` edges over `nodes` nodes: cycles
/// everywhere and none bounded, so every rule has work to do (and the report
/// holds one huge unbounded-cycle diagnostic).
fn random_graph(nodes: usize, edges: usize, seed: u64) -> Flow {
    let mut state = seed;
    let mut next = move || {
        // xorshift64*: deterministic and dependency-free.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut flow = Flow::new("random");
    flow.add_node("n0", Kind::Start, "noop");
    for i in 1..nodes - 1 {
        flow.add_node(&format!("n{i}"), Kind::Decision, "choose");
    }
    flow.add_node(&format!("n{}", nodes - 1), Kind::End, "noop");
    // Each decision gets a default edge to its successor (so a path to the end
    // exists), then the remaining edges go to random targets under a condition.
    for i in 1..nodes - 1 {
        flow.add_edge(&format!("n{i}"), &format!("n{}", i + 1))
            .default_branch();
    }
    for k in 0..edges - (nodes - 1) {
        let from = 1 + next() as usize % (nodes - 2);
        let to = 1 + next() as usize % (nodes - 1);
        flow.add_edge(&format!("n{from}"), &format!("n{to}"))
            .when(&format!("b{k}"));
    }
    flow.add_edge("n0", "n1");
    flow
}

/// The peer: forward reachability from the start and backward from the ends.
fn plain_bfs(flow: &Flow) -> usize {
    let index: HashMap<&str, usize> = flow
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let n = flow.nodes.len();
    let mut fwd = vec![Vec::new(); n];
    let mut back = vec![Vec::new(); n];
    for e in &flow.edges {
        let (a, b) = (index[e.from.as_str()], index[e.to.as_str()]);
        fwd[a].push(b);
        back[b].push(a);
    }
    let search = |adj: &[Vec<usize>], roots: Vec<usize>| {
        let mut seen = vec![false; n];
        let mut queue: VecDeque<usize> = roots.into_iter().collect();
        queue.iter().for_each(|&r| seen[r] = true);
        while let Some(x) = queue.pop_front() {
            for &y in &adj[x] {
                if !seen[y] {
                    seen[y] = true;
                    queue.push_back(y);
                }
            }
        }
        seen.iter().filter(|s| **s).count()
    };
    let kind_roots = |k: Kind| {
        flow.nodes
            .iter()
            .enumerate()
            .filter(|(_, x)| x.kind == k)
            .map(|(i, _)| i)
            .collect()
    };
    search(&fwd, kind_roots(Kind::Start)) + search(&back, kind_roots(Kind::End))
}

fn bench_validate(c: &mut Criterion) {
    let flow = structured_flow(10_002);
    assert!(
        !validate(&flow, &AnyHandler).has_errors(),
        "the benchmark flow is valid"
    );
    let mut group = c.benchmark_group("validate_10k_nodes");
    group.bench_function("chrysalis_datalog", |b| {
        b.iter(|| validate(black_box(&flow), &AnyHandler))
    });
    group.bench_function("peer_plain_bfs", |b| b.iter(|| plain_bfs(black_box(&flow))));
    group.finish();

    // `cargo bench -- --test` only smoke-runs each function once: keep it quick.
    let smoke = std::env::args().any(|a| a == "--test");
    let graph = if smoke {
        random_graph(20_000, 100_000, 7)
    } else {
        random_graph(200_000, 1_000_000, 7)
    };
    let mut group = c.benchmark_group("validate_1m_edges");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("chrysalis_datalog", |b| {
        b.iter(|| validate(black_box(&graph), &AnyHandler))
    });
    group.bench_function("peer_plain_bfs", |b| {
        b.iter(|| plain_bfs(black_box(&graph)))
    });
    group.finish();
}

criterion_group!(benches, bench_validate);
criterion_main!(benches);
