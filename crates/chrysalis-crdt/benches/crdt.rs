//! chrysalis-crdt next to `crdts` 7.3.2, in the same run.
//!
//! - clocks and grow-only counters of 8 … 100k actors (1M with
//!   `CHRYSALIS_BENCH_FULL=1`), merged with a replica over the same actors,
//!   next to a memcpy of the same bytes;
//! - add-wins sets of 1k … 100k elements (1M in full mode) with 0/50/100%
//!   overlap: the shared part was added by one replica and synced to both,
//!   each side then added its own elements;
//! - delta merges of 1, 10 and 100 dots into a 1M-entry state (100k in
//!   smoke mode): cost must follow the delta, not the state;
//! - Merkle DAGs of 100k nodes sharing 90%: what the other side lacks, and
//!   the merge.
//!
//! Memory per element is printed before the timings (`heap_bytes`
//! estimates for ours, resident-set growth for both).

use chrysalis_crdt::{Crdt, DeltaCrdt, GCounter, MerkleDag, ORSet, VectorClock};
use chrysalis_types::NodeId;
use crdts::{CmRDT, CvRDT};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

#[path = "support/interleaved.rs"]
mod interleaved;
use interleaved::Contender;

type TheirClock = crdts::VClock<[u8; 32]>;
type TheirCounter = crdts::GCounter<[u8; 32]>;
type TheirSet = crdts::Orswot<u64, [u8; 32]>;

fn full() -> bool {
    std::env::var_os("CHRYSALIS_BENCH_FULL").is_some()
}

fn actor(i: u64) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&i.to_be_bytes());
    id[8..16].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    id
}

fn node(i: u64) -> NodeId {
    NodeId::new(actor(i))
}

fn clock_sizes() -> Vec<u64> {
    let mut sizes = vec![8, 64, 1_000, 100_000];
    if full() {
        sizes.push(1_000_000);
    }
    sizes
}

fn set_sizes() -> Vec<u64> {
    let mut sizes = vec![1_000, 10_000, 100_000];
    if full() {
        sizes.push(1_000_000);
    }
    sizes
}

/// Two clocks over the same `n` actors, each ahead on half of them.
fn clocks(n: u64) -> [(VectorClock, TheirClock); 2] {
    [0, 1].map(|side| {
        let ours: VectorClock = (0..n).map(|i| (node(i), 10 + (i + side) % 2)).collect();
        let mut theirs = TheirClock::new();
        for i in 0..n {
            theirs.apply(crdts::Dot::new(actor(i), 10 + (i + side) % 2));
        }
        (ours, theirs)
    })
}

