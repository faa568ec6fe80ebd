//! Three validators running the raft engine (`consensus_engine = raft`) in
//! this process over real QUIC on loopback: proposals sent to a follower
//! and to the leader through the HTTP API commit, the leader stops and
//! restarts from its database, every node's `/v1/consensus/log` is the
//! same and holds every acknowledged transaction exactly once, and status
//! says the engine is raft.

use crate::harness::eventually;
use chrysalis_node::client::Client;
use chrysalis_node::config::ConsensusEngine;
use chrysalis_node::{Node, NodeConfig, NodeIdentity, NodeStore, ValidatorAddr};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

struct RaftNode {
    rt: tokio::runtime::Runtime,
    node: Option<Node>,
    client: Client,
}

fn start(dir: &Path, listen: SocketAddr, validators: &[ValidatorAddr]) -> RaftNode {
    let rt = crate::harness::runtime();
    let config = NodeConfig {
        data_dir: dir.to_path_buf(),
        http_listen: "127.0.0.1:0".parse().unwrap(),
        gossip_listen: listen,
        validators: validators.to_vec(),
        consensus_engine: ConsensusEngine::Raft,
        ..NodeConfig::default()
    };
    let identity = NodeIdentity::load_or_create(dir, None, 1).unwrap();
    let store = Arc::new(NodeStore::open(dir).unwrap());
    let node = rt
        .block_on(Node::start_on_store(&config, &identity, store))
        .unwrap();
    let url = format!("http://{}", node.http_addr);
    let token = identity.api_token.expose_secret().clone();
    RaftNode {
        rt,
        node: Some(node),
        client: Client::new(&url, Some(token)).unwrap(),
    }
}

impl RaftNode {
    fn status(&self) -> Value {
        let r = self.client.get("/v1/consensus/status").unwrap();
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    }

    fn propose(&self, txs: &[String]) {
        let r = self
            .client
            .post("/v1/consensus/propose", &json!({ "txs": txs }))
            .unwrap();
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.json()["accepted"], txs.len(), "{}", r.text);
    }

    /// Every block, page by page.
    fn log(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut from = 1;
        loop {
            let r = self
                .client
                .get(&format!("/v1/consensus/log?from={from}&limit=3"))
                .unwrap();
            assert_eq!(r.status, 200, "{}", r.text);
            let body = r.json();
            let blocks = body["blocks"].as_array().unwrap().clone();
            if blocks.is_empty() {
                return out;
            }
            from = body["next"].as_u64().unwrap();
            out.extend(blocks);
        }
    }

    fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            self.rt.block_on(node.shutdown());
        }
    }
}

/// The index of a running node that says it leads, other than `skip`.
fn leader(nodes: &[RaftNode], skip: Option<usize>) -> usize {
    let mut leader = 0;
    eventually("a raft leader", || {
        let leads = (0..nodes.len())
            .filter(|i| Some(*i) != skip)
            .find(|i| nodes[*i].status()["step"] == "leader");
        leads.inspect(|i| leader = *i).is_some()
    });
    leader
}

/// Proposes batch `i` (two txs) through node `via`; records them in `sent`.
fn propose_batch(nodes: &[RaftNode], via: usize, i: usize, sent: &mut Vec<String>) {
    let txs = vec![format!("tx-{i}-a"), format!("tx-{i}-b")];
    // Acknowledged only once committed: the batch is in the log now.
    nodes[via].propose(&txs);
    sent.extend(txs);
}

