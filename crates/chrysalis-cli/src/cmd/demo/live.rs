//! The demo's main act: real node processes on loopback, agents learning on
//! all of them at once, a node killed mid-run and restarted, and proof that
//! every node ends with the same state.

use super::cluster::Cluster;
use super::show::{Show, format_duration};
use anyhow::{Context, Result, bail};
use chrysalis_node::client::Client;
use chrysalis_types::AgentId;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The agents, each homed on one node (round robin).
pub(super) const AGENTS: [&str; 6] = ["ada", "grace", "linus", "barbara", "alan", "margaret"];
const SKILLS: [&str; 6] = [
    "rust",
    "datalog",
    "consensus",
    "cryptography",
    "gossip",
    "wasm",
];
const DEEDS: [&str; 8] = [
    "fixed a borrow-checker puzzle",
    "reviewed a flow graph",
    "proved a Merkle inclusion",
    "tuned a gossip fan-out",
    "wrote a Datalog rule",
    "settled a budget dispute",
    "shipped a WebAssembly task",
    "paired on a consensus bug",
];

/// How the run is paced.
pub(super) struct Plan {
    pub(super) nodes: usize,
    pub(super) rounds: usize,
    pub(super) round_ms: u64,
    pub(super) writes_per_round: usize,
    pub(super) gossip_interval_ms: u64,
}

/// One acknowledged write, for the record.
#[derive(Debug, Clone)]
pub(super) struct Act {
    pub(super) node: usize,
    pub(super) agent: AgentId,
    pub(super) kind: &'static str,
    pub(super) json: String,
    /// The episode's id, for episodes.
    episode: Option<String>,
}

/// What the run leaves behind for the later sections.
pub(super) struct Outcome {
    pub(super) acts: Vec<Act>,
    pub(super) cluster: Cluster,
}

