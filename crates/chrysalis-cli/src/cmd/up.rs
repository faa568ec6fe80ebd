//! `chrysalis up`: runs a node until SIGINT or SIGTERM.
//!
//! Prints, one `key: value` per line on standard output: `node_id`, `http`,
//! `gossip`, and `api_token` on the first start only (it is kept sealed in
//! the node's vault afterwards), then `ready`. With `--init` it creates the
//! identity, prints `node_id` (and the token, if new) and exits: for
//! provisioning allowlists before the first start.

use anyhow::{Context, Result};
use chrysalis_node::{ConfigOverrides, Node, NodeConfig, NodeIdentity, NodeStore};
use chrysalis_types::NodeId;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `chrysalis up`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A TOML configuration file (keys as in the node docs).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the node keeps its vault and agent states.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where the HTTP API listens (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Where the replication endpoint listens (default 127.0.0.1:7946; port 0: any).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// A peer's replication address to contact at start (repeatable).
    #[arg(long, value_name = "ADDR")]
    join: Vec<SocketAddr>,
    /// A node id admitted as a peer (repeatable); none admits any signed peer.
    #[arg(long, value_name = "NODEID")]
    allow: Vec<NodeId>,
    /// Anti-entropy period in milliseconds (default 200).
    #[arg(long, value_name = "MS")]
    gossip_interval_ms: Option<u64>,
    /// A consensus validator as `NODEID@IP:PORT` (repeatable; every
    /// validator lists the same set in the same order). None: consensus off.
    #[arg(long = "validator", value_name = "NODEID@ADDR")]
    validators: Vec<chrysalis_node::ValidatorAddr>,
    /// The consensus engine: `tendermint` (Byzantine-tolerant, the
    /// default) or `raft` (crash-tolerant). Every validator runs the same.
    #[arg(long, value_name = "ENGINE")]
    consensus_engine: Option<chrysalis_node::config::ConsensusEngine>,
    /// Log filter, e.g. `info` or `warn,chrysalis_node=debug`.
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
    /// Write logs as JSON lines.
    #[arg(long)]
    log_json: bool,
    /// Create the node's identity, print its id, and exit.
    #[arg(long)]
    init: bool,
}

fn now_ms() -> u64 {
    crate::now_ms()
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let overrides = ConfigOverrides {
        data_dir: args.data_dir.clone(),
        http_listen: args.http,
        gossip_listen: args.listen,
        join: args.join.clone(),
        allow: args.allow.clone(),
        gossip_interval_ms: args.gossip_interval_ms,
        log_level: args.log.clone(),
        log_json: args.log_json,
        validators: args.validators.clone(),
        consensus_engine: args.consensus_engine,
    };
    let config = NodeConfig::load(args.config.as_deref(), std::env::vars(), &overrides)?;
    let passphrase = std::env::var("CHRYSALIS_PASSPHRASE")
        .ok()
        .map(zeroize::Zeroizing::new);
    let identity = NodeIdentity::load_or_create(
        &config.data_dir,
        passphrase.as_ref().map(|p| p.as_bytes()),
        now_ms(),
    )?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "node_id: {}", identity.node_id())?;
    if identity.created {
        writeln!(out, "api_token: {}", identity.api_token.expose_secret())?;
    }
    out.flush()?;
    if args.init {
        return Ok(ExitCode::SUCCESS);
    }
    chrysalis_node::logging::init(&config.log_level, config.log_json)?;
    // Consensus keeps its state (Tendermint's WAL and decided blocks, or
    // raft's log) in the same database.
    let store = std::sync::Arc::new(NodeStore::open(&config.data_dir)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async {
        let node = Node::start_on_store(&config, &identity, store).await?;
        writeln!(out, "http: http://{}", node.http_addr)?;
        writeln!(out, "gossip: {}", node.gossip_addr)?;
        writeln!(out, "ready")?;
        out.flush()?;
        drop(out);
        wait_for_signal().await?;
        node.shutdown().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("could not watch SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("could not watch SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}
