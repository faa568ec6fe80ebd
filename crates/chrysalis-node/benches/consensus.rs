//! Consensus across validators in one process, each node with its own event
//! loop and consensus task, talking real QUIC over loopback. Three clusters,
//! side by side in one run:
//!
//! - `tendermint4_memory_wal`: four Tendermint validators with the WAL and
//!   decided blocks in memory;
//! - `tendermint4_redb_wal`: the same, durable in redb (an fsync per WAL
//!   write, as `chrysalis up` runs);
//! - `raft3`: three raft (crash-tolerant) validators, durable in redb.
//!
//! Benchmarks:
//!
//! - `consensus_throughput/*`: 20,000 transactions of 100 bytes, proposed
//!   as 200 concurrent batches of 100 spread over the nodes; time until
//!   node 0 has applied all of them. Raft acknowledges a proposal once
//!   committed, Tendermint once durable in its pending set; both are timed
//!   to the same end (node 0 applied every transaction).
//! - `consensus_latency/*`: one transaction proposed to node 0 of an idle
//!   cluster until node 0 applies it (Tendermint: forwarding to the other
//!   validators, waking them, propose, prevote, precommit). p50/p99 are
//!   printed to stderr.
//! - `consensus_decision/*`: from one decision (block) at node 0 to the
//!   next while a client submits a transaction every millisecond,
//!   round-robin over the nodes; p50/p99 printed to stderr.
//!
//! Tendermint runs the node's loopback defaults (`service.rs`
//! `engine_config`: propose 200 ms, prevote/precommit 50 ms, rebroadcast
//! 200 ms) with `consensus_commit_wait_ms` = 5; raft the node's defaults
//! (heartbeat 50 ms, election 300–600 ms, up to 4 entries in flight,
//! proposals packed into one entry while others commit).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use chrysalis_node::config::ConsensusEngine;
use chrysalis_node::consensus::MemDisk;
use chrysalis_node::{Node, NodeConfig, NodeIdentity, NodeStore, ValidatorAddr};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

const TXS: usize = 20_000;
const PER_CALL: usize = 100;

/// The clusters compared: (name, engine, validators, durable).
const CLUSTERS: [(&str, ConsensusEngine, usize, bool); 3] = [
    (
        "tendermint4_memory_wal",
        ConsensusEngine::Tendermint,
        4,
        false,
    ),
    ("tendermint4_redb_wal", ConsensusEngine::Tendermint, 4, true),
    ("raft3", ConsensusEngine::Raft, 3, true),
];

struct Cluster {
    nodes: Vec<Node>,
    _dirs: Vec<tempfile::TempDir>,
}

/// `n` distinct loopback UDP addresses free at the time of asking (the
/// sockets are held together, so no address is handed out twice).
fn free_udp_addrs(n: usize) -> Vec<std::net::SocketAddr> {
    let sockets: Vec<std::net::UdpSocket> = (0..n)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").expect("udp"))
        .collect();
    sockets
        .iter()
        .map(|s| s.local_addr().expect("addr"))
        .collect()
}

/// Starts a cluster of `n` validators running `engine`, durable in redb
/// or (Tendermint only) in memory; a port taken between choosing it and
/// binding it means a fresh attempt.
async fn cluster(engine: ConsensusEngine, n: usize, durable: bool) -> Cluster {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_cluster(engine, n, durable).await {
            Ok(cluster) => return cluster,
            Err(error) if attempt < 5 => eprintln!("cluster start failed ({error}); retrying"),
            Err(error) => panic!("cluster start failed {attempt} times: {error}"),
        }
    }
}

async fn try_cluster(
    engine: ConsensusEngine,
    n: usize,
    durable: bool,
) -> Result<Cluster, chrysalis_node::NodeError> {
    let dirs: Vec<tempfile::TempDir> = (0..n).map(|_| tempfile::tempdir().expect("dir")).collect();
    let validators: Vec<ValidatorAddr> = dirs
        .iter()
        .zip(free_udp_addrs(n))
        .map(|(d, addr)| ValidatorAddr {
            id: NodeIdentity::load_or_create(d.path(), None, 1)
                .expect("identity")
                .node_id(),
            addr,
        })
        .collect();
    let mut nodes = Vec::new();
    for (dir, v) in dirs.iter().zip(&validators) {
        let config = NodeConfig {
            data_dir: dir.path().to_path_buf(),
            http_listen: "127.0.0.1:0".parse().expect("address"),
            gossip_listen: v.addr,
            validators: validators.clone(),
            consensus_commit_wait_ms: 5,
            consensus_engine: engine,
            ..NodeConfig::default()
        };
        let identity = NodeIdentity::load_or_create(dir.path(), None, 1).expect("identity");
        let store = Arc::new(NodeStore::open(dir.path()).expect("store"));
        let node = if durable {
            Node::start_on_store(&config, &identity, store).await?
        } else {
            let disk = Box::new(MemDisk::default());
            Node::start_with_consensus(&config, &identity, Box::new(store), disk).await?
        };
        nodes.push(node);
    }
    // Raft elects a leader first; a proposal before that waits for it.
    let c0 = nodes[0].handle.consensus().expect("consensus on");
    let _ = c0.propose(vec![b"warm-up".to_vec()]).await;
    Ok(Cluster { nodes, _dirs: dirs })
}

