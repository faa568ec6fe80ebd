//! The ledger's log path, side by side with redb doing the same work.
//!
//! - `log_1m_x_64B`: 1M appends of 64-byte payloads made durable by one group
//!   fsync. `segment_*` frames (length + CRC32C), writes and fsyncs through
//!   [`SegmentStorage`]; `redb_*` inserts the same 1M payloads in one write
//!   transaction and commits once. `*_cpu` reports the CPU time of the
//!   benchmark thread (from `/proc/thread-self/schedstat`), `*_wall` the
//!   elapsed time including the wait for the disk.
//! - `ingest`: a whole `TraceLedger` group commit (log path, Merkle tree and
//!   query indexes) of pre-built TraceNodes, for the sustained entries/s.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use chrysalis_ledger::frame::FrameBatch;
use chrysalis_ledger::storage::LedgerStorage;
use chrysalis_ledger::{FsyncPolicy, TraceKind, TraceLedger, TraceNode};
use chrysalis_store::segment::{SegmentConfig, SegmentStorage};
use chrysalis_types::{AgentId, Timestamp};
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use std::time::{Duration, Instant};

const ENTRIES: usize = 1_000_000;
const INGEST_ENTRIES: usize = 200_000;
const TABLE: redb::TableDefinition<'_, u64, &[u8]> = redb::TableDefinition::new("log");

/// CPU time consumed by this thread so far.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn payloads() -> Vec<[u8; 64]> {
    (0..ENTRIES)
        .map(|i| {
            let mut p = [0u8; 64];
            p[..8].copy_from_slice(&(i as u64).to_le_bytes());
            p
        })
        .collect()
}

fn fresh_segments(dir: &std::path::Path) -> SegmentStorage {
    let mut storage =
        SegmentStorage::open(dir, SegmentConfig::default()).expect("open segment log");
    storage.recover(&mut |_| true).expect("empty log");
    storage
}

/// Frames, checksums, writes and fsyncs 1M payloads; returns (cpu, wall).
fn segment_once(payloads: &[[u8; 64]]) -> (Duration, Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut storage = fresh_segments(dir.path());
    let (cpu, wall) = (thread_cpu(), Instant::now());
    let mut batch = FrameBatch::with_capacity(payloads.len(), payloads.len() * 64);
    for p in payloads {
        batch.push(p);
    }
    storage.write(&batch).expect("write");
    storage.sync().expect("fsync");
    let out = (thread_cpu() - cpu, wall.elapsed());
    drop(batch);
    out
}

/// Inserts 1M payloads into redb in one transaction, one commit; returns (cpu, wall).
fn redb_once(payloads: &[[u8; 64]]) -> (Duration, Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = redb::Database::create(dir.path().join("log.redb")).expect("create redb");
    let (cpu, wall) = (thread_cpu(), Instant::now());
    let txn = db.begin_write().expect("begin");
    {
        let mut table = txn.open_table(TABLE).expect("table");
        for (i, p) in payloads.iter().enumerate() {
            table.insert(i as u64, &p[..]).expect("insert");
        }
    }
    txn.commit().expect("commit");
    (thread_cpu() - cpu, wall.elapsed())
}

fn measure(
    iters: u64,
    payloads: &[[u8; 64]],
    run: fn(&[[u8; 64]]) -> (Duration, Duration),
    cpu: bool,
) -> Duration {
    (0..iters)
        .map(|_| {
            let (c, w) = run(payloads);
            if cpu { c } else { w }
        })
        .sum()
}

fn log_path(c: &mut Criterion) {
    let payloads = payloads();
    let mut group = c.benchmark_group("log_1m_x_64B");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(ENTRIES as u64));
    for (name, run, cpu) in [
        ("segment_cpu", segment_once as fn(&[[u8; 64]]) -> _, true),
        ("segment_wall", segment_once, false),
        ("redb_cpu", redb_once, true),
        ("redb_wall", redb_once, false),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| measure(iters, &payloads, run, cpu))
        });
    }
    group.finish();
}

/// One group commit of `nodes` into a fresh on-disk ledger, then settling
/// its Merkle tree; returns (commit cpu, commit wall, settle cpu).
fn ingest_once(nodes: &[TraceNode]) -> (Duration, Duration, Duration) {
    let batch = nodes.to_vec();
    let dir = tempfile::tempdir().expect("temp dir");
    let storage =
        SegmentStorage::open(dir.path(), SegmentConfig::default()).expect("open segment log");
    let policy = FsyncPolicy::Batch {
        max_entries: usize::MAX,
        max_delay_ms: u64::MAX,
    };
    let (mut ledger, _) = TraceLedger::open(storage, policy).expect("open ledger");
    let (cpu, wall) = (thread_cpu(), Instant::now());
    black_box(ledger.append_batch(batch).expect("append"));
    let (commit_cpu, commit_wall) = (thread_cpu() - cpu, wall.elapsed());
    let settle = thread_cpu();
    ledger.settle();
    black_box(ledger.root());
    (commit_cpu, commit_wall, thread_cpu() - settle)
}

fn ingest(c: &mut Criterion) {
    let kind = TraceKind::new("bench.step").expect("kind");
    let nodes: Vec<TraceNode> = (0..INGEST_ENTRIES as u64)
        .map(|i| {
            TraceNode::builder(
                AgentId::new([(i % 64) as u8; 16]),
                Timestamp::new(i, 0),
                kind.clone(),
            )
            .payload_bytes([i as u8; 64])
            .build()
            .expect("node")
        })
        .collect();
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(INGEST_ENTRIES as u64));
    for (name, which) in [
        ("commit_200k_cpu", 0),
        ("commit_200k_wall", 1),
        ("settle_tree_200k_cpu", 2),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let (c, w, s) = ingest_once(&nodes);
                        [c, w, s][which]
                    })
                    .sum()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, log_path, ingest);
criterion_main!(benches);