/// Waits until every node applied `sent.len()` txs, then checks that the
/// logs are identical, gap-free, and hold every sent tx exactly once.
fn check_logs(nodes: &[RaftNode], sent: &[String]) -> (Vec<Value>, Vec<u64>) {
    let n = sent.len() as u64;
    eventually("every node applied every tx", || {
        nodes
            .iter()
            .all(|node| node.status()["applied_txs"].as_u64() == Some(n))
    });
    let logs: Vec<Vec<Value>> = nodes.iter().map(RaftNode::log).collect();
    assert!(logs.iter().all(|l| *l == logs[0]), "logs differ: {logs:?}");
    let heights: Vec<u64> = logs[0]
        .iter()
        .map(|b| b["height"].as_u64().unwrap())
        .collect();
    assert_eq!(
        heights,
        (1..=heights.len() as u64).collect::<Vec<_>>(),
        "no gaps"
    );
    let mut txs: Vec<String> = logs[0]
        .iter()
        .flat_map(|b| b["txs"].as_array().unwrap().clone())
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    txs.sort();
    let mut want = sent.to_vec();
    want.sort();
    assert_eq!(txs, want, "every acknowledged tx exactly once");
    (nodes.iter().map(RaftNode::status).collect(), heights)
}

#[test]
fn three_raft_validators_commit_through_follower_and_leader() {
    let (dirs, validators) = crate::harness::validators(3);
    let mut nodes: Vec<RaftNode> = dirs
        .iter()
        .zip(&validators)
        .map(|(d, v)| start(d.path(), v.addr, &validators))
        .collect();
    let first = leader(&nodes, None);
    let follower = (first + 1) % 3;
    let mut sent = Vec::new();
    for i in 0..6 {
        let via = if i % 2 == 0 { follower } else { first };
        propose_batch(&nodes, via, i, &mut sent);
    }
    let committed = nodes[first].status()["applied_txs"].as_u64().unwrap();
    assert!(committed >= 12, "acknowledged means committed: {committed}");
    check_logs(&nodes, &sent);
    let bad = nodes[first]
        .client
        .post("/v1/consensus/propose", &json!({ "txs": [""] }))
        .unwrap();
    assert_eq!(bad.status, 400, "{}", bad.text);

    // The leader stops; proposals through the others commit under the
    // next leader; the old one restarts from its database and catches up.
    nodes[first].stop();
    let third = (first + 2) % 3;
    for i in 6..10 {
        let via = if i % 2 == 0 { follower } else { third };
        propose_batch(&nodes, via, i, &mut sent);
    }
    let second = leader(&nodes, Some(first));
    assert_ne!(second, first);
    // Its runtime goes with it, and every task that held its endpoint.
    drop(nodes.remove(first));
    let restarted = start(dirs[first].path(), validators[first].addr, &validators);
    nodes.insert(first, restarted);
    propose_batch(&nodes, first, 10, &mut sent);
    let (status, heights) = check_logs(&nodes, &sent);
    for s in &status {
        assert_eq!(s["engine"], "raft");
        assert_eq!(s["state_head"], status[0]["state_head"]);
        assert_eq!(s["validators"].as_array().unwrap().len(), 3);
        assert_eq!(s["mempool"], 0);
        assert_eq!(s["last_decision"]["height"], heights.len());
    }
    let steps: Vec<&str> = status.iter().map(|s| s["step"].as_str().unwrap()).collect();
    let leaders = steps.iter().filter(|s| **s == "leader").count();
    assert_eq!(leaders, 1, "{steps:?}");
    for n in &mut nodes {
        n.stop();
    }
}

#[test]
fn raft_without_the_node_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let identity = NodeIdentity::load_or_create(dir.path(), None, 1).unwrap();
    let config = NodeConfig {
        data_dir: dir.path().to_path_buf(),
        http_listen: "127.0.0.1:0".parse().unwrap(),
        gossip_listen: "127.0.0.1:0".parse().unwrap(),
        validators: vec![ValidatorAddr {
            id: identity.node_id(),
            addr: "127.0.0.1:1".parse().unwrap(),
        }],
        consensus_engine: ConsensusEngine::Raft,
        ..NodeConfig::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = chrysalis_node::MemoryStore::default();
    let err = rt
        .block_on(Node::start(&config, &identity, Box::new(store)))
        .unwrap_err();
    assert!(
        matches!(err, chrysalis_node::NodeError::RaftNeedsStore),
        "{err}"
    );
}
