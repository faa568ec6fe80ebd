//! The demo's consensus section: the nodes agree, Byzantine-tolerantly, on
//! an ordered log of skill certifications proposed at different nodes.

use super::cluster::Cluster;
use super::live::{AGENTS, agent_id};
use super::show::{Show, format_duration};
use anyhow::{Result, bail};
use chrysalis_node::client::Client;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One decided block as a node reports it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Block {
    hash: String,
    proposer: u64,
    txs: Vec<String>,
}

/// Every decided block a node holds, by height.
fn decided(client: &Client) -> Result<BTreeMap<u64, Block>> {
    let mut blocks = BTreeMap::new();
    let mut from = 1;
    loop {
        let resp = client.get(&format!("/v1/consensus/log?from={from}&limit=1000"))?;
        if resp.status != 200 {
            bail!("consensus log: {}", resp.text);
        }
        let body = resp.json();
        let page = body["blocks"].as_array().cloned().unwrap_or_default();
        for b in &page {
            let txs = b["txs"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            blocks.insert(
                b["height"].as_u64().unwrap_or(0),
                Block {
                    hash: b["hash"].as_str().unwrap_or("").to_owned(),
                    proposer: b["proposer"].as_u64().unwrap_or(0),
                    txs,
                },
            );
        }
        match body["next"].as_u64() {
            Some(next) if !page.is_empty() && next > from => from = next,
            _ => return Ok(blocks),
        }
    }
}

/// The certification an agent's best skill earns.
fn certification(client: &Client, name: &str) -> Result<Option<String>> {
    let state = client
        .get(&format!("/v1/agents/{}", agent_id(name)))?
        .json();
    let best = state["skills"].as_array().and_then(|skills| {
        skills
            .iter()
            .filter_map(|s| Some((s["name"].as_str()?, s["level"].as_f64()?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    });
    Ok(best.map(|(skill, level)| format!("certify {name} {skill} {level:.2}")))
}

/// Proposes one certification per agent, each at a different node, and
/// waits until every node has decided all of them.
pub(super) fn agree(show: &mut Show, cluster: &Cluster) -> Result<()> {
    show.section("The nodes agree on an ordered log of certifications");
    show.say("Tendermint BFT: every node is a validator; any one of them may fail or lie and the rest still decide.");
    let clients: Vec<Client> = cluster
        .nodes
        .iter()
        .map(|n| n.client())
        .collect::<Result<_>>()?;
    let mut proposed = Vec::new();
    for (i, name) in AGENTS.iter().enumerate() {
        let at = &clients[i % clients.len()];
        let Some(tx) = certification(at, name)? else {
            continue;
        };
        let resp = at.post("/v1/consensus/propose", &json!({"tx": tx}))?;
        if resp.status != 202 {
            bail!("proposing {tx:?}: {}", resp.text);
        }
        proposed.push(tx);
    }
    let started = Instant::now();
    let logs = wait_for(&clients, &proposed, Duration::from_secs(30));
    let logs = match logs {
        Ok(logs) => logs,
        Err(e) => {
            show.check(
                false,
                "every node decides every certification",
                e.to_string(),
            );
            return Ok(());
        }
    };
    let took = started.elapsed();
    for (height, block) in logs[0].iter().filter(|(_, b)| !b.txs.is_empty()) {
        for tx in block.txs.iter().filter(|tx| proposed.contains(tx)) {
            show.fact(
                &format!("height {height}"),
                format!("{tx}  (proposed by validator {})", block.proposer),
            );
        }
    }
    show.check(
        true,
        format!(
            "{} certifications decided on all {} nodes",
            proposed.len(),
            clients.len()
        ),
        format_duration(took),
    );
    let identical = logs.iter().all(|log| same_prefix(&logs[0], log));
    show.check(
        identical,
        "every node holds the same blocks at every height it has decided",
        format!(
            "{} heights",
            logs.iter().map(BTreeMap::len).max().unwrap_or(0)
        ),
    );
    let once = proposed.iter().all(|tx| {
        logs[0]
            .values()
            .flat_map(|b| &b.txs)
            .filter(|t| *t == tx)
            .count()
            == 1
    });
    show.check(once, "each certification is in the log exactly once", "");
    // Right after a decision the validators pause (commit wait) before
    // they see that nothing waits; give them a moment to go idle.
    let mut status: Value = clients[0].get("/v1/consensus/status")?.json();
    for _ in 0..50 {
        if status["step"] == "idle" {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        status = clients[0].get("/v1/consensus/status")?.json();
    }
    let step = match status["step"].as_str() {
        Some("idle") => "idle, waiting for transactions".to_owned(),
        other => format!("round {} · {}", status["round"], other.unwrap_or("?")),
    };
    show.fact(
        "status",
        format!(
            "height {} · {step} · {} validators · evidence of double-signing: {}",
            status["height"],
            status["validators"].as_array().map_or(0, Vec::len),
            status["evidence"]
        ),
    );
    Ok(())
}

/// Blocks both logs hold must be identical.
pub(super) fn same_prefix(a: &BTreeMap<u64, Block>, b: &BTreeMap<u64, Block>) -> bool {
    a.iter()
        .all(|(height, block)| b.get(height).is_none_or(|other| other == block))
}

/// Waits until every client's node has decided every one of `txs`, and
/// returns their logs.
pub(super) fn wait_for(
    clients: &[Client],
    txs: &[String],
    timeout: Duration,
) -> Result<Vec<BTreeMap<u64, Block>>> {
    let started = Instant::now();
    loop {
        let logs: Vec<_> = clients.iter().map(decided).collect::<Result<_>>()?;
        let has_all = |log: &BTreeMap<u64, Block>| {
            txs.iter()
                .all(|tx| log.values().any(|b| b.txs.contains(tx)))
        };
        if logs.iter().all(has_all) {
            return Ok(logs);
        }
        if started.elapsed() > timeout {
            bail!("not every node decided every certification within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
