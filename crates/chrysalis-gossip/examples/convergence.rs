//! Prints the convergence table: rounds for a single write to reach every
//! node, against log2(n), in simulated clusters.
//!
//! ```text
//! cargo run --release -p chrysalis-gossip --example convergence [-- 10,100,1000 [writes-per-seed [seeds]]]
//! ```

#![allow(clippy::print_stdout)]

#[path = "../tests/it/harness.rs"]
mod harness;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<u32> = args
        .first()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 100, 1000]);
    let writes: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(25);
    let seeds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4);
    let seed_list: Vec<u64> = (1..=seeds).collect();
    let mut rows = Vec::new();
    for n in sizes {
        let started = std::time::Instant::now();
        let row = harness::convergence_row(n, &seed_list, writes);
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "n={n}: {} simulator steps in {secs:.1} s ({:.0} steps/s, cluster setup included)",
            row.steps,
            row.steps as f64 / secs
        );
        rows.push(row);
    }
    println!("{}", harness::convergence_table(&rows));
}
