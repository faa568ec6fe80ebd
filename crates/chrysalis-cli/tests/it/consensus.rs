//! BFT consensus across real `chrysalis up` processes on loopback: four
//! validators order a stream of transactions sent to different nodes; one
//! is killed with SIGKILL mid-stream and restarted on the same data
//! directory; it catches up, and at the end every node's log is identical
//! and holds every acknowledged transaction exactly once.

use crate::procs::{NodeProc, eventually, free_udp_addrs, init, start_up};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Starts a validator whose QUIC endpoint is `listen`.
fn start(dir: &Path, token: &str, listen: &str, validators: &[String]) -> NodeProc {
    let mut args = Vec::new();
    for v in validators {
        args.extend(["--validator".to_owned(), v.clone()]);
    }
    start_up(dir, token, listen, &args)
}

/// The consensus API of a node process.
trait Validator {
    /// Proposes `tx`; true when the node acknowledged it.
    fn propose(&self, tx: &str) -> bool;
    /// Height → (block hash, txs), every decided block.
    fn log(&self) -> BTreeMap<u64, (String, Vec<String>)>;
}

impl Validator for NodeProc {
    fn propose(&self, tx: &str) -> bool {
        let r = self
            .client()
            .post("/v1/consensus/propose", &json!({"tx": tx}));
        r.is_ok_and(|r| r.status == 202 && r.json()["accepted"] == 1)
    }

    fn log(&self) -> BTreeMap<u64, (String, Vec<String>)> {
        let mut out = BTreeMap::new();
        let mut from = 1;
        loop {
            let Ok(r) = self
                .client()
                .get(&format!("/v1/consensus/log?from={from}&limit=1000"))
            else {
                return out;
            };
            assert_eq!(r.status, 200, "{}", r.text);
            let page: Value = r.json();
            let blocks = page["blocks"].as_array().unwrap();
            if blocks.is_empty() {
                return out;
            }
            for b in blocks {
                let txs = b["txs"].as_array().unwrap();
                let txs = txs.iter().map(|t| t.as_str().unwrap().to_owned());
                out.insert(
                    b["height"].as_u64().unwrap(),
                    (b["hash"].as_str().unwrap().to_owned(), txs.collect()),
                );
            }
            from = page["next"].as_u64().unwrap();
        }
    }
}

fn txs_of(log: &BTreeMap<u64, (String, Vec<String>)>) -> Vec<String> {
    log.values().flat_map(|(_, t)| t.clone()).collect()
}

#[test]
fn four_validators_commit_one_log_through_a_sigkill() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let paths: Vec<PathBuf> = dirs.iter().map(|d| d.path().to_path_buf()).collect();
    let ids: Vec<(String, String)> = paths.iter().map(|p| init(p)).collect();
    let addrs: Vec<String> = free_udp_addrs(4);
    let validators: Vec<String> = ids
        .iter()
        .zip(&addrs)
        .map(|((id, _), addr)| format!("{id}@{addr}"))
        .collect();
    let mut nodes: Vec<NodeProc> = (0..4)
        .map(|i| start(&paths[i], &ids[i].1, &addrs[i], &validators))
        .collect();
    let mut acked = Vec::new();
    let mut send = |nodes: &[NodeProc], i: usize, skip: Option<usize>| {
        let tx = format!("tx-{i:04}");
        let mut to = i % 4;
        if Some(to) == skip {
            to = (to + 1) % 4;
        }
        if nodes[to].propose(&tx) {
            acked.push(tx);
        }
    };
    for i in 0..40 {
        send(&nodes, i, None);
    }
    // SIGKILL mid-stream: the stream goes on to the others.
    nodes[2].child.kill().unwrap();
    nodes[2].child.wait().unwrap();
    for i in 40..80 {
        send(&nodes, i, Some(2));
    }
    nodes[2] = start(&paths[2], &ids[2].1, &addrs[2], &validators);
    for i in 80..120 {
        send(&nodes, i, None);
    }
    assert!(
        acked.len() >= 110,
        "only {} of 120 acknowledged",
        acked.len()
    );
    eventually("every acknowledged tx on every node", || {
        nodes.iter().all(|n| {
            let txs = txs_of(&n.log());
            acked.iter().all(|t| txs.contains(t))
        })
    });
    let logs: Vec<_> = nodes.iter().map(NodeProc::log).collect();
    let common = logs.iter().map(|l| l.len() as u64).min().unwrap();
    for (n, log) in logs.iter().enumerate() {
        for h in 1..=common {
            assert_eq!(log[&h].0, logs[0][&h].0, "node {n} differs at height {h}");
        }
        let status = nodes[n].client().get("/v1/consensus/status").unwrap();
        assert_eq!(status.status, 200, "{}", status.text);
        let status = status.json();
        assert_eq!(status["validators"].as_array().unwrap().len(), 4);
        assert_eq!(status["me"], n);
        assert!(status["height"].as_u64().unwrap() > common.min(1));
        assert_eq!(status["evidence"], 0);
        let metrics = nodes[n].client().get("/metrics").unwrap().text;
        assert!(
            metrics.contains("chrysalis_consensus_bad_messages_total 0"),
            "{metrics}"
        );
        let txs = txs_of(log);
        for t in &acked {
            let times = txs.iter().filter(|x| *x == t).count();
            assert_eq!(times, 1, "node {n} holds {t} {times} times");
        }
    }
}