fn bench_clocks(c: &mut Criterion) {
    let mut group = c.benchmark_group("clock_merge");
    for n in clock_sizes() {
        let [(a, ta), (b, tb)] = clocks(n);
        group.throughput(Throughput::Elements(n));
        group.bench_with_input(BenchmarkId::new("chrysalis", n), &n, |bench, _| {
            bench.iter_batched_ref(
                || a.clone(),
                |x| x.merge(black_box(&b)),
                BatchSize::LargeInput,
            )
        });
        group.bench_with_input(BenchmarkId::new("crdts", n), &n, |bench, _| {
            bench.iter_batched(
                || (ta.clone(), tb.clone()),
                |(mut x, y)| {
                    x.merge(y);
                    x
                },
                BatchSize::LargeInput,
            )
        });
        // The same two clocks, after `b` adopted `a`'s id table (as a clock
        // decoded from a peer can, see `VectorClock::share_ids_with`).
        let mut shared = b.clone();
        shared.share_ids_with(&a);
        group.bench_with_input(
            BenchmarkId::new("chrysalis_shared_ids", n),
            &n,
            |bench, _| {
                bench.iter_batched_ref(
                    || a.clone(),
                    |x| x.merge(black_box(&shared)),
                    BatchSize::LargeInput,
                )
            },
        );
        let bytes = vec![7u8; n as usize * 40];
        group.bench_with_input(BenchmarkId::new("memcpy_same_bytes", n), &n, |bench, _| {
            bench.iter_batched_ref(
                // Filled, so the pages are mapped before the timed copy.
                || vec![1u8; bytes.len()],
                |dst| dst.copy_from_slice(black_box(&bytes)),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn bench_counters(c: &mut Criterion) {
    let mut group = c.benchmark_group("gcounter_merge");
    for n in clock_sizes() {
        let [(a, ta), (b, tb)] = clocks(n);
        let a: GCounter = a.iter().collect();
        let b: GCounter = b.iter().collect();
        let counter = |clock: &TheirClock| {
            let mut c = TheirCounter::new();
            clock
                .iter()
                .for_each(|d| c.apply(crdts::Dot::new(*d.actor, d.counter)));
            c
        };
        let (ta, tb) = (counter(&ta), counter(&tb));
        group.throughput(Throughput::Elements(n));
        group.bench_with_input(BenchmarkId::new("chrysalis", n), &n, |bench, _| {
            bench.iter_batched_ref(
                || a.clone(),
                |x| x.merge(black_box(&b)),
                BatchSize::LargeInput,
            )
        });
        group.bench_with_input(BenchmarkId::new("crdts", n), &n, |bench, _| {
            bench.iter_batched(
                || (ta.clone(), tb.clone()),
                |(mut x, y)| {
                    x.merge(y);
                    x
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

/// Both sides of a set merge: `n` elements each, `overlap_pct` of them
/// shared (added by replica 0 and synced), the rest added by each side.
struct SetPair {
    ours: (ORSet<u64>, ORSet<u64>),
    theirs: (TheirSet, TheirSet),
}

fn their_add(set: &mut TheirSet, who: u64, value: u64) {
    let op = set.add(value, set.read_ctx().derive_add_ctx(actor(who)));
    set.apply(op);
}

fn sets(n: u64, overlap_pct: u64) -> SetPair {
    let shared = n * overlap_pct / 100;
    let mut base = ORSet::with_capacity(n as usize);
    let mut their_base = TheirSet::new();
    for v in 0..shared {
        base.add(node(0), v);
        their_add(&mut their_base, 0, v);
    }
    let (mut a, mut b) = (base.clone(), base);
    let (mut ta, mut tb) = (their_base.clone(), their_base);
    for v in shared..n {
        a.add(node(1), v);
        b.add(node(2), v + n);
        their_add(&mut ta, 1, v);
        their_add(&mut tb, 2, v + n);
    }
    SetPair {
        ours: (a, b),
        theirs: (ta, tb),
    }
}

fn bench_sets(c: &mut Criterion) {
    let mut group = c.benchmark_group("orset_merge");
    for n in set_sizes() {
        for overlap in [0, 50, 100] {
            let pair = sets(n, overlap);
            let id = format!("{n}/overlap{overlap}");
            group.throughput(Throughput::Elements(2 * n));
            let (a, b) = &pair.ours;
            group.bench_function(BenchmarkId::new("chrysalis", &id), |bench| {
                bench.iter_batched_ref(
                    || a.clone(),
                    |x| x.merge(black_box(b)),
                    BatchSize::LargeInput,
                )
            });
            let (ta, tb) = &pair.theirs;
            group.bench_function(BenchmarkId::new("crdts", &id), |bench| {
                bench.iter_batched(
                    || (ta.clone(), tb.clone()),
                    |(mut x, y)| {
                        x.merge(y);
                        x
                    },
                    BatchSize::LargeInput,
                )
            });
        }
    }
    group.finish();
}

/// A replica that keeps writing fresh elements, so every delta is news.
struct Writer {
    ours: ORSet<u64>,
    theirs: TheirSet,
    next: u64,
}

impl Writer {
    fn new() -> Self {
        Self {
            ours: ORSet::new(),
            theirs: TheirSet::new(),
            next: u64::MAX / 2,
        }
    }

    fn our_delta(&mut self, dots: usize) -> <ORSet<u64> as DeltaCrdt>::Delta {
        let mut delta = self.ours.add(node(99), self.next);
        for _ in 1..dots {
            self.next += 1;
            delta.join(&self.ours.add(node(99), self.next));
        }
        self.next += 1;
        delta
    }

    fn their_ops(&mut self, dots: usize) -> Vec<crdts::orswot::Op<u64, [u8; 32]>> {
        (0..dots)
            .map(|_| {
                self.next += 1;
                let op = self
                    .theirs
                    .add(self.next, self.theirs.read_ctx().derive_add_ctx(actor(99)));
                self.theirs.apply(op.clone());
                op
            })
            .collect()
    }
}

fn bench_delta_merges(c: &mut Criterion) {
    let n = if full() { 1_000_000 } else { 100_000 };
    let mut group = c.benchmark_group(format!("delta_into_{n}"));
    let pair = sets(n, 100);
    let (mut state, _) = pair.ours;
    let (mut their_state, _) = pair.theirs;
    let counter: GCounter = (0..n).map(|i| (node(i), 5)).collect();
    let mut counter_state = counter.clone();
    let mut writer = Writer::new();
    for dots in [1usize, 10, 100] {
        group.throughput(Throughput::Elements(dots as u64));
        group.bench_function(BenchmarkId::new("orset/chrysalis", dots), |bench| {
            bench.iter_batched(
                || writer.our_delta(dots),
                |d| state.apply_delta(&d),
                BatchSize::SmallInput,
            )
        });
        group.bench_function(BenchmarkId::new("orset/crdts", dots), |bench| {
            bench.iter_batched(
                || writer.their_ops(dots),
                |ops| ops.into_iter().for_each(|op| their_state.apply(op)),
                BatchSize::SmallInput,
            )
        });
        let delta: GCounter = (0..dots as u64).map(|i| (node(i * 7919 % n), 6)).collect();
        group.bench_function(BenchmarkId::new("gcounter/chrysalis", dots), |bench| {
            bench.iter(|| counter_state.apply_delta(black_box(&delta)))
        });
    }
    group.finish();
}

/// Two DAGs of `n` nodes sharing the first 90%.
fn dags(n: u64) -> (MerkleDag<u64>, MerkleDag<u64>) {
    let shared = n * 9 / 10;
    let mut a = MerkleDag::new();
    for v in 0..shared {
        a.append(v);
    }
    let mut b = a.clone();
    for v in shared..n {
        a.append(v);
        b.append(v + n);
    }
    (a, b)
}

fn bench_dags(c: &mut Criterion) {
    let mut group = c.benchmark_group("merkle_dag_100k_share90");
    let (a, b) = dags(100_000);
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("missing_in", |bench| {
        bench.iter(|| a.missing_in(black_box(&b)))
    });
    group.bench_function("merge", |bench| {
        bench.iter_batched_ref(
            || b.clone(),
            |x| x.merge(black_box(&a)),
            BatchSize::LargeInput,
        )
    });
    // The receive path: the 10k missing nodes as a delta, each hashed to
    // check its address; and that hashing alone, the irreducible part.
    let delta = a.delta_for(&a.missing_in(&b));
    group.bench_function("apply_delta", |bench| {
        bench.iter_batched_ref(
            || b.clone(),
            |x| x.apply_delta(black_box(&delta)),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("blake3_of_the_nodes", |bench| {
        bench.iter(|| {
            for node in &delta.nodes {
                black_box(node.hash());
            }
        })
    });
    group.finish();
}

/// Resident memory, from /proc (0 where unavailable).
fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Bytes per element of an or-set of `n` u64 written by 4 nodes: ours
/// first (its table is one large mapping, returned to the system on drop),
/// then crdts (many small allocations).
fn report_set_memory(n: u64) {
    let before = rss_bytes();
    let mut ours = ORSet::new();
    for v in 0..n {
        ours.add(node(v % 4), v);
    }
    let our_rss = rss_bytes().saturating_sub(before) as f64 / n as f64;
    let estimate = ours.heap_bytes() as f64 / n as f64;
    drop(ours);
    let before = rss_bytes();
    let mut theirs = TheirSet::new();
    for v in 0..n {
        their_add(&mut theirs, v % 4, v);
    }
    let their_rss = rss_bytes().saturating_sub(before) as f64 / n as f64;
    eprintln!(
        "memory, or-set of {n} u64 (4 writers): chrysalis {estimate:.1} B/element \
         (heap estimate), {our_rss:.1} B/element (RSS growth); crdts Orswot \
         {their_rss:.1} B/element (RSS growth)"
    );
}

fn report_memory() {
    report_set_memory(100_000);
    if full() {
        report_set_memory(1_000_000);
    }
    let n = 100_000;
    let clock: VectorClock = (0..n).map(|i| (node(i), 1)).collect();
    eprintln!(
        "memory, vector clock of {n} actors: chrysalis {:.1} B/entry",
        clock.heap_bytes() as f64 / n as f64
    );
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

/// The bars as interleaved best-of-N ratios (see `support/interleaved.rs`).
fn report_ratios() {
    let [(a, _), (b, _)] = clocks(1000);
    let mut shared = b.clone();
    shared.share_ids_with(&a);
    let bytes = vec![7u8; 1000 * 40];
    interleaved::report(
        "clock merge 1k actors vs memcpy of the same bytes",
        vec![
            Contender::new(
                "memcpy",
                64,
                || vec![1u8; bytes.len()],
                |d| d.copy_from_slice(black_box(&bytes)),
            ),
            Contender::new("chrysalis", 64, || a.clone(), |x| x.merge(black_box(&b))),
            Contender::new(
                "chrysalis_shared_ids",
                64,
                || a.clone(),
                |x| x.merge(black_box(&shared)),
            ),
        ],
    );
    for overlap in [0, 50, 100] {
        let pair = sets(100_000, overlap);
        let ((a, b), (ta, tb)) = (&pair.ours, &pair.theirs);
        interleaved::report(
            &format!("orset merge 100k, {overlap}% overlap"),
            vec![
                // As in the criterion case: both clones are set-up, the
                // argument is consumed by the merge.
                Contender::new(
                    "crdts",
                    1,
                    || (ta.clone(), tb.clone()),
                    |(x, y)| x.merge(std::mem::take(y)),
                ),
                Contender::new("chrysalis", 1, || a.clone(), |x| x.merge(black_box(b))),
            ],
        );
    }
    let (a, b) = dags(100_000);
    let delta = a.delta_for(&a.missing_in(&b));
    interleaved::report(
        "merkle dag 100k sharing 90%, 10k nodes received",
        vec![
            Contender::new(
                "blake3_of_the_10k_nodes",
                1,
                || (),
                |_| {
                    delta
                        .nodes
                        .iter()
                        .map(|n| n.hash().0[0])
                        .fold(0u8, u8::wrapping_add)
                },
            ),
            Contender::new("merge", 1, || b.clone(), |x| x.merge(black_box(&a))),
            Contender::new(
                "apply_delta",
                1,
                || b.clone(),
                |x| x.apply_delta(black_box(&delta)),
            ),
        ],
    );
}

fn main() {
    // Memory first: resident-set growth is only meaningful in a fresh
    // process.
    report_memory();
    if interleaved::enabled() {
        report_ratios();
    }
    let mut c = config().configure_from_args();
    bench_clocks(&mut c);
    bench_counters(&mut c);
    bench_sets(&mut c);
    bench_delta_merges(&mut c);
    bench_dags(&mut c);
    c.final_summary();
}
