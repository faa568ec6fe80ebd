//! Reading the files and streams that commands take as input.

use anyhow::{Context, Result};
use std::io::Read;
use std::path::Path;

/// The name a path is shown under: `-` means standard input.
pub(crate) fn display_name(path: &Path) -> String {
    if is_stdin(path) {
        "-".to_owned()
    } else {
        path.display().to_string()
    }
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Opens `path` for reading, or standard input for `-`.
pub(crate) fn open(path: &Path) -> Result<Box<dyn Read>> {
    if is_stdin(path) {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(Box::new(file))
}

/// Reads all of `path` (or standard input).
pub(crate) fn read_all(path: &Path) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    open(path)?
        .read_to_end(&mut buf)
        .with_context(|| format!("cannot read {}", display_name(path)))?;
    Ok(buf)
}

/// Calls `f` with successive chunks of `path` (or standard input).
pub(crate) fn for_each_chunk(path: &Path, mut f: impl FnMut(&[u8])) -> Result<()> {
    let mut reader = open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", display_name(path)))?;
        if n == 0 {
            return Ok(());
        }
        f(&buf[..n]);
    }
}
