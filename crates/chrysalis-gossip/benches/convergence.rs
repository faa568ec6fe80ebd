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

use chrysalis_sim::{Faults, Pid};
use criterion::{Criterion, Throughput, criterion_group};

#[path = "../tests/it/harness.rs"]
mod harness;

fn smoke() -> bool {
    std::env::args().any(|a| a == "--test")
}

fn table() {
    let (sizes, seeds, writes): (&[u32], &[u64], u32) = if smoke() {
        (&[10, 100], &[1], 3)
    } else {
        (&[10, 100, 1000], &[1, 2, 3, 4], 25)
    };
    let rows: Vec<_> = sizes
        .iter()
        .map(|&n| harness::convergence_row(n, seeds, writes))
        .collect();
    eprintln!(
        "\nconvergence after a single write (simulated, 200 ms rounds, fan-out 3):\n{}",
        harness::convergence_table(&rows)
    );
}

fn bench_sim(c: &mut Criterion) {
    table();
    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    for n in [10u32, 100] {
        // Settle once; each iteration replays one simulated second from a
        // freshly built, settled cluster.
        let config = harness::sim_config(n);
        let probe = {
            let mut sim = harness::cluster(n, 1, Faults::default(), &config);
            harness::settle_membership(&mut sim, 60_000);
            let before = sim.stats().steps;
            sim.run_for(1_000);
            sim.stats().steps - before
        };
        group.throughput(Throughput::Elements(probe));
        group.bench_function(format!("gossip_{n}_nodes_1s_simulated"), |b| {
            b.iter_batched(
                || {
                    let mut sim = harness::cluster(n, 1, Faults::default(), &config);
                    harness::settle_membership(&mut sim, 60_000);
                    sim
                },
                |mut sim| {
                    sim.run_for(1_000);
                    black_box(sim.stats().steps)
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.bench_function("single_write_100_nodes", |b| {
        let config = harness::sim_config(100);
        b.iter_batched(
            || {
                let mut sim = harness::cluster(100, 2, Faults::default(), &config);
                harness::settle_membership(&mut sim, 60_000);
                sim
            },
            |mut sim| {
                black_box(harness::single_write_rounds(
                    &mut sim,
                    Pid(7),
                    harness::agent(1),
                    60_000,
                ))
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_sim);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
