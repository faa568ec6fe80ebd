//! Node benchmarks over real loopback sockets.
//!
//! - `convergence`: five nodes (one process, five event loops, real QUIC
//!   over loopback and redb on disk), default 200 ms gossip interval. Time from a skill write on node
//!   A (acknowledged, so persisted) until all five hold the same state
//!   digest. Side by side: with `gossip_push` (the default: the write
//!   brings the next anti-entropy round forward) and with the round timer
//!   alone.
//! - `http`: a hyper load generator, 16 keep-alive connections, against one
//!   node: `POST /v1/agents/{id}/skills` (a persisted write) beside
//!   `GET /health` (the HTTP floor of the same server). Criterion reports
//!   requests per second; p50/p99 latencies are printed to stderr.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use chrysalis_node::{Node, NodeConfig, NodeHandle, NodeIdentity, NodeStore};
use chrysalis_types::AgentId;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

struct Cluster {
    nodes: Vec<Node>,
    _dirs: Vec<tempfile::TempDir>,
}

fn config(dir: &std::path::Path, join: Vec<std::net::SocketAddr>, push: bool) -> NodeConfig {
    NodeConfig {
        data_dir: dir.to_path_buf(),
        http_listen: "127.0.0.1:0".parse().expect("address"),
        gossip_listen: "127.0.0.1:0".parse().expect("address"),
        join,
        gossip_push: push,
        ..NodeConfig::default()
    }
}

async fn start(
    dir: &tempfile::TempDir,
    join: Vec<std::net::SocketAddr>,
    push: bool,
) -> (Node, String) {
    let identity = NodeIdentity::load_or_create(dir.path(), None, 1).expect("identity");
    let store = std::sync::Arc::new(NodeStore::open(dir.path()).expect("store"));
    let node = Node::start(&config(dir.path(), join, push), &identity, Box::new(store))
        .await
        .expect("node starts");
    (node, identity.api_token.expose_secret().clone())
}

async fn cluster(size: usize, push: bool) -> Cluster {
    let dirs: Vec<tempfile::TempDir> = (0..size)
        .map(|_| tempfile::tempdir().expect("dir"))
        .collect();
    let (first, _) = start(&dirs[0], Vec::new(), push).await;
    let seed = first.gossip_addr;
    let mut nodes = vec![first];
    for dir in &dirs[1..] {
        nodes.push(start(dir, vec![seed], push).await.0);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for node in &nodes {
        loop {
            let view = node.handle.cluster().await.expect("cluster");
            if view.members.iter().filter(|(_, alive)| *alive).count() == size - 1 {
                break;
            }
            assert!(Instant::now() < deadline, "membership did not form");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Cluster { nodes, _dirs: dirs }
}

async fn converged(handles: &[NodeHandle]) -> bool {
    let mut first = None;
    for h in handles {
        let digest = h.digest().await.expect("digest").0;
        match first {
            None => first = Some(digest),
            Some(d) if d != digest => return false,
            Some(_) => {}
        }
    }
    true
}

/// One write on node 0, then polls (every 0.5 ms) until all digests agree.
async fn write_until_converged(handles: &[NodeHandle], agent: AgentId, k: u64) -> Duration {
    let level = (k % 100) as f64 / 100.0;
    let start = Instant::now();
    handles[0]
        .update_skill(agent, format!("s{}", k % 7), level)
        .await
        .expect("write");
    while !converged(handles).await {
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    start.elapsed()
}

fn convergence(c: &mut Criterion) {
    let mut group = c.benchmark_group("convergence");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    for (name, push) in [("5_nodes_push", true), ("5_nodes_rounds_only", false)] {
        let rt = Runtime::new().expect("runtime");
        let cluster = rt.block_on(cluster(5, push));
        let handles: Vec<NodeHandle> = cluster.nodes.iter().map(|n| n.handle.clone()).collect();
        let agent = AgentId::new([9; 16]);
        rt.block_on(async {
            handles[0].create_agent(agent).await.expect("agent");
            while !converged(&handles).await {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        let mut k = 0;
        let mut samples = Vec::new();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        k += 1;
                        let took = write_until_converged(&handles, agent, k).await;
                        samples.push(took);
                        total += took;
                    }
                    total
                })
            });
        });
        report(
            &format!("convergence/{name}"),
            &mut samples,
            "write to visible on all 5",
        );
        rt.block_on(async {
            for node in cluster.nodes {
                node.shutdown().await;
            }
        });
    }
    group.finish();
}

/// `conns` keep-alive connections, each sending `per_conn` requests in turn.
async fn load(
    addr: std::net::SocketAddr,
    request: hyper::Request<Full<Bytes>>,
    conns: usize,
    per_conn: usize,
) -> Vec<Duration> {
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let template = request.clone();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let io = hyper_util::rt::TokioIo::new(stream);
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .expect("handshake");
            tokio::spawn(conn);
            let mut latencies = Vec::with_capacity(per_conn);
            for _ in 0..per_conn {
                let req = template.clone();
                let start = Instant::now();
                let response = sender.send_request(req).await.expect("response");
                assert!(
                    response.status().is_success(),
                    "status {}",
                    response.status()
                );
                response.into_body().collect().await.expect("body");
                latencies.push(start.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("load task"));
    }
    all
}

fn http(c: &mut Criterion) {
    const CONNS: usize = 16;
    const PER_CONN: usize = 25;
    let rt = Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let (node, token) = rt.block_on(start(&dir, Vec::new(), true));
    let addr = node.http_addr;
    let agent = AgentId::new([3; 16]);
    rt.block_on(node.handle.create_agent(agent)).expect("agent");
    let auth = format!("Bearer {token}");
    let write = hyper::Request::post(format!("/v1/agents/{agent}/skills"))
        .header("host", addr.to_string())
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(
            br#"{"name":"rust","level":0.5}"#,
        )))
        .expect("request");
    let health = hyper::Request::get("/health")
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .expect("request");
    let mut group = c.benchmark_group("http");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements((CONNS * PER_CONN) as u64));
    for (name, request) in [
        ("skill_update_16_conns", write),
        ("health_16_conns", health),
    ] {
        let mut samples = Vec::new();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let latencies = rt.block_on(load(addr, request.clone(), CONNS, PER_CONN));
                    total += start.elapsed();
                    samples.extend(latencies);
                }
                total
            });
        });
        report(&format!("http/{name}"), &mut samples, "per request");
    }
    group.finish();
    rt.block_on(node.shutdown());
}

/// Prints p50/p99 of `samples` to stderr.
fn report(name: &str, samples: &mut [Duration], what: &str) {
    if samples.is_empty() {
        return;
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    eprintln!(
        "{name}: {what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
        samples.len()
    );
}

criterion_group!(benches, convergence, http);
criterion_main!(benches);
