//! `chrysalis hash`: digests in the `sha256sum` format, `<hex>  <name>`.

use crate::input;
use anyhow::Result;
use chrysalis_crypto::hash::HashAlgorithm;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `chrysalis hash`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The algorithm: sha256, sha384, sha512, sha3-256, sha3-512 or blake3.
    #[arg(long, short, default_value = "sha256")]
    alg: HashAlgorithm,
    /// Files to hash; `-` (or none) reads standard input.
    files: Vec<PathBuf>,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let stdin = [PathBuf::from("-")];
    let files = if args.files.is_empty() {
        &stdin[..]
    } else {
        &args.files[..]
    };
    let mut out = std::io::stdout().lock();
    for path in files {
        let mut hasher = args.alg.hasher();
        input::for_each_chunk(path, |chunk| {
            hasher.update(chunk);
        })?;
        writeln!(
            out,
            "{}  {}",
            hasher.finalize().to_hex(),
            input::display_name(path)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
