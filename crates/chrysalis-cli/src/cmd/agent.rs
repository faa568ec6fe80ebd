//! `chrysalis agent create|get|list|skill|episode`: agents on a running node.

use super::status::{Target, expect_ok};
use anyhow::Result;
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;

/// Arguments of `chrysalis agent`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Create an agent; prints its id.
    Create {
        /// The id (32 hex digits); random if absent.
        #[arg(long)]
        id: Option<chrysalis_types::AgentId>,
    },
    /// Print an agent's merged state as JSON.
    Get {
        /// The agent id.
        id: chrysalis_types::AgentId,
    },
    /// List agent ids.
    List,
    /// Set a skill level in [0, 1].
    Skill {
        /// The agent id.
        id: chrysalis_types::AgentId,
        /// The skill.
        name: String,
        /// The level, in [0, 1].
        #[arg(value_parser = parse_level)]
        level: f64,
    },
    /// Record an episode; prints its id.
    Episode {
        /// The agent id.
        id: chrysalis_types::AgentId,
        /// What happened.
        summary: String,
        /// An episode that led to it (repeatable).
        #[arg(long = "cause")]
        causes: Vec<chrysalis_types::EpisodeId>,
    },
}

fn parse_level(s: &str) -> Result<f64, String> {
    let level: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&level) {
        Ok(level)
    } else {
        Err(format!("{level} is outside [0, 1]"))
    }
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let client = args.target.client()?;
    let mut out = std::io::stdout().lock();
    match &args.action {
        Action::Create { id } => {
            let body = match id {
                Some(id) => json!({"id": id.to_string()}),
                None => json!({}),
            };
            let created = expect_ok(client.post("/v1/agents", &body)?)?;
            writeln!(out, "{}", created["id"].as_str().unwrap_or("?"))?;
        }
        Action::Get { id } => {
            let agent = expect_ok(client.get(&format!("/v1/agents/{id}"))?)?;
            writeln!(out, "{}", serde_json::to_string_pretty(&agent)?)?;
        }
        Action::List => {
            let list = expect_ok(client.get("/v1/agents")?)?;
            for id in list["agents"].as_array().into_iter().flatten() {
                writeln!(out, "{}", id.as_str().unwrap_or("?"))?;
            }
        }
        Action::Skill { id, name, level } => {
            let body = json!({"name": name, "level": level});
            expect_ok(client.post(&format!("/v1/agents/{id}/skills"), &body)?)?;
            writeln!(out, "{name} = {level}")?;
        }
        Action::Episode {
            id,
            summary,
            causes,
        } => {
            let causes: Vec<String> = causes.iter().map(ToString::to_string).collect();
            let body = json!({"summary": summary, "causes": causes});
            let created = expect_ok(client.post(&format!("/v1/agents/{id}/episodes"), &body)?)?;
            writeln!(out, "{}", created["id"].as_str().unwrap_or("?"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
