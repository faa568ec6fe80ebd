//! `chrysalis flow check FILE` and `chrysalis flow run FILE`: validate a
//! flow with the Datalog rules, and run it with the built-in handlers,
//! printing each step as it happens.

use anyhow::{Context, Result, bail};
use chrysalis_executor::{CancelToken, FnSink, HandlerRegistry, StepRecord};
use chrysalis_flow::{Flow, Format};
use clap::Subcommand;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `chrysalis flow`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: FlowCommand,
}

#[derive(Debug, Subcommand)]
enum FlowCommand {
    /// Validate a flow file (TOML, JSON or YAML) and print every diagnostic.
    Check {
        /// The flow file.
        file: PathBuf,
    },
    /// Validate, then run a flow with the built-in handlers
    /// (noop, log, sleep, fail, flaky, choose).
    Run {
        /// The flow file.
        file: PathBuf,
    },
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    match &args.command {
        FlowCommand::Check { file } => check(file),
        FlowCommand::Run { file } => execute(file),
    }
}

fn load(path: &Path) -> Result<Flow> {
    let format = Format::from_path_extension(path)?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    chrysalis_flow::load(&text, format).with_context(|| format!("cannot load {}", path.display()))
}

fn check(path: &Path) -> Result<ExitCode> {
    let flow = load(path)?;
    let report = chrysalis_flow::validate(&flow, &HandlerRegistry::with_builtins());
    let mut out = std::io::stdout().lock();
    write!(out, "{report}")?;
    writeln!(out, "{}", report.summary())?;
    if report.has_errors() {
        bail!("{} is invalid", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn execute(path: &Path) -> Result<ExitCode> {
    let flow = load(path)?;
    let registry = HandlerRegistry::with_builtins();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let summary = runtime.block_on(async {
        let cancel = CancelToken::new();
        let on_ctrl_c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_ctrl_c.cancel();
            }
        });
        let sink = Arc::new(FnSink(|record: &StepRecord| {
            let _ = writeln!(std::io::stdout().lock(), "{record}");
        }));
        chrysalis_executor::run_flow(&flow, &registry, sink, cancel).await
    });
    let summary = summary.with_context(|| format!("flow {} failed", path.display()))?;
    writeln!(
        std::io::stdout().lock(),
        "{} completed at {} in {} ms: {} steps, {} retries",
        summary.flow,
        summary.end.as_str(),
        summary.elapsed_ms,
        summary.steps,
        summary.retries
    )?;
    Ok(ExitCode::SUCCESS)
}
