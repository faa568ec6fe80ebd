//! The demo's CRDT section: one agent learning on two nodes at once.

use super::show::Show;
use anyhow::Result;
use chrysalis_crdt::{AgentState, ConflictResolver, Episode, SignedDelta, Strategy, apply_signed};
use chrysalis_crypto::ed25519::{SigningKey, VerifyingKey};
use chrysalis_types::codec::{Decode, Encode};
use chrysalis_types::{EpisodeId, NodeId, Timestamp};

type Signed = SignedDelta<AgentState>;

/// A short digest of a replica's state, for comparing replicas at a glance.
fn digest(state: &AgentState) -> String {
    hex::encode(&chrysalis_crypto::hash::blake3(&state.encode_body())[..8])
}

fn node(key: &SigningKey) -> NodeId {
    NodeId::new(key.verifying_key().to_bytes())
}

pub(super) fn replicas(show: &mut Show, now_ms: u64) -> Result<()> {
    show.section("One agent learns on two nodes at once");
    show.say(
        "Alice's state is a CRDT: each node edits its replica, signs the delta, and gossips it.",
    );
    let (key_a, key_b) = (SigningKey::generate(), SigningKey::generate());
    let known = [key_a.verifying_key(), key_b.verifying_key()];
    let keys = |id: &NodeId| -> Option<VerifyingKey> {
        known
            .iter()
            .find(|k| k.as_bytes() == id.as_bytes())
            .copied()
    };
    let (mut a, mut b) = (AgentState::new(), AgentState::new());
    let t = |logical| Timestamp::new(now_ms, logical);
    let (read, wrote, fixed) = (
        EpisodeId::new([1; 16]),
        EpisodeId::new([2; 16]),
        EpisodeId::new([3; 16]),
    );

    let d1 = a
        .edit(node(&key_a))
        .update_skill("rust", 0.80, t(1))
        .add_episode(Episode::new(read, t(1), "read the chapter on lifetimes"))
        .commit()?;
    let d2 = b
        .edit(node(&key_b))
        .update_skill("rust", 0.92, t(2))
        .update_skill("datalog", 0.60, t(2))
        .add_episode(Episode::new(wrote, t(2), "wrote the flow validation rules"))
        .commit()?;
    let d3 = a
        .edit(node(&key_a))
        .add_episode(Episode::new(fixed, t(3), "fixed a borrow error").caused_by(read))
        .commit()?;
    show.fact(
        "node A",
        "rust 0.80, episode: read the chapter on lifetimes, then: fixed a borrow error",
    );
    show.fact(
        "node B",
        "rust 0.92, datalog 0.60, episode: wrote the flow validation rules",
    );
    let (s1, s2, s3) = (
        Signed::sign(&d1, &key_a),
        Signed::sign(&d2, &key_b),
        Signed::sign(&d3, &key_a),
    );

    // Gossip out of order, with duplicates.
    for signed in [&s3, &s1, &s3] {
        apply_signed(&mut b, signed, keys)?;
    }
    for signed in [&s2, &s2] {
        apply_signed(&mut a, signed, keys)?;
    }
    show.check(
        a == b,
        "deltas delivered out of order and twice: both replicas hold the same state",
        format!("digest {} = {}", digest(&a), digest(&b)),
    );
    let order: Vec<String> = b
        .episodes()
        .causal_order()
        .iter()
        .map(|e| e.summary.clone())
        .collect();
    show.check(
        order.iter().position(|s| s.starts_with("read"))
            < order.iter().position(|s| s.starts_with("fixed")),
        "episodes come back in causal order, though the effect arrived first",
        order.join(" → "),
    );

    // Flip a bit inside the delta's bytes (after the version byte and the length prefix).
    let mut forged = s2.to_bytes();
    forged[7] ^= 1;
    let forged = Signed::from_bytes(&forged)?;
    show.refused(
        "a delta altered in transit is refused before it is applied",
        apply_signed(&mut a, &forged, keys),
    );

    let candidates: Vec<String> = a
        .skills()
        .candidates("rust")
        .iter()
        .map(|c| format!("{:.2}", c.value))
        .collect();
    show.fact(
        "conflict",
        format!("rust was set concurrently to {}", candidates.join(" and ")),
    );
    let mut resolver = ConflictResolver::new(Strategy::MajorityVote)
        .with_strategy("rust", Strategy::LastWriterWins);
    let (resolved, outcomes) = a.resolve_skills(&mut resolver, node(&key_a), t(4))?;
    apply_signed(&mut b, &Signed::sign(&resolved, &key_a), keys)?;
    let level = a.skills().level("rust").unwrap_or(f64::NAN);
    show.check(
        a == b && outcomes.len() == 1 && level == 0.92,
        "the resolver settles it (last writer wins) and the settlement replicates",
        format!("rust = {level:.2} on both nodes, digest {}", digest(&b)),
    );
    Ok(())
}
