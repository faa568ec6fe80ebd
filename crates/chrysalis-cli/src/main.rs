//! `chrysalis`: the command-line tool.
//!
//! Each subcommand lives in its own module under `cmd/`. Errors print as one
//! line on standard error, prefixed `error:`, and exit with status 1; usage
//! errors exit with status 2 (clap's convention).

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd;
mod input;
mod keyfile;

/// Chrysalis: distributed, self-healing, verifiable agent systems.
#[derive(Debug, Parser)]
#[command(name = "chrysalis", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check or run a flow graph.
    Flow(cmd::flow::Args),
    /// Keep API keys in a passphrase-sealed vault.
    Vault(cmd::vault::Args),
    /// The guided tour: a live run of what Chrysalis guarantees, checked as it goes.
    Demo(cmd::demo::Args),
    /// Create an agent identity: an Ed25519 key pair, a random agent id and a fingerprint.
    Keygen(cmd::keygen::KeygenArgs),
    /// Print the fingerprint of an agent identity file.
    Fingerprint(cmd::keygen::FingerprintArgs),
    /// Hash files (or standard input) with SHA-2, SHA-3 or BLAKE3.
    Hash(cmd::hash::Args),
    /// Sign a file (or standard input) with an agent's secret key.
    Sign(cmd::sign::SignArgs),
    /// Verify a signature made by `chrysalis sign`.
    Verify(cmd::sign::VerifyArgs),
    /// Run a node (HTTP API and replication) until SIGINT or SIGTERM.
    Up(cmd::up::Args),
    /// A running node's health, members and gossip counters.
    Status(cmd::status::Args),
    /// Create, read and update agents on a running node.
    Agent(cmd::agent::Args),
}

/// Milliseconds since the Unix epoch: the one place the CLI reads the clock.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Vault(_)
            | Command::Keygen(_)
            | Command::Sign(_)
            | Command::Demo(_)
            | Command::Up(_)
    ) {
        // Secrets are about to enter memory: keep them out of core dumps.
        // Best effort; where the OS refuses, secret pages are still locked and wiped.
        let _ = chrysalis_crypto::secret::exclude_core_dumps();
    }
    let result = match cli.command {
        Command::Flow(args) => cmd::flow::run(&args),
        Command::Vault(args) => cmd::vault::run(&args),
        Command::Demo(args) => cmd::demo::run(&args),
        Command::Keygen(args) => cmd::keygen::keygen(&args),
        Command::Fingerprint(args) => cmd::keygen::fingerprint(&args),
        Command::Hash(args) => cmd::hash::run(&args),
        Command::Sign(args) => cmd::sign::sign(&args),
        Command::Verify(args) => cmd::sign::verify(&args),
        Command::Up(args) => cmd::up::run(&args),
        Command::Status(args) => cmd::status::run(&args),
        Command::Agent(args) => cmd::agent::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
