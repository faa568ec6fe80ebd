//! Crash-tolerant consensus across real `chrysalis up --consensus-engine
//! raft` processes on loopback: three validators commit a stream of
//! proposals; the leader is killed with SIGKILL and the other two go on
//! committing; the old leader restarts on its data directory and catches
//! up; at the end no entry differs between nodes, every acknowledged
//! transaction is in the log exactly once, and no transaction twice.

use crate::procs::{NodeProc, eventually, free_udp_addrs, init, start_up};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Starts a raft validator whose QUIC endpoint is `listen`.
fn start(dir: &Path, token: &str, listen: &str, validators: &[String]) -> NodeProc {
    let mut args = vec!["--consensus-engine".to_owned(), "raft".to_owned()];
    for v in validators {
        args.extend(["--validator".to_owned(), v.clone()]);
    }
    start_up(dir, token, listen, &args)
}

fn status(node: &NodeProc) -> Option<Value> {
    let r = node.client().get("/v1/consensus/status").ok()?;
    (r.status == 200).then(|| r.json())
}

/// True when the node acknowledged `tx` (it is then committed).
fn propose(node: &NodeProc, tx: &str) -> bool {
    let r = node
        .client()
        .post("/v1/consensus/propose", &json!({ "tx": tx }));
    r.is_ok_and(|r| r.status == 202 && r.json()["accepted"] == 1)
}

/// Every block as (height, round, hash, proposer, txs) JSON.
fn log(node: &NodeProc) -> Vec<Value> {
    let mut out = Vec::new();
    let mut from = 1;
    loop {
        let r = node
            .client()
            .get(&format!("/v1/consensus/log?from={from}&limit=1000"))
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.json();
        let blocks = page["blocks"].as_array().unwrap().clone();
        if blocks.is_empty() {
            return out;
        }
        from = page["next"].as_u64().unwrap();
        out.extend(blocks);
    }
}

fn txs_of(log: &[Value]) -> Vec<String> {
    log.iter()
        .flat_map(|b| b["txs"].as_array().unwrap().clone())
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

/// Checks node `n`'s log: every acknowledged tx exactly once, and no tx
/// twice (one whose answer was lost may be in the log, once).
fn exactly_once(n: usize, txs: &[String], acked: &[String]) {
    let mut counts = std::collections::BTreeMap::new();
    for tx in txs {
        *counts.entry(tx.as_str()).or_insert(0) += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "node {n} applied txs twice: {twice:?}");
    for tx in acked {
        assert_eq!(counts.get(tx.as_str()), Some(&1), "node {n}: {tx}");
    }
}

/// The index of the node that leads the newest term (a node of an older
/// term may still believe it leads until it hears of the new one).
fn leader(nodes: &[NodeProc], skip: Option<usize>) -> usize {
    let mut found = 0;
    eventually("a raft leader", || {
        let status: Vec<(usize, Value)> = (0..nodes.len())
            .filter(|i| Some(*i) != skip)
            .filter_map(|i| status(&nodes[i]).map(|s| (i, s)))
            .collect();
        let newest = status.iter().filter_map(|(_, s)| s["round"].as_u64()).max();
        let leads = status
            .iter()
            .find(|(_, s)| s["step"] == "leader" && s["round"].as_u64() == newest);
        match leads {
            Some((i, _)) if status.len() == nodes.len() - usize::from(skip.is_some()) => {
                found = *i;
                true
            }
            _ => false,
        }
    });
    found
}

/// Proposes `tx-<i>` to node `i % 3` (the next one if that is `skip`),
/// recording it in `acked` when acknowledged.
fn send(nodes: &[NodeProc], acked: &mut Vec<String>, i: usize, skip: Option<usize>) {
    let tx = format!("tx-{i:04}");
    let mut to = i % 3;
    if Some(to) == skip {
        to = (to + 1) % 3;
    }
    if propose(&nodes[to], &tx) {
        acked.push(tx);
    }
}

#[test]
fn three_raft_validators_commit_through_a_leader_sigkill() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let paths: Vec<PathBuf> = dirs.iter().map(|d| d.path().to_path_buf()).collect();
    let ids: Vec<(String, String)> = paths.iter().map(|p| init(p)).collect();
    let addrs = free_udp_addrs(3);
    let validators: Vec<String> = ids
        .iter()
        .zip(&addrs)
        .map(|((id, _), addr)| format!("{id}@{addr}"))
        .collect();
    let mut nodes: Vec<NodeProc> = (0..3)
        .map(|i| start(&paths[i], &ids[i].1, &addrs[i], &validators))
        .collect();
    let first = leader(&nodes, None);
    let mut acked = Vec::new();
    for i in 0..30 {
        send(&nodes, &mut acked, i, None);
    }
    let before = acked.len();
    assert_eq!(before, 30, "a healthy cluster acknowledges every proposal");
    // SIGKILL the leader: the other two elect a new one and go on.
    nodes[first].child.kill().unwrap();
    nodes[first].child.wait().unwrap();
    for i in 30..60 {
        send(&nodes, &mut acked, i, Some(first));
    }
    let during = acked.len() - before;
    assert!(
        during >= 25,
        "only {during} of 30 committed without the old leader"
    );
    let second = leader(&nodes, Some(first));
    assert_ne!(second, first);
    nodes[first] = start(&paths[first], &ids[first].1, &addrs[first], &validators);
    for i in 60..90 {
        send(&nodes, &mut acked, i, None);
    }
    eventually("every acknowledged tx on every node", || {
        nodes.iter().all(|n| {
            let txs = txs_of(&log(n));
            acked.iter().all(|t| txs.contains(t))
        })
    });
    let logs: Vec<Vec<Value>> = nodes.iter().map(log).collect();
    let common = logs.iter().map(Vec::len).min().unwrap();
    for (n, l) in logs.iter().enumerate() {
        assert_eq!(l[..common], logs[0][..common], "node {n}'s log differs");
        exactly_once(n, &txs_of(l), &acked);
        for (i, b) in l.iter().enumerate() {
            assert_eq!(b["height"], i + 1, "node {n}: heights have no gaps");
        }
        let s = status(&nodes[n]).unwrap();
        assert_eq!(s["engine"], "raft");
        assert_eq!(s["me"], n);
        let metrics = nodes[n].client().get("/metrics").unwrap().text;
        assert!(
            metrics.contains("chrysalis_consensus_bad_messages_total 0"),
            "{metrics}"
        );
    }
    let terms: Vec<u64> = logs[0]
        .iter()
        .map(|b| b["round"].as_u64().unwrap())
        .collect();
    assert!(
        terms.windows(2).all(|w| w[0] <= w[1]),
        "terms never go back"
    );
    assert!(terms.last() > terms.first(), "a new term after the SIGKILL");
}