/// Proposes `TXS` fresh transactions (tagged `run`) and waits until node 0
/// applied them.
async fn burst(cluster: &Cluster, run: u64) -> Duration {
    let c0 = cluster.nodes[0].handle.consensus().expect("consensus on");
    let target = c0.applied() + TXS as u64;
    let start = Instant::now();
    let mut calls = Vec::new();
    for call in 0..TXS / PER_CALL {
        let c = cluster.nodes[call % cluster.nodes.len()]
            .handle
            .consensus()
            .expect("consensus on")
            .clone();
        let txs: Vec<Vec<u8>> = (0..PER_CALL)
            .map(|i| {
                let mut tx = format!("{run:016x}{call:08x}{i:08x}").into_bytes();
                tx.resize(100, b'.');
                tx
            })
            .collect();
        calls.push(tokio::spawn(async move { c.propose(txs).await }));
    }
    for call in calls {
        let (accepted, _) = call.await.expect("task").expect("proposed");
        assert_eq!(accepted, PER_CALL);
    }
    assert!(c0.wait_applied(target).await, "consensus stopped");
    start.elapsed()
}

/// One transaction to node 0 until node 0 applied it.
async fn one(cluster: &Cluster, run: u64) -> Duration {
    let c0 = cluster.nodes[0].handle.consensus().expect("consensus on");
    let target = c0.applied() + 1;
    let start = Instant::now();
    let tx = format!("lat-{run:016x}").into_bytes();
    c0.propose(vec![tx]).await.expect("proposed");
    assert!(c0.wait_applied(target).await, "consensus stopped");
    start.elapsed()
}

/// From the last decision at node 0 to the next one.
async fn next_decision(cluster: &Cluster) -> Duration {
    let c0 = cluster.nodes[0].handle.consensus().expect("consensus on");
    let now = c0.decided();
    assert!(c0.wait_decided(now + 1).await, "consensus stopped");
    let start = Instant::now();
    assert!(c0.wait_decided(now + 2).await, "consensus stopped");
    start.elapsed()
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    if samples.is_empty() {
        return;
    }
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    eprintln!(
        "{what}: {} samples, p50 {:.1} ms, p99 {:.1} ms",
        samples.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
    );
}

/// A client that submits one transaction every millisecond, round-robin
/// over the nodes, until `stop` turns true.
fn feed(
    cluster: &Cluster,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let handles: Vec<_> = cluster
        .nodes
        .iter()
        .map(|n| n.handle.consensus().expect("consensus on").clone())
        .collect();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        for seq in 0u64.. {
            if *stop.borrow() {
                break;
            }
            tick.tick().await;
            let tx = format!("feed-{seq:016x}").into_bytes();
            let _ = handles[seq as usize % handles.len()]
                .propose(vec![tx])
                .await;
        }
    })
}

fn decision(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("consensus_decision");
    group.sample_size(20);
    for (name, engine, n, durable) in CLUSTERS {
        let cluster = rt.block_on(cluster(engine, n, durable));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let feeder = {
            let _guard = rt.enter();
            feed(&cluster, stopped)
        };
        let mut samples = Vec::new();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let d = rt.block_on(next_decision(&cluster));
                    samples.push(d);
                    total += d;
                }
                total
            })
        });
        report(&format!("consensus_decision/{name}"), &mut samples);
        let _ = stop.send(true);
        let _ = rt.block_on(feeder);
        rt.block_on(async {
            for node in cluster.nodes {
                node.shutdown().await;
            }
        });
    }
    group.finish();
}

fn throughput(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("consensus_throughput");
    group.sample_size(10);
    group.throughput(Throughput::Elements(TXS as u64));
    for (name, engine, n, durable) in CLUSTERS {
        let cluster = rt.block_on(cluster(engine, n, durable));
        let mut run = 0u64;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    run += 1;
                    total += rt.block_on(burst(&cluster, run));
                }
                total
            })
        });
        rt.block_on(async {
            for node in cluster.nodes {
                node.shutdown().await;
            }
        });
    }
    group.finish();
}

fn latency(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("consensus_latency");
    group.sample_size(20);
    for (name, engine, n, durable) in CLUSTERS {
        let cluster = rt.block_on(cluster(engine, n, durable));
        let mut samples = Vec::new();
        let mut run = 1u64 << 40;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    run += 1;
                    let d = rt.block_on(one(&cluster, run));
                    samples.push(d);
                    total += d;
                }
                total
            })
        });
        report(&format!("consensus_latency/{name}"), &mut samples);
        rt.block_on(async {
            for node in cluster.nodes {
                node.shutdown().await;
            }
        });
    }
    group.finish();
}

criterion_group!(benches, throughput, latency, decision);
criterion_main!(benches);
