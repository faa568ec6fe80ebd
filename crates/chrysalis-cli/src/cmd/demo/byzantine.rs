//! The demo's Byzantine act: the last validator's key signs two different
//! prevotes for the same height and round (equivocation), sent straight to
//! every other node over the cluster's QUIC consensus channel. Every node
//! must catch it and hold proof anyone can check, and the log must go on
//! as before.

use super::agree::{same_prefix, wait_for};
use super::cluster::{Cluster, LocalNode};
use super::show::{Show, format_duration};
use anyhow::{Context, Result, bail};
use chrysalis_consensus::{
    BlockHash, Height, Message, Round, SignedVote, SigningKey, Validator, ValidatorIndex,
    ValidatorSet, VerificationKey, Vote, VoteKind,
};
use chrysalis_net::{Admission, Channel, Endpoint, NetConfig};
use chrysalis_node::NodeIdentity;
use chrysalis_node::client::Client;
use chrysalis_types::codec::{Decode, Encode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How long the nodes get to report the evidence.
const CATCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The validator set the demo's nodes run (each node's key, power 1).
fn validator_set(cluster: &Cluster) -> Result<ValidatorSet> {
    let validators = cluster
        .nodes
        .iter()
        .map(|n| {
            let key = VerificationKey::try_from(*n.id.as_bytes())
                .context("a node id is not an Ed25519 key")?;
            Ok(Validator { key, power: 1 })
        })
        .collect::<Result<_>>()?;
    Ok(ValidatorSet::new(validators)?)
}

/// Two prevotes of `index` for different blocks in one slot.
fn two_votes(key: &SigningKey, index: u16, height: u64, round: u32) -> [SignedVote; 2] {
    ["one block", "another block"].map(|what| {
        Vote {
            kind: VoteKind::Prevote,
            height: Height(height),
            round: Round(round),
            value: Some(BlockHash(*blake3::hash(what.as_bytes()).as_bytes())),
            validator: ValidatorIndex(index),
        }
        .sign(key)
    })
}

/// Sends both votes to every node but the liar itself, from an endpoint
/// holding the liar's key (so the nodes take it for the liar).
fn send(liar: &NodeIdentity, to: &[&LocalNode], votes: &[SignedVote; 2]) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let endpoint = Endpoint::bind(
            "127.0.0.1:0".parse()?,
            &liar.key,
            Admission::open(),
            NetConfig::default(),
        )?;
        for node in to {
            for vote in votes {
                let frame = Message::Vote(*vote).to_bytes();
                endpoint
                    .send(node.gossip, Some(node.id), Channel::CONSENSUS, &frame)
                    .await
                    .with_context(|| format!("sending to node {}", node.number))?;
            }
        }
        endpoint.close().await;
        Ok(())
    })
}

/// The records a node holds against validator `index`.
fn records_against(client: &Client, index: u16) -> Result<Vec<Value>> {
    let resp = client.get("/v1/consensus/evidence")?;
    if resp.status != 200 {
        bail!("consensus evidence: {}", resp.text);
    }
    let body = resp.json();
    Ok(body["evidence"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|e| e["validator"].as_u64() == Some(u64::from(index)))
                .cloned()
                .collect()
        })
        .unwrap_or_default())
}

/// Checks a record on its own: both messages decode, verify against the
/// validator's key, and sign different blocks in one slot.
fn convicts(record: &Value, set: &ValidatorSet, index: u16) -> bool {
    let vote = |side: &str| -> Option<SignedVote> {
        let bytes = hex::decode(record[side]["encoding"].as_str()?).ok()?;
        let vote = SignedVote::from_bytes(&bytes).ok()?;
        vote.verify(set).ok()?;
        Some(vote)
    };
    let (Some(a), Some(b)) = (vote("first"), vote("second")) else {
        return false;
    };
    let (a, b) = (a.vote, b.vote);
    a.validator == ValidatorIndex(index)
        && b.validator == a.validator
        && (a.kind, a.height, a.round) == (b.kind, b.height, b.round)
        && a.value != b.value
}

