//! `chrysalis demo`: a guided tour that runs the real code and checks, out
//! loud, that every guarantee it shows holds. It exits non-zero if any check
//! fails, so the tour is also a test.

use anyhow::Result;
use chrysalis_crypto::ed25519::{self, SigningKey};
use chrysalis_crypto::hash::HashAlgorithm;
use chrysalis_crypto::identity::AgentKeypair;
use show::{Show, format_duration, timed};
use std::process::ExitCode;

mod record;
mod replicas;
mod show;
mod vault;

/// Arguments of `chrysalis demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Keep the demo's files (the vault) in this directory instead of a temporary one.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let mut show = Show::new();
    show.title(
        "Chrysalis — a guided tour, live",
        "Identities, signatures, keyrings, the sealed vault, replicated agent state and the trace ledger.",
    );
    let (alice, bob) = identities(&mut show)?;
    signatures(&mut show, &alice, &bob);
    batch(&mut show);
    hashes(&mut show);
    vault::keyring(&mut show)?;
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
    vault::vault(&mut show, &dir)?;
    replicas::replicas(&mut show, crate::now_ms())?;
    record::record(&mut show, &dir, &alice, crate::now_ms())?;
    Ok(if show.finish() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
