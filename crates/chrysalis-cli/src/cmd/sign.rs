//! `chrysalis sign` and `chrysalis verify`: domain-separated Ed25519
//! signatures over a file's bytes, printed as hex.

use crate::{input, keyfile};
use anyhow::{Context, Result, bail};
use chrysalis_crypto::ed25519::{Signature, VerifyingKey};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// The domain `sign` and `verify` use unless told otherwise.
const DEFAULT_DOMAIN: &str = "chrysalis/v1/cli-message";

/// Arguments of `chrysalis sign`.
#[derive(Debug, clap::Args)]
pub(crate) struct SignArgs {
    /// The agent's secret key file (from `chrysalis keygen`).
    #[arg(long, short)]
    key: PathBuf,
    /// The signature's domain: a signature made for one domain never verifies for another.
    #[arg(long, default_value = DEFAULT_DOMAIN)]
    domain: String,
    /// The file to sign; `-` reads standard input.
    #[arg(default_value = "-")]
    file: PathBuf,
}

/// Arguments of `chrysalis verify`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("signer").required(true).args(["identity", "public_key"])))]
pub(crate) struct VerifyArgs {
    /// The signer's identity file (`.pub`).
    #[arg(long)]
    identity: Option<PathBuf>,
    /// The signer's public key, 64 hex digits.
    #[arg(long)]
    public_key: Option<String>,
    /// The signature, 128 hex digits.
    #[arg(long, short)]
    signature: String,
    /// The domain the signature was made for.
    #[arg(long, default_value = DEFAULT_DOMAIN)]
    domain: String,
    /// The signed file; `-` reads standard input.
    #[arg(default_value = "-")]
    file: PathBuf,
}

pub(crate) fn sign(args: &SignArgs) -> Result<ExitCode> {
    let keypair = keyfile::load_secret(&args.key)?;
    let message = input::read_all(&args.file)?;
    let signature = keypair.sign_domain(&args.domain, &[&message]);
    writeln!(
        std::io::stdout().lock(),
        "{}",
        hex::encode(signature.to_bytes())
    )?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn verify(args: &VerifyArgs) -> Result<ExitCode> {
    let (key, signer) = match (&args.identity, &args.public_key) {
        (Some(path), _) => {
            let identity = keyfile::load_identity(path)?;
            let signer = format!("{} ({})", identity.name(), identity.fingerprint().short());
            (*identity.public_key(), signer)
        }
        (None, Some(hex_key)) => {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hex_key.trim(), &mut bytes)
                .context("--public-key must be 64 hex digits")?;
            let key = VerifyingKey::from_bytes(&bytes)
                .context("--public-key is not an Ed25519 public key")?;
            (key, key.to_string())
        }
        (None, None) => bail!("give --identity or --public-key"),
    };
    let mut sig = [0u8; 64];
    hex::decode_to_slice(args.signature.trim(), &mut sig)
        .context("--signature must be 128 hex digits")?;
    let message = input::read_all(&args.file)?;
    key.verify_domain(&args.domain, &[&message], &Signature::from_bytes(&sig))
        .with_context(|| {
            format!(
                "the signature on {} does not verify for {signer}",
                input::display_name(&args.file)
            )
        })?;
    writeln!(
        std::io::stdout().lock(),
        "OK: {} is signed by {signer}",
        input::display_name(&args.file)
    )?;
    Ok(ExitCode::SUCCESS)
}
