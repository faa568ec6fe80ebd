//! `chrysalis status`: a running node's health, members and gossip counters.

use anyhow::{Context, Result, bail};
use chrysalis_node::client::Client;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// How to reach a node: shared by `status` and `agent`.
#[derive(Debug, clap::Args)]
pub(crate) struct Target {
    /// The node's HTTP API.
    #[arg(
        long,
        global = true,
        env = "CHRYSALIS_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// The API token (else CHRYSALIS_TOKEN, else read from --data-dir's vault).
    #[arg(long, global = true, env = "CHRYSALIS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A local node's data directory, to read its token from.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl Target {
    /// A client for the node, with its token.
    pub(crate) fn client(&self) -> Result<Client> {
        let token = match (&self.token, &self.data_dir) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(dir)) => {
                let pass = std::env::var("CHRYSALIS_PASSPHRASE")
                    .ok()
                    .map(zeroize::Zeroizing::new);
                let token = chrysalis_node::identity::read_api_token(
                    dir,
                    pass.as_ref().map(|p| p.as_bytes()),
                )?;
                Some(token.expose_secret().clone())
            }
            (None, None) => None,
        };
        Ok(Client::new(&self.url, token)?)
    }
}

/// Arguments of `chrysalis status`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: Target,
}

/// Fails with the API's error message unless the status is 2xx.
pub(crate) fn expect_ok(r: chrysalis_node::client::Response) -> Result<serde_json::Value> {
    if (200..300).contains(&r.status) {
        return Ok(r.json());
    }
    let body = r.json();
    match body["error"]["message"].as_str() {
        Some(message) => bail!(
            "{} ({}, HTTP {})",
            message,
            body["error"]["code"].as_str().unwrap_or("?"),
            r.status
        ),
        None => bail!("HTTP {}", r.status),
    }
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let client = args.target.client()?;
    let health = expect_ok(client.get("/health")?).context("health")?;
    let members = expect_ok(client.get("/v1/cluster/members")?)?;
    let gossip = expect_ok(client.get("/v1/cluster/gossip")?)?;
    let digest = expect_ok(client.get("/v1/cluster/digest")?)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "node     {}", health["node"].as_str().unwrap_or("?"))?;
    writeln!(out, "health   {}", health["status"].as_str().unwrap_or("?"))?;
    writeln!(
        out,
        "gossip   {}",
        members["gossip_addr"].as_str().unwrap_or("?")
    )?;
    writeln!(
        out,
        "agents   {} (digest {})",
        digest["agents"],
        digest["digest"].as_str().unwrap_or("?")
    )?;
    let list = members["members"].as_array().cloned().unwrap_or_default();
    writeln!(out, "members  {}", list.len())?;
    for m in &list {
        let state = m["state"].as_str().unwrap_or("?");
        writeln!(
            out,
            "  {}  {}  {state}",
            m["id"].as_str().unwrap_or("?"),
            m["addr"].as_str().unwrap_or("?")
        )?;
    }
    writeln!(
        out,
        "rounds {}  sent {}  received {}  dropped {} (refused {})  handshakes refused {}",
        gossip["rounds"],
        gossip["frames_sent"],
        gossip["frames_received"],
        gossip["frames_dropped"],
        gossip["frames_refused"],
        gossip["handshakes_refused"]
    )?;
    Ok(ExitCode::SUCCESS)
}
