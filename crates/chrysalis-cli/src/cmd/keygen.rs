//! `chrysalis keygen` and `chrysalis fingerprint`.

use crate::keyfile;
use anyhow::{Context, Result};
use chrysalis_crypto::identity::AgentKeypair;
use chrysalis_store::atomic;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `chrysalis keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {
    /// The agent's name.
    #[arg(long)]
    name: String,
    /// Where to write the secret key (mode 0600); the public identity goes to `<out>.pub`.
    #[arg(long, short)]
    out: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

/// Arguments of `chrysalis fingerprint`.
#[derive(Debug, clap::Args)]
pub(crate) struct FingerprintArgs {
    /// An identity file (`.pub`) or a secret key file.
    file: PathBuf,
}

pub(crate) fn keygen(args: &KeygenArgs) -> Result<ExitCode> {
    let keypair = AgentKeypair::generate(&args.name, crate::now_ms(), &mut rand_core::OsRng)
        .context("cannot create the identity")?;
    let public_path = public_path(&args.out);
    let secret = keyfile::secret_json(&keypair)?;
    let public = keyfile::public_json(keypair.identity())?;
    let write = if args.force {
        atomic::write_atomic
    } else {
        atomic::create_atomic
    };
    write(&args.out, secret.as_bytes()).context("cannot write the secret key")?;
    write(&public_path, public.as_bytes()).context("cannot write the public identity")?;

    let identity = keypair.identity();
    let mut out = std::io::stdout().lock();
    writeln!(out, "agent        {} ({})", identity.name(), identity.id())?;
    writeln!(out, "public key   {}", identity.public_key())?;
    writeln!(out, "fingerprint  {}", identity.fingerprint())?;
    writeln!(out, "secret key   {} (keep it private)", args.out.display())?;
    writeln!(out, "identity     {}", public_path.display())?;
    Ok(ExitCode::SUCCESS)
}

fn public_path(secret: &std::path::Path) -> PathBuf {
    let mut name = secret.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

pub(crate) fn fingerprint(args: &FingerprintArgs) -> Result<ExitCode> {
    let identity = keyfile::load_identity(&args.file)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}  {} ({})",
        identity.fingerprint(),
        identity.name(),
        identity.id()
    )?;
    Ok(ExitCode::SUCCESS)
}
