//! The Python package's tasks: build the abi3 wheel with maturin, install it
//! into a private virtual environment, and run the pytest suite (or the
//! TraceNode benchmark).
//!
//! Everything lives under the cargo target directory (`$CARGO_TARGET_DIR`,
//! else `<root>/target`): the venv in `python-venv/`, wheels in
//! `python-wheels/`. A fresh machine needs only a Python 3.9+ interpreter
//! with `venv` (`$PYTHON`, else `python3`) and access to PyPI for maturin
//! and pytest.

use super::run;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The binding crate, relative to the workspace root.
const CRATE_DIR: &str = "bindings/python";

/// Builds the wheel (debug profile), installs it and runs pytest on
/// `bindings/python/tests`; fails when any test fails.
pub(crate) fn test(workspace_root: &Path) -> Result<()> {
    let venv = prepare_venv(workspace_root)?;
    install_wheel(workspace_root, &venv, false)?;
    let mut pytest = Command::new(venv_bin(&venv, "python"));
    pytest
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(workspace_root.join(CRATE_DIR).join("tests"));
    run(workspace_root, "pytest bindings/python/tests", pytest)
}

/// Builds the wheel in release mode, installs it and runs the TraceNode
/// creation benchmark, which prints its figures.
pub(crate) fn bench(workspace_root: &Path) -> Result<()> {
    let venv = prepare_venv(workspace_root)?;
    install_wheel(workspace_root, &venv, true)?;
    let mut bench = Command::new(venv_bin(&venv, "python"));
    bench.arg(
        workspace_root
            .join(CRATE_DIR)
            .join("benches")
            .join("bench_tracenode.py"),
    );
    run(workspace_root, "python TraceNode benchmark", bench)
}

fn target_dir(workspace_root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root.join(dir)
            }
        }
        _ => workspace_root.join("target"),
    }
}

fn venv_bin(venv: &Path, tool: &str) -> PathBuf {
    venv.join("bin").join(tool)
}

/// Creates the venv if missing and makes sure maturin and pytest are in it.
fn prepare_venv(workspace_root: &Path) -> Result<PathBuf> {
    let venv = target_dir(workspace_root).join("python-venv");
    if !venv_bin(&venv, "python").exists() {
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let mut create = Command::new(python);
        create.args(["-m", "venv"]).arg(&venv);
        run(workspace_root, "create the Python venv", create)?;
    }
    let have_tools = Command::new(venv_bin(&venv, "python"))
        .args(["-c", "import maturin, pytest"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !have_tools {
        let mut pip = Command::new(venv_bin(&venv, "python"));
        pip.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "maturin>=1.5,<2",
            "pytest>=7",
        ]);
        run(workspace_root, "pip install maturin pytest", pip)?;
    }
    Ok(venv)
}

/// Builds the abi3 wheel into a clean wheel directory and installs it.
fn install_wheel(workspace_root: &Path, venv: &Path, release: bool) -> Result<()> {
    let wheels = target_dir(workspace_root).join("python-wheels");
    if wheels.exists() {
        std::fs::remove_dir_all(&wheels)
            .with_context(|| format!("could not clear {}", wheels.display()))?;
    }
    let mut build = Command::new(venv_bin(venv, "maturin"));
    build
        .args(["build", "--quiet", "--manifest-path"])
        .arg(workspace_root.join(CRATE_DIR).join("Cargo.toml"))
        .arg("--out")
        .arg(&wheels)
        .arg("--interpreter")
        .arg(venv_bin(venv, "python"))
        .env("CARGO_TARGET_DIR", target_dir(workspace_root));
    if release {
        build.arg("--release");
    }
    run(workspace_root, "maturin build (abi3 wheel)", build)?;
    let wheel = single_wheel(&wheels)?;
    let mut pip = Command::new(venv_bin(venv, "python"));
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--force-reinstall",
        "--no-deps",
    ])
    .arg(&wheel);
    run(workspace_root, "pip install the chrysalis wheel", pip)
}

fn single_wheel(dir: &Path) -> Result<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "whl") {
            found.push(path);
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!("expected one wheel in {}, found {found:?}", dir.display()),
    }
}