pub(super) fn agent_id(name: &str) -> AgentId {
    let digest = chrysalis_crypto::hash::blake3(format!("chrysalis-demo/agent/{name}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    AgentId::new(bytes)
}

/// A small deterministic generator for the workload (splitmix64).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        let len = u64::try_from(items.len()).unwrap_or(1);
        items[usize::try_from(self.next() % len).unwrap_or(0)]
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Starts the cluster and waits until every node sees every other.
pub(super) fn start(show: &mut Show, root: &Path, plan: &Plan) -> Result<Cluster> {
    show.section(&format!(
        "A cluster of {} nodes, each its own process",
        plan.nodes
    ));
    show.say("Every node has an Ed25519 identity sealed in its vault; peers are admitted by key (QUIC, mutual TLS).");
    let mut cluster = Cluster::prepare(root, plan.nodes, plan.gossip_interval_ms)?;
    let started = Instant::now();
    for i in 0..plan.nodes {
        cluster.start(i)?;
        let node = &cluster.nodes[i];
        show.fact(
            &format!("node {}", node.number),
            format!(
                "pid {:<7} id {}…  http {}  quic {}",
                node.pid().unwrap_or(0),
                node.short_id(),
                node.http,
                node.gossip
            ),
        );
    }
    show.check(
        true,
        format!("{} nodes answer /health", plan.nodes),
        format_duration(started.elapsed()),
    );
    let took = wait_for_members(&cluster, Duration::from_secs(30));
    show.check(
        took.is_ok(),
        "every node sees every other as alive (SWIM membership)",
        took.map_or_else(|e| e.to_string(), format_duration),
    );
    Ok(cluster)
}

fn alive_members(client: &Client) -> usize {
    client.get("/v1/cluster/members").map_or(0, |resp| {
        resp.json()["members"].as_array().map_or(0, |m| {
            m.iter().filter(|m| m["alive"] == json!(true)).count()
        })
    })
}

fn wait_for_members(cluster: &Cluster, timeout: Duration) -> Result<Duration> {
    let started = Instant::now();
    let clients: Vec<Client> = cluster
        .nodes
        .iter()
        .map(|n| n.client())
        .collect::<Result<_>>()?;
    let want = cluster.nodes.len() - 1;
    while started.elapsed() < timeout {
        if clients.iter().all(|c| alive_members(c) >= want) {
            return Ok(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("not every node saw {want} live peers within {timeout:?}")
}

/// Agents learn on every node at once; one node is killed with SIGKILL a
/// third of the way in and restarted two thirds in.
pub(super) fn learn(show: &mut Show, mut cluster: Cluster, plan: &Plan) -> Result<Outcome> {
    show.section("Agents learn on every node at once");
    show.say(format!(
        "{} agents, {} writes per node per round, {} rounds of {} ms; every write is acknowledged only once durable.",
        AGENTS.len(),
        plan.writes_per_round,
        plan.rounds,
        plan.round_ms
    ));
    for (i, name) in AGENTS.iter().enumerate() {
        let home = &cluster.nodes[i % cluster.nodes.len()];
        let resp = home
            .client()?
            .post("/v1/agents", &json!({"id": agent_id(name).to_string()}))?;
        if resp.status != 201 {
            bail!(
                "creating agent {name} on node {}: {}",
                home.number,
                resp.text
            );
        }
    }
    let victim = cluster.nodes.len() - 1;
    let (kill_at, restart_at) = (plan.rounds / 3, 2 * plan.rounds / 3);
    let acts = Mutex::new(Vec::new());
    let mut dice = Dice(crate::now_ms());
    for round in 0..plan.rounds {
        if round == kill_at {
            let pid = cluster.nodes[victim].pid().unwrap_or(0);
            cluster.kill(victim)?;
            show.progress_done();
            show.say(format!(
                "✂  round {round}: node {} (pid {pid}) killed with SIGKILL — no shutdown, no flush",
                victim + 1
            ));
        }
        if round == restart_at {
            let started = Instant::now();
            cluster.start(victim)?;
            show.progress_done();
            show.say(format!(
                "↻  round {round}: node {} restarted from its data directory in {} (pid {})",
                victim + 1,
                format_duration(started.elapsed()),
                cluster.nodes[victim].pid().unwrap_or(0)
            ));
        }
        let seeds: Vec<u64> = cluster.nodes.iter().map(|_| dice.next()).collect();
        let progress = round as f64 / plan.rounds as f64;
        std::thread::scope(|scope| {
            for (node, seed) in cluster.nodes.iter().zip(seeds) {
                if !node.is_up() {
                    continue;
                }
                let acts = &acts;
                scope.spawn(move || {
                    let mut dice = Dice(seed);
                    let Ok(client) = node.client() else { return };
                    for _ in 0..plan.writes_per_round {
                        if let Ok(act) = write_one(&client, node.number - 1, &mut dice, progress) {
                            acts.lock().unwrap_or_else(|e| e.into_inner()).push(act);
                        }
                    }
                });
            }
        });
        let count = acts.lock().unwrap_or_else(|e| e.into_inner()).len();
        let digests = digests(&cluster);
        let line = format!(
            "round {:>2}/{} · {count:>3} writes acknowledged · digests {}",
            round + 1,
            plan.rounds,
            digests
                .iter()
                .map(|d| d
                    .as_ref()
                    .map_or("down".to_owned(), |(d, _)| d[..6].to_owned()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if show.is_live() {
            show.progress(line);
        } else if (round + 1) % 8 == 0 {
            show.say(line);
        }
        std::thread::sleep(Duration::from_millis(plan.round_ms));
    }
    show.progress_done();
    let acts = acts.into_inner().unwrap_or_else(|e| e.into_inner());
    let per_node = (0..cluster.nodes.len())
        .map(|i| acts.iter().filter(|a| a.node == i).count().to_string())
        .collect::<Vec<_>>()
        .join(" / ");
    show.check(
        !acts.is_empty(),
        format!("{} writes acknowledged", acts.len()),
        format!("per node {per_node}"),
    );
    Ok(Outcome { acts, cluster })
}

fn write_one(client: &Client, node: usize, dice: &mut Dice, progress: f64) -> Result<Act> {
    let name = dice.pick(&AGENTS);
    let agent = agent_id(name);
    if dice.unit() < 0.7 {
        let skill = dice.pick(&SKILLS);
        // Learning curves: levels rise over the run, with noise.
        let level = (0.2 + 0.7 * progress + 0.1 * dice.unit()).min(1.0);
        let level = (level * 1000.0).round() / 1000.0;
        let body = json!({"name": skill, "level": level});
        let resp = client.post(&format!("/v1/agents/{agent}/skills"), &body)?;
        if resp.status != 200 {
            bail!("skill update refused: {}", resp.text);
        }
        Ok(Act {
            node,
            agent,
            kind: "skill.update",
            json: json!({"agent": name, "skill": skill, "level": level}).to_string(),
            episode: None,
        })
    } else {
        let summary = format!("{name} {}", dice.pick(&DEEDS));
        let resp = client.post(
            &format!("/v1/agents/{agent}/episodes"),
            &json!({"summary": summary}),
        )?;
        if resp.status != 201 {
            bail!("episode refused: {}", resp.text);
        }
        let id = resp.json()["id"].as_str().map(str::to_owned);
        Ok(Act {
            node,
            agent,
            kind: "episode.add",
            json: json!({"agent": name, "summary": summary}).to_string(),
            episode: id,
        })
    }
}

/// Each node's state digest and agent count (`None` when it is down or
/// does not answer).
fn digests(cluster: &Cluster) -> Vec<Option<(String, u64)>> {
    cluster
        .nodes
        .iter()
        .map(|node| {
            if !node.is_up() {
                return None;
            }
            let resp = node.client().ok()?.get("/v1/cluster/digest").ok()?;
            let body = resp.json();
            Some((
                body["digest"].as_str()?.to_owned(),
                body["agents"].as_u64()?,
            ))
        })
        .collect()
}

/// Waits until every node reports the same digest; returns how long it took.
fn converge(cluster: &Cluster, timeout: Duration) -> Result<(Duration, String)> {
    let started = Instant::now();
    loop {
        let all = digests(cluster);
        if let Some(Some(first)) = all.first()
            && all.iter().all(|d| d.as_ref() == Some(first))
        {
            return Ok((started.elapsed(), first.0.clone()));
        }
        if started.elapsed() > timeout {
            bail!("digests still differ after {timeout:?}: {all:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The proof: every node holds the same state, and what the killed node
/// acknowledged before it died is everywhere.
pub(super) fn convergence(show: &mut Show, outcome: &Outcome) -> Result<()> {
    show.section("Convergence");
    let cluster = &outcome.cluster;
    let interval = cluster.gossip_interval_ms();
    let result = converge(cluster, Duration::from_secs(30));
    let (took, digest) = match &result {
        Ok((took, digest)) => (*took, digest.clone()),
        Err(e) => {
            show.check(false, "every node holds the same state", e.to_string());
            return Ok(());
        }
    };
    let rounds = took.as_millis().div_ceil(u128::from(interval.max(1)));
    let when = if rounds <= 1 {
        format!(
            "{} after the last write, within one {interval} ms gossip round",
            format_duration(took)
        )
    } else {
        format!(
            "{} after the last write, ≈ {rounds} gossip rounds of {interval} ms",
            format_duration(took)
        )
    };
    show.check(
        true,
        format!(
            "all {} nodes hold the same state digest {}…",
            cluster.nodes.len(),
            &digest[..16]
        ),
        when,
    );
    let victim = cluster.nodes.len() - 1;
    let before_kill: Vec<&Act> = outcome
        .acts
        .iter()
        .filter(|a| a.node == victim && a.episode.is_some())
        .collect();
    let missing = missing_episodes(cluster, &before_kill)?;
    show.check(
        missing == 0,
        format!(
            "every episode node {} acknowledged is on every node",
            victim + 1
        ),
        format!(
            "{} episodes checked on {} nodes",
            before_kill.len(),
            cluster.nodes.len()
        ),
    );
    Ok(())
}

fn missing_episodes(cluster: &Cluster, acts: &[&Act]) -> Result<usize> {
    let mut missing = 0;
    for node in &cluster.nodes {
        let client = node.client()?;
        let mut held: BTreeMap<AgentId, Vec<String>> = BTreeMap::new();
        for act in acts {
            let ids = match held.entry(act.agent) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(episode_ids(&client, act.agent)?)
                }
            };
            if act.episode.as_ref().is_some_and(|id| !ids.contains(id)) {
                missing += 1;
            }
        }
    }
    Ok(missing)
}

/// The ids of the episodes the node behind `client` holds for `agent`.
fn episode_ids(client: &Client, agent: AgentId) -> Result<Vec<String>> {
    let resp = client.get(&format!("/v1/agents/{agent}"))?;
    Ok(resp.json()["episodes"]
        .as_array()
        .map(|eps| {
            eps.iter()
                .filter_map(|e| e["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

/// Two nodes set one skill to different levels at the same moment; the
/// conflict is queued on every node and settled once, for all.
pub(super) fn conflict(show: &mut Show, cluster: &Cluster) -> Result<()> {
    show.section("A contradiction, settled once for everyone");
    let (a, b) = (cluster.nodes[0].client()?, cluster.nodes[1].client()?);
    let agent = agent_id("grace");
    let mut found = None;
    for attempt in 0..8 {
        let skill = format!("negotiation-{attempt}");
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            for (client, level) in [(&a, 0.35), (&b, 0.85)] {
                let (barrier, skill) = (&barrier, &skill);
                scope.spawn(move || {
                    barrier.wait();
                    let _ = client.post(
                        &format!("/v1/agents/{agent}/skills"),
                        &json!({"name": skill, "level": level}),
                    );
                });
            }
        });
        converge(cluster, Duration::from_secs(30))?;
        let conflicts = a.get("/v1/conflicts")?.json();
        if let Some(c) = conflicts["conflicts"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["skill"] == json!(skill)))
        {
            found = Some(c.clone());
            break;
        }
    }
    let Some(conflict) = found else {
        show.say("The writes happened to be ordered each time (each node saw the other's first); nothing to settle.");
        return Ok(());
    };
    let levels: Vec<String> = conflict["candidates"]
        .as_array()
        .map(|c| c.iter().map(|c| c["level"].to_string()).collect())
        .unwrap_or_default();
    show.fact(
        "conflict",
        format!(
            "grace · {} = {} (concurrent, queued for review)",
            conflict["skill"].as_str().unwrap_or("?"),
            levels.join(" vs ")
        ),
    );
    let id = conflict["id"].as_u64().context("conflict id")?;
    let settled = a.post(
        &format!("/v1/conflicts/{id}/settle"),
        &json!({"level": 0.6}),
    )?;
    show.check(
        settled.status == 200,
        "a reviewer settles it on node 1 at 0.6",
        "",
    );
    let converged = converge(cluster, Duration::from_secs(30));
    let skill = conflict["skill"].clone();
    let settled_everywhere = cluster.nodes.iter().all(|node| {
        node.client()
            .ok()
            .and_then(|c| c.get(&format!("/v1/agents/{agent}")).ok())
            .is_some_and(|resp| {
                resp.json()["skills"].as_array().is_some_and(|skills| {
                    skills.iter().any(|s| {
                        s["name"] == skill
                            && s["level"] == json!(0.6)
                            && s["concurrent_values"] == json!(1)
                    })
                })
            })
    });
    show.check(
        converged.is_ok() && settled_everywhere,
        "every node now holds the one settled level",
        converged.map_or_else(|e| e.to_string(), |(took, _)| format_duration(took)),
    );
    Ok(())
}

/// The closing table: one row per node.
pub(super) fn summary(show: &mut Show, cluster: &Cluster, acts: &[Act]) {
    show.section("Summary");
    let all = digests(cluster);
    for (node, digest) in cluster.nodes.iter().zip(all) {
        let served = acts.iter().filter(|a| a.node + 1 == node.number).count();
        let (digest, agents) =
            digest.map_or(("down".to_owned(), 0), |(d, n)| (d[..16].to_owned(), n));
        show.fact(
            &format!("node {}", node.number),
            format!(
                "{}…  {served:>3} writes served  {agents} agents  digest {digest}…",
                node.short_id()
            ),
        );
    }
}