/// Waits until every honest node holds evidence against `index`.
fn wait_for_evidence(clients: &[Client], index: u16) -> Result<Vec<Vec<Value>>> {
    let started = Instant::now();
    loop {
        let held: Vec<Vec<Value>> = clients
            .iter()
            .map(|c| records_against(c, index))
            .collect::<Result<_>>()?;
        if held.iter().all(|records| !records.is_empty()) {
            return Ok(held);
        }
        if started.elapsed() > CATCH_TIMEOUT {
            bail!("not every node reported the equivocation within {CATCH_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The act: one validator equivocates; everyone catches it; nothing else
/// changes.
pub(super) fn equivocate(show: &mut Show, cluster: &Cluster) -> Result<()> {
    show.section("A validator lies, and is caught");
    let n = cluster.nodes.len();
    if n < 4 {
        show.say(format!(
            "Skipped: {n} validators tolerate no liar (BFT needs n ≥ 3f + 1; run with --nodes 4 or more)."
        ));
        return Ok(());
    }
    let liar_node = &cluster.nodes[n - 1];
    let index = u16::try_from(n - 1)?;
    let honest: Vec<&LocalNode> = cluster.nodes[..n - 1].iter().collect();
    let clients: Vec<Client> = honest.iter().map(|n| n.client()).collect::<Result<_>>()?;
    let status: Value = clients[0].get("/v1/consensus/status")?.json();
    let height = status["height"].as_u64().unwrap_or(1);
    let round = status["round"]
        .as_u64()
        .and_then(|r| u32::try_from(r).ok())
        .unwrap_or(0);
    let liar = NodeIdentity::load_or_create(&liar_node.dir, None, crate::now_ms())
        .with_context(|| format!("node {}: opening its identity", liar_node.number))?;
    let key = SigningKey::from(*liar.key.to_seed());
    let votes = two_votes(&key, index, height, round);
    show.say(format!(
        "Node {}'s key signs two prevotes for different blocks at height {height}, round {round}, and sends both to every other node.",
        liar_node.number
    ));
    let started = Instant::now();
    send(&liar, &honest, &votes)?;
    let held = match wait_for_evidence(&clients, index) {
        Ok(held) => held,
        Err(e) => {
            show.check(false, "every node catches the equivocation", e.to_string());
            return Ok(());
        }
    };
    let records: usize = held.iter().map(Vec::len).sum();
    show.check(
        true,
        format!(
            "all {} other nodes caught node {} (validator {index}) double-signing",
            n - 1,
            liar_node.number
        ),
        format!("{records} records · {}", format_duration(started.elapsed())),
    );
    let set = validator_set(cluster)?;
    let sound = held
        .iter()
        .all(|records| records.iter().all(|r| convicts(r, &set, index)));
    show.check(
        sound,
        "each record convicts on its own: both signatures verify against the liar's public key, same slot, different blocks",
        "checked here, trusting no node",
    );
    after_the_lie(show, cluster, &clients)
}

/// A transaction proposed after the lie is decided, and the logs agree.
fn after_the_lie(show: &mut Show, cluster: &Cluster, clients: &[Client]) -> Result<()> {
    let tx = format!("note equivocation by node {}", cluster.nodes.len());
    let resp = clients[0].post("/v1/consensus/propose", &json!({"tx": tx}))?;
    if resp.status != 202 {
        bail!("proposing {tx:?}: {}", resp.text);
    }
    let all: Vec<Client> = cluster
        .nodes
        .iter()
        .map(|n| n.client())
        .collect::<Result<_>>()?;
    let decided = wait_for(&all, std::slice::from_ref(&tx), Duration::from_secs(30));
    let ok = decided.is_ok_and(|logs| logs.iter().all(|log| same_prefix(&logs[0], log)));
    show.check(
        ok,
        "the lie changed nothing: the next transaction is decided and every log agrees",
        "",
    );
    Ok(())
}
