//! Simulated convergence of delta anti-entropy, and simulator throughput.
//!
//! Before the timed benchmarks it prints the table the run measured: p99
//! rounds for a single write to reach every node against log2(n), for
//! n = 10, 100, 1000 over several seeds (rounds are not times, so they are
//! printed, not timed). Under `cargo bench -- --test` (smoke mode) the table
//! shrinks to n = 10 and 100 with a few writes.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use chrysalis_sim::Faults;
use criterion::{Criterion, Throughput, criterion_group};

#[path = "../tests/it/harness.rs"]
mod harness;

fn smoke() -> bool {
    std::env::args().any(|a| a == "--test")
}

fn table() {
    // (n, seeds, writes per seed): the full run keeps 1,000 nodes to one
    // seed so the bench stays in minutes; the example prints more.
    let plan: &[(u32, &[u64], u32)] = if smoke() {
        &[(10, &[1], 3), (100, &[1], 3)]
    } else {
        &[
            (10, &[1, 2, 3, 4], 25),
            (100, &[1, 2, 3, 4], 25),
            (1000, &[1], 25),
        ]
    };
    let rows: Vec<_> = plan
        .iter()
        .map(|&(n, seeds, writes)| harness::convergence_row(n, seeds, writes))
        .collect();
    eprintln!(
        "\nconvergence after a single write (simulated, 200 ms rounds, fan-out 3):\n{}",
        harness::convergence_table(&rows)
    );
}

fn settled(n: u32, seed: u64) -> chrysalis_sim::Sim<harness::SimNode> {
    let config = harness::sim_config(n);
    let mut sim = harness::preloaded_cluster(n, seed, Faults::default(), &config);
    harness::settle_membership(&mut sim, 60_000);
    sim
}

fn bench_sim(c: &mut Criterion) {
    table();
    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    // 1,000 nodes take ~0.5 s of real time per simulated second plus a
    // multi-second setup: their steps per second come from the example.
    for n in [10u32, 100] {
        // Steps in one simulated second of a settled cluster: the
        // throughput unit, so criterion reports simulator steps per second.
        let steps = {
            let mut sim = settled(n, 1);
            let before = sim.stats().steps;
            sim.run_for(1_000);
            sim.stats().steps - before
        };
        group.throughput(Throughput::Elements(steps));
        group.bench_function(format!("gossip_{n}_nodes_1s_simulated"), |b| {
            b.iter_batched(
                || settled(n, 1),
                |mut sim| {
                    sim.run_for(1_000);
                    black_box(sim.stats().steps)
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_sim);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
