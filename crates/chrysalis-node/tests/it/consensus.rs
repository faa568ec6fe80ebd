//! Four validators in this process over real QUIC on loopback: they order
//! transactions sent to different nodes into one identical log, a
//! restarted validator catches up from its durable WAL and its peers'
//! commit certificates, and consensus routes answer 503 where it is off.

use crate::harness::{TestNode, eventually};
use chrysalis_node::consensus::NodeDisk;
use chrysalis_node::{Node, NodeConfig, NodeIdentity, NodeStore, ValidatorAddr};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

struct Validator {
    rt: tokio::runtime::Runtime,
    node: Option<Node>,
}

fn start(dir: &Path, listen: SocketAddr, validators: &[ValidatorAddr]) -> Validator {
    let rt = crate::harness::runtime();
    let config = NodeConfig {
        data_dir: dir.to_path_buf(),
        http_listen: "127.0.0.1:0".parse().unwrap(),
        gossip_listen: listen,
        validators: validators.to_vec(),
        consensus_commit_wait_ms: 5,
        ..NodeConfig::default()
    };
    let identity = NodeIdentity::load_or_create(dir, None, 1).unwrap();
    let store = Arc::new(NodeStore::open(dir).unwrap());
    let disk = NodeDisk::new(store.clone());
    let node = rt
        .block_on(Node::start_with_consensus(
            &config,
            &identity,
            Box::new(store),
            Box::new(disk),
        ))
        .unwrap();
    Validator {
        rt,
        node: Some(node),
    }
}

impl Validator {
    fn propose(&self, tx: &str) {
        let c = self.node.as_ref().unwrap().handle.consensus().unwrap();
        let (accepted, _) = self.rt.block_on(c.propose(vec![tx.into()])).unwrap();
        assert_eq!(accepted, 1);
    }

    /// Height → (hash, txs) of every decided block.
    fn log(&self) -> BTreeMap<u64, ([u8; 32], Vec<Vec<u8>>)> {
        let c = self.node.as_ref().unwrap().handle.consensus().unwrap();
        let mut out = BTreeMap::new();
        let mut from = 1;
        loop {
            let page = self.rt.block_on(c.log(from, 1000)).unwrap();
            let Some(last) = page.last() else { break };
            from = last.height + 1;
            for b in page {
                out.insert(b.height, (b.hash, b.txs));
            }
        }
        out
    }

    fn status(&self) -> chrysalis_node::consensus::ConsensusStatus {
        let c = self.node.as_ref().unwrap().handle.consensus().unwrap();
        self.rt.block_on(c.status()).unwrap()
    }

    fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            self.rt.block_on(node.shutdown());
        }
    }
}

fn committed(log: &BTreeMap<u64, ([u8; 32], Vec<Vec<u8>>)>) -> Vec<Vec<u8>> {
    log.values().flat_map(|(_, txs)| txs.clone()).collect()
}

#[test]
fn four_validators_agree_and_a_restarted_one_catches_up() {
    let (dirs, validators) = crate::harness::validators(4);
    let mut nodes: Vec<Validator> = dirs
        .iter()
        .zip(&validators)
        .map(|(d, v)| start(d.path(), v.addr, &validators))
        .collect();
    let mut sent = Vec::new();
    for i in 0..20 {
        let tx = format!("tx-{i}");
        nodes[i % 4].propose(&tx);
        sent.push(tx);
    }
    nodes[3].stop();
    nodes[3] = start(dirs[3].path(), validators[3].addr, &validators);
    for i in 20..40 {
        let tx = format!("tx-{i}");
        nodes[i % 4].propose(&tx);
        sent.push(tx);
    }
    eventually("every tx committed on every node", || {
        nodes
            .iter()
            .all(|n| committed(&n.log()).len() >= sent.len())
    });
    let logs: Vec<_> = nodes.iter().map(Validator::log).collect();
    let shortest = logs.iter().map(|l| l.len() as u64).min().unwrap();
    for log in &logs[1..] {
        for h in 1..=shortest {
            assert_eq!(log[&h].0, logs[0][&h].0, "block hash differs at height {h}");
        }
    }
    let mut txs = committed(&logs[0]);
    txs.sort();
    let mut want: Vec<Vec<u8>> = sent.iter().map(|t| t.as_bytes().to_vec()).collect();
    want.sort();
    assert_eq!(txs, want, "every tx exactly once");
    // Nothing left to decide: every validator waits idle at the same
    // height instead of deciding empty blocks.
    eventually("every validator idle at one height", || {
        let status: Vec<_> = nodes.iter().map(Validator::status).collect();
        status
            .iter()
            .all(|s| s.step == "idle" && s.height == status[0].height)
    });
    // Honest validators: nobody was caught double-signing.
    for n in &nodes {
        let c = n.node.as_ref().unwrap().handle.consensus().unwrap();
        assert_eq!(n.rt.block_on(c.evidence()).unwrap(), vec![]);
    }
    for n in &mut nodes {
        n.stop();
    }
}

#[test]
fn consensus_routes_answer_503_when_off() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(dir.path(), &[]);
    let client = node.client();
    let r = client
        .post("/v1/consensus/propose", &serde_json::json!({"tx": "x"}))
        .unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.error_code().as_deref(), Some("consensus_off"));
    let r = client.get("/v1/consensus/status").unwrap();
    assert_eq!(r.status, 503);
    let r = client.get("/v1/consensus/evidence").unwrap();
    assert_eq!(r.status, 503);
    node.stop();
}
