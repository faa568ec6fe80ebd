//! `chrysalis vault`: the passphrase-sealed API-key vault.
//!
//! The passphrase comes from `--passphrase-file`, else the
//! `CHRYSALIS_VAULT_PASSPHRASE` environment variable, else a hidden prompt
//! when standard input is a terminal. Every change is saved atomically: a
//! crash leaves the old vault or the new one, never a broken file.

use anyhow::{Context, Result, bail};
use chrysalis_crypto::kdf::{Argon2Params, PasswordKdf};
use chrysalis_crypto::vault::{Provider, SecurityContext};
use chrysalis_store::vault_file::VaultFile;
use clap::Subcommand;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zeroize::Zeroizing;

/// Arguments of `chrysalis vault`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The vault file.
    #[arg(
        long,
        env = "CHRYSALIS_VAULT",
        default_value = "chrysalis-vault",
        global = true
    )]
    path: PathBuf,
    /// Read the passphrase from this file (first line) instead of
    /// CHRYSALIS_VAULT_PASSPHRASE or a prompt.
    #[arg(long, global = true)]
    passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    command: VaultCommand,
}

#[derive(Debug, Subcommand)]
enum VaultCommand {
    /// Create an empty vault, sealed with Argon2id.
    Init {
        /// Argon2id memory in KiB (default: RFC 9106's 64 MiB).
        #[arg(long, default_value_t = Argon2Params::DEFAULT.memory_kib)]
        argon2_memory_kib: u32,
        /// Argon2id passes over memory.
        #[arg(long, default_value_t = Argon2Params::DEFAULT.iterations)]
        argon2_iterations: u32,
    },
    /// Store a provider's API key, read from standard input (or a hidden prompt).
    Set {
        /// openai, anthropic, nomic, cohere, mistral, groq, huggingface, or a name of your own.
        provider: Provider,
    },
    /// Show a provider's API key, redacted unless --reveal.
    Get {
        /// The provider.
        provider: Provider,
        /// Print the key itself.
        #[arg(long)]
        reveal: bool,
    },
    /// List the providers with keys, redacted.
    List,
    /// Remove a provider's API key.
    Remove {
        /// The provider.
        provider: Provider,
    },
    /// Rotate the vault's data key and session secret; optionally change the passphrase.
    Rotate {
        /// Seal the vault under the passphrase in this file from now on.
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
    },
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let passphrase = read_passphrase(args.passphrase_file.as_deref(), "Vault passphrase: ")?;
    let mut out = std::io::stdout().lock();
    if let VaultCommand::Init {
        argon2_memory_kib,
        argon2_iterations,
    } = args.command
    {
        let kdf = PasswordKdf::Argon2id(Argon2Params {
            memory_kib: argon2_memory_kib,
            iterations: argon2_iterations,
            ..Argon2Params::DEFAULT
        });
        kdf.validate().context("bad key-derivation parameters")?;
        VaultFile::create(&args.path, passphrase.as_bytes(), kdf)?;
        writeln!(
            out,
            "created vault {} ({})",
            args.path.display(),
            kdf.name()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let (mut file, mut ctx) = open(&args.path, &passphrase)?;
    match &args.command {
        VaultCommand::Init { .. } => bail!("{} already exists", args.path.display()),
        VaultCommand::Set { provider } => {
            let key = read_api_key(provider)?;
            let replaced = ctx.store_api_key(provider.clone(), key.trim(), crate::now_ms())?;
            file.save(&ctx)?;
            let verb = if replaced { "replaced" } else { "stored" };
            writeln!(
                out,
                "{verb} the {provider} key: {}",
                chrysalis_crypto::vault::redact(key.trim())
            )?;
        }
        VaultCommand::Get { provider, reveal } => {
            let key = ctx.api_key(provider)?.expose_secret();
            let shown = if *reveal {
                key.clone()
            } else {
                chrysalis_crypto::vault::redact(key)
            };
            writeln!(out, "{}", Zeroizing::new(shown).as_str())?;
        }
        VaultCommand::List => list(&ctx, &mut out)?,
        VaultCommand::Remove { provider } => {
            ctx.remove_api_key(provider)?;
            file.save(&ctx)?;
            writeln!(out, "removed the {provider} key")?;
        }
        VaultCommand::Rotate {
            new_passphrase_file,
        } => {
            let key_id = ctx.keyring_mut().rotate();
            ctx.rotate_session_secret();
            match new_passphrase_file {
                Some(path) => {
                    let new = read_passphrase(Some(path), "")?;
                    file.change_passphrase(&ctx, new.as_bytes(), file.kdf())?;
                    writeln!(
                        out,
                        "rotated: data key {key_id}, session epoch {}, new passphrase",
                        ctx.session_epoch()
                    )?;
                }
                None => {
                    file.save(&ctx)?;
                    writeln!(
                        out,
                        "rotated: data key {key_id}, session epoch {}",
                        ctx.session_epoch()
                    )?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn open(path: &Path, passphrase: &str) -> Result<(VaultFile, SecurityContext)> {
    if !path.exists() {
        bail!(
            "no vault at {} (create one with `chrysalis vault init`)",
            path.display()
        );
    }
    Ok(VaultFile::open(path, passphrase.as_bytes())?)
}

fn list(ctx: &SecurityContext, out: &mut impl Write) -> Result<()> {
    let keys = ctx.list_api_keys();
    if keys.is_empty() {
        writeln!(out, "the vault holds no API keys")?;
    }
    for info in keys {
        writeln!(out, "{:<14} {}", info.provider.to_string(), info.redacted)?;
    }
    Ok(())
}

/// The passphrase, from a file, the environment, or a hidden prompt.
fn read_passphrase(file: Option<&Path>, prompt: &str) -> Result<Zeroizing<String>> {
    let passphrase = if let Some(path) = file {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the passphrase file {}", path.display()))?,
        );
        Zeroizing::new(text.lines().next().unwrap_or_default().to_owned())
    } else if let Ok(value) = std::env::var("CHRYSALIS_VAULT_PASSPHRASE") {
        Zeroizing::new(value)
    } else if std::io::stdin().is_terminal() && !prompt.is_empty() {
        Zeroizing::new(rpassword::prompt_password(prompt).context("cannot read the passphrase")?)
    } else {
        bail!("no passphrase: set CHRYSALIS_VAULT_PASSPHRASE or pass --passphrase-file");
    };
    if passphrase.is_empty() {
        bail!("the passphrase is empty");
    }
    Ok(passphrase)
}

/// The API key: a hidden prompt on a terminal, else standard input.
fn read_api_key(provider: &Provider) -> Result<Zeroizing<String>> {
    let key = if std::io::stdin().is_terminal() {
        Zeroizing::new(rpassword::prompt_password(format!("{provider} API key: "))?)
    } else {
        let mut key = Zeroizing::new(String::new());
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut key)
            .context("cannot read the API key from standard input")?;
        key
    };
    Ok(key)
}
