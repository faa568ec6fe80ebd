//! The demo's ledger section: acts on the record, proven by Merkle proofs
//! and signed tree heads.

use super::show::{Show, format_duration, timed};
use anyhow::Result;
use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_crypto::identity::AgentKeypair;
use chrysalis_ledger::merkle::verify_inclusion;
use chrysalis_ledger::{Checkpoint, FsyncPolicy, MemoryStorage, TraceKind, TraceLedger, TraceNode};
use chrysalis_store::segment::{SegmentConfig, open_ledger};
use chrysalis_types::{AgentId, Timestamp};
use std::path::Path;

const ACTS: [(&str, &str); 6] = [
    ("skill.claim", r#"{"skill":"rust","level":0.92}"#),
    ("episode.add", r#"{"summary":"fixed a borrow error"}"#),
    ("tool.call", r#"{"tool":"cargo test","ok":true}"#),
    ("skill.claim", r#"{"skill":"datalog","level":0.6}"#),
    (
        "covenant.decision",
        r#"{"action":"deploy","allowed":false,"reason":"budget exhausted"}"#,
    ),
    ("episode.add", r#"{"summary":"asked bob for review"}"#),
];

fn act(origin: AgentId, now_ms: u64, i: usize, parent: Option<&TraceNode>) -> Result<TraceNode> {
    let (kind, json) = ACTS[i % ACTS.len()];
    let logical = u32::try_from(i).unwrap_or(u32::MAX);
    let builder = TraceNode::builder(
        origin,
        Timestamp::new(now_ms, logical),
        TraceKind::new(kind)?,
    )
    .payload_json(json)
    .parents(parent.map(TraceNode::id));
    Ok(builder.build()?)
}

pub(super) fn record(show: &mut Show, dir: &Path, alice: &AgentKeypair, now_ms: u64) -> Result<()> {
    show.section("Every act on the record");
    show.say("Each act is a TraceNode in an append-only log (CRC32C frames, fsync) under an RFC 6962 Merkle tree.");
    let origin = alice.identity().id();
    let path = dir.join("ledger");
    let (mut ledger, _) = open_ledger(&path, SegmentConfig::default(), FsyncPolicy::Always)?;
    let mut last: Option<TraceNode> = None;
    for i in 0..ACTS.len() {
        let node = act(origin, now_ms, i, last.as_ref())?;
        ledger.append(node.clone())?;
        show.fact(
            &format!("#{i}"),
            format!(
                "{:<18} {}",
                node.kind().as_str(),
                node.payload().as_json().unwrap_or("")
            ),
        );
        last = Some(node);
    }
    let node_key = SigningKey::generate();
    let head = ledger.sign_head(&node_key, Timestamp::new(now_ms, 100));
    show.fact(
        "signed head",
        format!(
            "{} entries, root {}…",
            head.tree_size,
            &hex::encode(head.root)[..24]
        ),
    );
    let mut checkpoint = Checkpoint::new(node_key.verifying_key(), head.clone())?;

    let proof = ledger.inclusion_proof(4, head.tree_size)?;
    let leaf = ledger.get(4)?.leaf_hash();
    let (verified, took) =
        timed(|| verify_inclusion(4, head.tree_size, &leaf, &proof.hashes, &head.root));
    show.check(
        verified.is_ok(),
        "entry #4 (a refusal) is provably in the signed tree",
        format!(
            "{} sibling hashes, verified in {}",
            proof.hashes.len(),
            format_duration(took)
        ),
    );
    let forged = act(origin, now_ms, 2, None)?.leaf_hash();
    show.refused(
        "a different entry cannot borrow that proof",
        verify_inclusion(4, head.tree_size, &forged, &proof.hashes, &head.root),
    );

    for i in ACTS.len()..ACTS.len() + 3 {
        let node = act(origin, now_ms, i, last.as_ref())?;
        ledger.append(node.clone())?;
        last = Some(node);
    }
    let newer = ledger.sign_head(&node_key, Timestamp::new(now_ms, 200));
    let growth = ledger.consistency_proof(head.tree_size, newer.tree_size)?;
    show.check(
        checkpoint.advance(newer.clone(), &growth).is_ok(),
        "a client holding the old head accepts the grown log: the old tree is a prefix",
        format!("{} → {} entries", head.tree_size, newer.tree_size),
    );

    // A node that rewrites history: same key, entry #4 quietly changed.
    let (mut rewritten, _) = TraceLedger::open(MemoryStorage::new(), FsyncPolicy::Always)?;
    let mut prev: Option<TraceNode> = None;
    for i in 0..ACTS.len() + 4 {
        let node = act(origin, now_ms, if i == 4 { 0 } else { i }, prev.as_ref())?;
        rewritten.append(node.clone())?;
        prev = Some(node);
    }
    let lie = rewritten.sign_head(&node_key, Timestamp::new(now_ms, 300));
    let lie_proof = rewritten.consistency_proof(newer.tree_size, lie.tree_size)?;
    show.refused(
        "a head over a rewritten history is refused, though its signature is good",
        checkpoint.advance(lie, &lie_proof),
    );

    drop(ledger);
    let (reopened, _) = open_ledger(&path, SegmentConfig::default(), FsyncPolicy::Always)?;
    show.check(
        reopened.len() == newer.tree_size && reopened.root() == newer.root,
        "reopened from disk, the log has the signed root",
        path.display(),
    );
    Ok(())
}
