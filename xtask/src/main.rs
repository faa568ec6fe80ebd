//! Developer tasks for the Chrysalis workspace, run as `cargo xtask <task>`.
//!
//! - `test`: every test there is — Rust (nextest), the bench smoke run, the
//!   layering check, and the language bindings. This is the README's test
//!   command; it installs what it needs.
//! - `lint`: `cargo fmt --check`, clippy with `-D warnings`, rustdoc with `-D warnings`.
//! - `ci`: `lint`, then `test`. `.ci/run` calls this.
//! - `layering`: check that dependencies point down the layers (see ARCHITECTURE.md).
//! - `bench-python`: the Python package's TraceNode benchmark (release build).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

mod layering;
mod python;

fn main() -> Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    let root = workspace_root();
    match task.as_str() {
        "test" => test(&root),
        "lint" => lint(&root),
        "ci" => lint(&root).and_then(|()| test(&root)),
        "layering" => layering::check(&root).map(|report| eprintln!("{report}")),
        "bench-python" => python::bench(&root),
        _ => {
            eprintln!("usage: cargo xtask <test|lint|ci|layering|bench-python>");
            bail!("unknown task {task:?}")
        }
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Runs a command in the workspace root, failing if it fails.
fn run(root: &Path, what: &str, mut cmd: Command) -> Result<()> {
    eprintln!("\n==> {what}");
    let status = cmd
        .current_dir(root)
        .status()
        .with_context(|| format!("could not start: {what}"))?;
    if !status.success() {
        bail!("failed ({status}): {what}");
    }
    Ok(())
}

fn lint(root: &Path) -> Result<()> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(root, "cargo fmt --check", fmt)?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(root, "cargo clippy -D warnings", clippy)?;

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings");
    run(root, "cargo doc -D warnings", doc)
}

fn test(root: &Path) -> Result<()> {
    ensure_nextest(root)?;
    let mut nextest = cargo();
    nextest.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    run(root, "cargo nextest run --workspace", nextest)?;

    let mut doctest = cargo();
    doctest.args(["test", "--workspace", "--doc"]);
    run(root, "cargo test --doc", doctest)?;

    let mut benches = cargo();
    benches.args(["bench", "--workspace", "--", "--test"]);
    run(root, "cargo bench -- --test (smoke run)", benches)?;

    eprintln!("\n==> layering");
    eprintln!("{}", layering::check(root)?);

    python::test(root)
}

/// Installs cargo-nextest when the machine lacks it.
fn ensure_nextest(root: &Path) -> Result<()> {
    let present = cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if present {
        return Ok(());
    }
    let mut install = cargo();
    install.args(["install", "--locked", "cargo-nextest"]);
    run(root, "cargo install cargo-nextest", install)
}
