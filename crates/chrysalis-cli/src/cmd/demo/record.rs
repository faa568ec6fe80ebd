//! The demo's ledger section: acts on the record, proven by Merkle proofs
//! and signed tree heads.

use super::show::{Show, format_duration, timed};
use anyhow::{Result, bail};
use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_ledger::merkle::verify_inclusion;
use chrysalis_ledger::{Checkpoint, FsyncPolicy, MemoryStorage, TraceKind, TraceLedger, TraceNode};
use chrysalis_store::segment::{SegmentConfig, open_ledger};
use chrysalis_types::{AgentId, Timestamp};
use std::path::Path;

/// One act to record: who, what kind, and its JSON payload.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) origin: AgentId,
    pub(super) kind: String,
    pub(super) json: String,
}

/// The acts the tour records, all by one agent.
pub(super) fn tour_entries(origin: AgentId) -> Vec<Entry> {
    const ACTS: [(&str, &str); 8] = [
        ("skill.claim", r#"{"skill":"rust","level":0.92}"#),
        ("episode.add", r#"{"summary":"fixed a borrow error"}"#),
        ("tool.call", r#"{"tool":"cargo test","ok":true}"#),
        ("skill.claim", r#"{"skill":"datalog","level":0.6}"#),
        (
            "covenant.decision",
            r#"{"action":"deploy","allowed":false,"reason":"budget exhausted"}"#,
        ),
        ("episode.add", r#"{"summary":"asked bob for review"}"#),
        ("tool.call", r#"{"tool":"cargo clippy","ok":true}"#),
        ("episode.add", r#"{"summary":"merged the fix"}"#),
    ];
    ACTS.iter()
        .map(|(kind, json)| Entry {
            origin,
            kind: (*kind).to_owned(),
            json: (*json).to_owned(),
        })
        .collect()
}

/// Builds the TraceNode for entry `i`, linked to `parent`.
fn node(entry: &Entry, now_ms: u64, i: usize, parent: Option<&TraceNode>) -> Result<TraceNode> {
    let logical = u32::try_from(i).unwrap_or(u32::MAX);
    let builder = TraceNode::builder(
        entry.origin,
        Timestamp::new(now_ms, logical),
        TraceKind::new(&entry.kind)?,
    )
    .payload_json(&entry.json)
    .parents(parent.map(TraceNode::id));
    Ok(builder.build()?)
}

/// Appends `entries` as one group commit (one write, one fsync), each
/// linked to the one before (the first to `last`); returns the last node.
fn append_all(
    ledger: &mut TraceLedger<impl chrysalis_ledger::LedgerStorage>,
    entries: &[Entry],
    now_ms: u64,
    mut last: Option<TraceNode>,
) -> Result<Option<TraceNode>> {
    let offset = usize::try_from(ledger.len()).unwrap_or(usize::MAX);
    let mut nodes = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let next = node(entry, now_ms, offset + i, last.as_ref())?;
        nodes.push(next.clone());
        last = Some(next);
    }
    ledger.append_batch(nodes)?;
    Ok(last)
}

/// Records `entries` (the first `shown` listed on screen), then proves what
/// a signed tree head guarantees: inclusion, growth, and that a rewrite is
/// caught.
pub(super) fn record(
    show: &mut Show,
    dir: &Path,
    entries: &[Entry],
    shown: usize,
    now_ms: u64,
) -> Result<()> {
    show.section("Every act on the record");
    show.say("Each act is a TraceNode in an append-only log (CRC32C frames, fsync) under an RFC 6962 Merkle tree.");
    if entries.len() < 3 {
        bail!(
            "the ledger section needs at least three acts, got {}",
            entries.len()
        );
    }
    let (first, later) = entries.split_at(entries.len() - 2);
    let path = dir.join("ledger");
    let (mut ledger, _) = open_ledger(&path, SegmentConfig::default(), FsyncPolicy::Always)?;
    let (last, took) = timed(|| append_all(&mut ledger, first, now_ms, None));
    let last = last?;
    for (i, entry) in first.iter().enumerate().take(shown) {
        show.fact(
            &format!("#{i}"),
            format!("{:<18} {}", entry.kind, entry.json),
        );
    }
    if first.len() > shown {
        show.fact("", format!("… {} more", first.len() - shown));
    }
    show.fact(
        "appended",
        format!(
            "{} entries in one group commit (one fsync) in {}",
            first.len(),
            format_duration(took)
        ),
    );
    let node_key = SigningKey::generate();
    let head = ledger.sign_head(&node_key, Timestamp::new(now_ms, 1 << 20));
    show.fact(
        "signed head",
        format!(
            "{} entries, root {}…",
            head.tree_size,
            &hex::encode(head.root)[..24]
        ),
    );
    let mut checkpoint = Checkpoint::new(node_key.verifying_key(), head.clone())?;

    let probe = first.len() / 2;
    let proof = ledger.inclusion_proof(probe as u64, head.tree_size)?;
    let leaf = ledger.get(probe as u64)?.leaf_hash();
    let (verified, took) = timed(|| {
        verify_inclusion(
            probe as u64,
            head.tree_size,
            &leaf,
            &proof.hashes,
            &head.root,
        )
    });
    show.check(
        verified.is_ok(),
        format!("entry #{probe} is provably in the signed tree"),
        format!(
            "{} sibling hashes, verified in {}",
            proof.hashes.len(),
            format_duration(took)
        ),
    );
    let forged = node(&first[0], now_ms, probe + 1, None)?.leaf_hash();
    show.refused(
        "a different entry cannot borrow that proof",
        verify_inclusion(
            probe as u64,
            head.tree_size,
            &forged,
            &proof.hashes,
            &head.root,
        ),
    );

    append_all(&mut ledger, later, now_ms, last)?;
    let newer = ledger.sign_head(&node_key, Timestamp::new(now_ms, 2 << 20));
    let growth = ledger.consistency_proof(head.tree_size, newer.tree_size)?;
    show.check(
        checkpoint.advance(newer.clone(), &growth).is_ok(),
        "a client holding the old head accepts the grown log: the old tree is a prefix",
        format!("{} → {} entries", head.tree_size, newer.tree_size),
    );

    // A node that rewrites history: same key, one old entry quietly changed.
    let mut rewritten_entries = entries.to_vec();
    rewritten_entries[probe].kind = "history.rewrite".to_owned();
    rewritten_entries[probe].json = r#"{"rewritten":true}"#.to_owned();
    let (mut rewritten, _) = TraceLedger::open(MemoryStorage::new(), FsyncPolicy::Always)?;
    append_all(&mut rewritten, &rewritten_entries, now_ms, None)?;
    append_all(&mut rewritten, &entries[..1], now_ms, None)?;
    let lie = rewritten.sign_head(&node_key, Timestamp::new(now_ms, 3 << 20));
    let lie_proof = rewritten.consistency_proof(newer.tree_size, lie.tree_size)?;
    show.refused(
        format!("a head over a history with entry #{probe} rewritten is refused, though its signature is good"),
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
