//! `chrysalis demo`: the first thing a newcomer runs.
//!
//! By default it starts a local cluster of real node processes, lets agents
//! learn on all of them at once, kills one node mid-run and restarts it, and
//! proves that every node converges to the same state; then it puts the run
//! on the record in the trace ledger. `--tour` instead walks through the
//! primitives underneath (identities, signatures, keyrings, the vault, one
//! agent's CRDT state). Every claim is checked as it is shown, and the demo
//! exits non-zero if any check fails, so it is also a test.

use anyhow::{Result, bail};
use chrysalis_crypto::ed25519::{self, SigningKey};
use chrysalis_crypto::hash::HashAlgorithm;
use chrysalis_crypto::identity::AgentKeypair;
use record::Entry;
use show::{Show, format_duration, timed};
use std::path::PathBuf;
use std::process::ExitCode;

mod agree;
mod byzantine;
mod cluster;
mod live;
mod record;
mod replicas;
mod show;
mod vault;

/// Arguments of `chrysalis demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Keep the demo's files (node data directories, logs, the ledger) in this directory instead of a temporary one.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// How many node processes to start (2 to 9).
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// How many rounds of writes the agents make.
    #[arg(long, default_value_t = 24)]
    rounds: usize,
    /// The nodes' gossip period, in milliseconds.
    #[arg(long, default_value_t = 200)]
    gossip_interval_ms: u64,
    /// Walk through the primitives (identities, signatures, keyrings, the vault, CRDTs) instead of running a cluster.
    #[arg(long)]
    tour: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    if !(2..=9).contains(&args.nodes) {
        bail!("--nodes must be between 2 and 9, not {}", args.nodes);
    }
    if !(3..=1000).contains(&args.rounds) {
        bail!("--rounds must be between 3 and 1000, not {}", args.rounds);
    }
    if !(10..=10_000).contains(&args.gossip_interval_ms) {
        bail!(
            "--gossip-interval-ms must be between 10 and 10000, not {}",
            args.gossip_interval_ms
        );
    }
    let temp;
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("chrysalis-demo-")
                .tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let mut show = Show::new();
    if args.tour {
        tour(&mut show, &dir)?;
    } else {
        cluster(&mut show, &dir, args)?;
    }
    Ok(if show.finish() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn cluster(show: &mut Show, dir: &std::path::Path, args: &Args) -> Result<()> {
    show.title(
        "Chrysalis — a live cluster",
        "Real node processes on loopback: agents learn everywhere at once, a node dies and returns, every node converges, and the nodes agree on an ordered log.",
    );
    let plan = live::Plan {
        nodes: args.nodes,
        rounds: args.rounds,
        round_ms: 150,
        writes_per_round: 3,
        gossip_interval_ms: args.gossip_interval_ms,
    };
    let cluster = live::start(show, dir, &plan)?;
    let outcome = live::learn(show, cluster, &plan)?;
    live::convergence(show, &outcome)?;
    live::conflict(show, &outcome.cluster)?;
    agree::agree(show, &outcome.cluster)?;
    byzantine::equivocate(show, &outcome.cluster)?;
    let entries: Vec<Entry> = outcome
        .acts
        .iter()
        .map(|act| Entry {
            origin: act.agent,
            kind: act.kind.to_owned(),
            json: act.json.clone(),
        })
        .collect();
    record::record(show, dir, &entries, 4, crate::now_ms())?;
    live::summary(show, &outcome.cluster, &outcome.acts);
    let mut cluster = outcome.cluster;
    cluster.stop_all();
    if args.dir.is_some() {
        show.say(format!(
            "Node data directories and logs are kept in {}.",
            dir.display()
        ));
    }
    Ok(())
}

fn tour(show: &mut Show, dir: &std::path::Path) -> Result<()> {
    show.title(
        "Chrysalis — a guided tour, live",
        "Identities, signatures, keyrings, the sealed vault, replicated agent state and the trace ledger.",
    );
    let (alice, bob) = identities(show)?;
    signatures(show, &alice, &bob);
    batch(show);
    hashes(show);
    vault::keyring(show)?;
    vault::vault(show, dir)?;
    replicas::replicas(show, crate::now_ms())?;
    let entries = record::tour_entries(alice.identity().id());
    record::record(show, dir, &entries, entries.len(), crate::now_ms())
}

fn identities(show: &mut Show) -> Result<(AgentKeypair, AgentKeypair)> {
    show.section("Agents get identities");
    show.say("Each agent has a random id and an Ed25519 key; its fingerprint binds id, name, creation time and key.");
    let mut rng = rand_core::OsRng;
    let alice = AgentKeypair::generate("alice", crate::now_ms(), &mut rng)?;
    let bob = AgentKeypair::generate("bob", crate::now_ms(), &mut rng)?;
    for agent in [&alice, &bob] {
        let id = agent.identity();
        show.fact(
            id.name(),
            format!(
                "id {}  key {}…",
                id.id(),
                &id.public_key().to_string()[..16]
            ),
        );
        show.fact("", format!("fingerprint {}", id.fingerprint()));
    }
    let twin = AgentKeypair::from_seed(
        alice.identity().id(),
        "alicf",
        alice.identity().created_at_ms(),
        &alice.signing_key().to_seed(),
    )?;
    show.check(
        !twin.fingerprint().ct_eq(&alice.fingerprint()),
        "one letter of the name changes the fingerprint",
        format!("alicf → {}", twin.fingerprint().short()),
    );
    Ok((alice, bob))
}

fn signatures(show: &mut Show, alice: &AgentKeypair, bob: &AgentKeypair) {
    show.section("Alice claims a skill; Bob checks the claim");
    let claim = b"alice: rust proficiency 0.92";
    let sig = alice.sign_domain("chrysalis/v1/skill-claim", &[claim]);
    show.fact("claim", String::from_utf8_lossy(claim));
    show.fact(
        "signature",
        format!("{}…", &hex::encode(sig.to_bytes())[..32]),
    );
    let (result, took) = timed(|| {
        alice
            .identity()
            .verify_domain("chrysalis/v1/skill-claim", &[claim], &sig)
    });
    show.check(
        result.is_ok(),
        "Bob verifies Alice's claim (strict Ed25519)",
        format_duration(took),
    );
    let mut forged = claim.to_vec();
    forged[27] = b'9';
    show.refused(
        "the claim with 0.92 changed to 0.99 is refused",
        alice
            .identity()
            .verify_domain("chrysalis/v1/skill-claim", &[&forged], &sig),
    );
    show.refused(
        "the same signature replayed as a consensus vote is refused",
        alice
            .identity()
            .verify_domain("chrysalis/v1/vote", &[claim], &sig),
    );
    show.refused(
        "Bob's key does not vouch for Alice's words",
        bob.identity()
            .verify_domain("chrysalis/v1/skill-claim", &[claim], &sig),
    );
}

fn batch(show: &mut Show) {
    show.section("A crowd of agents, verified in one batch");
    let keys: Vec<SigningKey> = (0..64).map(|_| SigningKey::generate()).collect();
    let messages: Vec<Vec<u8>> = (0..64)
        .map(|i| format!("episode {i}: learned something").into_bytes())
        .collect();
    let msgs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let mut sigs: Vec<_> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    let publics: Vec<_> = keys.iter().map(SigningKey::verifying_key).collect();
    let (result, took) = timed(|| ed25519::verify_batch(&msgs, &sigs, &publics));
    let per_sig = took / 64;
    show.check(
        result.is_ok(),
        "64 signatures from 64 agents verify together",
        format!(
            "{} ({} per signature)",
            format_duration(took),
            format_duration(per_sig)
        ),
    );
    sigs.swap(10, 11);
    show.refused(
        "swap two signatures and the batch is refused",
        ed25519::verify_batch(&msgs, &sigs, &publics),
    );
}

fn hashes(show: &mut Show) {
    show.section("Content addresses");
    let data = b"every act is a TraceNode in an append-only, Merkle-proven ledger";
    for alg in HashAlgorithm::all() {
        let digest = alg.digest(data);
        let hex = digest.to_hex();
        show.fact(alg.name(), format!("{}…", &hex[..hex.len().min(48)]));
    }
    let mut streaming = HashAlgorithm::Blake3.hasher();
    for chunk in data.chunks(7) {
        streaming.update(chunk);
    }
    show.check(
        streaming.finalize() == HashAlgorithm::Blake3.digest(data),
        "hashing in 7-byte chunks gives the one-shot digest",
        "",
    );
}
