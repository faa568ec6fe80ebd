//! Drives `GossipNode`s in `chrysalis-sim`: the simulated shell. Shared by
//! the integration tests, the convergence benchmark and example (included
//! with `#[path]`).

#![allow(dead_code)]

use std::collections::BTreeMap;

use chrysalis_crdt::{AgentState, DeltaCrdt, Episode};
use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_gossip::{GossipConfig, GossipEvent, GossipNode, GossipTimer, MemberId, PeerAddr};
use chrysalis_sim::{Ctx, Faults, Pid, Process, Sim};
use chrysalis_types::{AgentId, EpisodeId, NodeId, Timestamp};

/// Per-round traffic one node generated.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RoundTraffic {
    /// Most digests sent by one round (bounded by the fan-out).
    pub(crate) max_digests: u64,
    /// Rounds run.
    pub(crate) rounds: u64,
}

/// One simulated node: the gossip core, its timers, and a "disk".
pub(crate) struct SimNode {
    pub(crate) index: u32,
    pub(crate) config: GossipConfig,
    pub(crate) seed: u64,
    /// The member every node announces itself to.
    pub(crate) seed_peer: u32,
    pub(crate) node: Option<GossipNode>,
    /// Durable: what the node persisted (its agent states) and its bump.
    pub(crate) disk: BTreeMap<AgentId, AgentState>,
    pub(crate) bump: u16,
    timers: BTreeMap<u64, GossipTimer>,
    next_timer: u64,
    pub(crate) traffic: RoundTraffic,
    /// First time each agent changed here through gossip.
    pub(crate) changed_at: BTreeMap<AgentId, u64>,
    pub(crate) downs_seen: BTreeMap<NodeId, u64>,
    /// Start knowing every member (a static member list) instead of joining
    /// through the seed: large clusters skip the join storm.
    pub(crate) preload: Option<u32>,
}

pub(crate) fn key_of(index: u32) -> SigningKey {
    let seed = blake3::hash(&[b"sim-node".as_slice(), &index.to_le_bytes()].concat());
    SigningKey::from_seed(seed.as_bytes())
}

/// The node id of simulated node `index` (memoised: deriving a public key
/// is a scalar multiplication, and a static member list needs n² of them).
pub(crate) fn node_id_of(index: u32) -> NodeId {
    thread_local! {
        static IDS: std::cell::RefCell<BTreeMap<u32, NodeId>> = const { std::cell::RefCell::new(BTreeMap::new()) };
    }
    IDS.with(|ids| {
        *ids.borrow_mut()
            .entry(index)
            .or_insert_with(|| NodeId::new(key_of(index).verifying_key().to_bytes()))
    })
}

pub(crate) fn agent(i: u32) -> AgentId {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&i.to_be_bytes());
    AgentId::new(bytes)
}

impl SimNode {
    pub(crate) fn new(index: u32, config: GossipConfig, seed: u64) -> Self {
        Self {
            index,
            config,
            seed,
            seed_peer: 0,
            node: None,
            disk: BTreeMap::new(),
            bump: 0,
            timers: BTreeMap::new(),
            next_timer: 0,
            traffic: RoundTraffic::default(),
            changed_at: BTreeMap::new(),
            downs_seen: BTreeMap::new(),
            preload: None,
        }
    }

    pub(crate) fn gossip(&self) -> &GossipNode {
        self.node.as_ref().expect("node is up")
    }

    /// A local write: a skill update, persisted to "disk" before it counts.
    pub(crate) fn write_skill(&mut self, agent: AgentId, skill: &str, level: f64, now_ms: u64) {
        let node = self.node.as_mut().expect("node is up");
        let delta = node
            .update(agent, |e| {
                e.update_skill(skill, level, Timestamp::new(now_ms, 0))
            })
            .expect("valid skill update");
        DeltaCrdt::apply_delta(self.disk.entry(agent).or_default(), &delta);
    }

    /// A local write: an episode.
    pub(crate) fn write_episode(&mut self, agent: AgentId, id: u64, summary: &str, now_ms: u64) {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&id.to_be_bytes());
        bytes[8..12].copy_from_slice(&self.index.to_be_bytes());
        let episode = Episode::new(EpisodeId::new(bytes), Timestamp::new(now_ms, 0), summary);
        let node = self.node.as_mut().expect("node is up");
        let delta = node
            .update(agent, |e| e.add_episode(episode))
            .expect("valid episode");
        DeltaCrdt::apply_delta(self.disk.entry(agent).or_default(), &delta);
    }

    fn pump(&mut self, ctx: &mut Ctx<'_, Vec<u8>>) {
        let Some(node) = self.node.as_mut() else {
            return;
        };
        while let Some(t) = node.poll_transmit() {
            let to = t.to.to_index().expect("simulated addresses are indices");
            ctx.send(Pid(to), t.bytes);
        }
        while let Some((after_ms, timer)) = node.poll_timer() {
            self.next_timer += 1;
            self.timers.insert(self.next_timer, timer);
            ctx.set_timer(after_ms, self.next_timer);
        }
        while let Some(event) = node.poll_event() {
            match event {
                GossipEvent::AgentChanged(a) => {
                    self.changed_at.entry(a).or_insert(ctx.now_ms());
                    // Persist what gossip brought, as the shell would.
                    if let Some(s) = node.state(&a) {
                        self.disk.insert(a, s.clone());
                    }
                }
                GossipEvent::MemberDown(m) => {
                    self.downs_seen.entry(m.node).or_insert(ctx.now_ms());
                }
                GossipEvent::Rejoined(m) => self.bump = m.bump,
                _ => {}
            }
        }
    }
}

impl Process for SimNode {
    type Msg = Vec<u8>;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Vec<u8>>) {
        let id = MemberId {
            node: node_id_of(self.index),
            addr: PeerAddr::from_index(self.index),
            bump: self.bump,
        };
        let seed = self.seed ^ (u64::from(self.index) << 32) ^ u64::from(self.bump);
        let mut node = GossipNode::with_identity(key_of(self.index), id, self.config.clone(), seed);
        for (a, s) in &self.disk {
            node.restore(*a, s);
        }
        node.start(ctx.now_ms());
        if let Some(n) = self.preload {
            let others = (0..n).filter(|&i| i != self.index).map(|i| MemberId {
                node: node_id_of(i),
                addr: PeerAddr::from_index(i),
                bump: 0,
            });
            let _ = node.add_members(others, ctx.now_ms());
        } else if self.index != self.seed_peer {
            // An announce to a member that is down simply goes unanswered.
            let _ = node.join(PeerAddr::from_index(self.seed_peer), ctx.now_ms());
        }
        self.node = Some(node);
        self.pump(ctx);
    }

    fn on_message(&mut self, from: Pid, msg: Vec<u8>, ctx: &mut Ctx<'_, Vec<u8>>) {
        if let Some(node) = self.node.as_mut() {
            // Errors are counted in the node's statistics.
            let _ = node.handle_message(&PeerAddr::from_index(from.0), &msg, ctx.now_ms());
        }
        self.pump(ctx);
    }

    fn on_timer(&mut self, timer: u64, ctx: &mut Ctx<'_, Vec<u8>>) {
        let Some(t) = self.timers.remove(&timer) else {
            return;
        };
        let Some(node) = self.node.as_mut() else {
            return;
        };
        let is_round = t == GossipTimer::Round;
        let before = node.stats().digests_sent;
        let _ = node.handle_timer(t, ctx.now_ms());
        if is_round {
            let sent = node.stats().digests_sent - before;
            self.traffic.rounds += 1;
            self.traffic.max_digests = self.traffic.max_digests.max(sent);
        }
        self.pump(ctx);
    }

    fn crash(&mut self) {
        self.node = None;
        self.timers.clear();
        // A restarted node comes back under a fresh identity so members that
        // declared it down take it back at once.
        self.bump = self.bump.wrapping_add(1);
    }

    fn wipe(&mut self) {
        self.crash();
        self.disk.clear();
    }
}

/// A test cluster configuration: faster SWIM than the LAN default so runs
/// stay short (500 ms probes, 200 ms probe timeout).
pub(crate) fn sim_config(n: u32) -> GossipConfig {
    let mut c = GossipConfig::for_cluster(n);
    c.swim = chrysalis_gossip::swim_config(n, 500, 200);
    c
}

/// `n` nodes, all announcing to node 0.
pub(crate) fn cluster(n: u32, seed: u64, faults: Faults, config: &GossipConfig) -> Sim<SimNode> {
    let nodes = (0..n)
        .map(|i| SimNode::new(i, config.clone(), seed))
        .collect();
    Sim::new(seed, nodes, faults)
}

/// `n` nodes that start knowing each other (a static member list).
pub(crate) fn preloaded_cluster(
    n: u32,
    seed: u64,
    faults: Faults,
    config: &GossipConfig,
) -> Sim<SimNode> {
    let nodes = (0..n)
        .map(|i| SimNode {
            preload: Some(n),
            ..SimNode::new(i, config.clone(), seed)
        })
        .collect();
    Sim::new(seed, nodes, faults)
}

/// Whether every up node knows every other up node as active.
pub(crate) fn membership_complete(sim: &Sim<SimNode>) -> bool {
    let up = sim.up_pids().count();
    sim.up_pids().all(|p| {
        sim.process(p)
            .node
            .as_ref()
            .is_some_and(|n| n.active_members() + 1 >= up)
    })
}

/// Runs until membership is complete (or `limit_ms` passes); returns whether
/// it completed.
pub(crate) fn settle_membership(sim: &mut Sim<SimNode>, limit_ms: u64) -> bool {
    let deadline = sim.now_ms() + limit_ms;
    while sim.now_ms() < deadline {
        sim.run_for(250);
        if membership_complete(sim) {
            return true;
        }
    }
    false
}

/// The distinct state digests of the up nodes.
pub(crate) fn digests(sim: &Sim<SimNode>) -> Vec<[u8; 32]> {
    let mut d: Vec<[u8; 32]> = sim
        .up_pids()
        .map(|p| sim.process(p).gossip().state_digest())
        .collect();
    d.sort();
    d.dedup();
    d
}

/// Runs until all up nodes hold the same state (checking every 100 ms), up
/// to `limit_ms`; returns the time it took.
pub(crate) fn run_to_convergence(sim: &mut Sim<SimNode>, limit_ms: u64) -> Option<u64> {
    let start = sim.now_ms();
    while sim.now_ms() < start + limit_ms {
        if digests(sim).len() == 1 {
            return Some(sim.now_ms() - start);
        }
        sim.run_for(100);
    }
    (digests(sim).len() == 1).then(|| sim.now_ms() - start)
}

/// Writes one skill at `writer` and runs until every up node has it;
/// returns the rounds it took (time / round interval, rounded up).
pub(crate) fn single_write_rounds(
    sim: &mut Sim<SimNode>,
    writer: Pid,
    a: AgentId,
    limit_ms: u64,
) -> Option<u64> {
    let t0 = sim.now_ms();
    sim.process_mut(writer).write_skill(a, "probe", 0.5, t0);
    let interval = sim.process(writer).config.round_interval_ms;
    let all_have = |s: &Sim<SimNode>| {
        s.up_pids()
            .all(|p| p == writer || s.process(p).changed_at.contains_key(&a))
    };
    while !all_have(sim) {
        if sim.now_ms() >= t0 + limit_ms || sim.next_event_ms().is_none() {
            return None;
        }
        // Arrival times are recorded exactly by the nodes; checking every
        // 20 ms keeps the O(n) check off the per-step path.
        sim.run_for(20);
    }
    let last = sim
        .up_pids()
        .filter(|&p| p != writer)
        .map(|p| sim.process(p).changed_at[&a])
        .max()
        .unwrap_or(t0);
    Some((last - t0).div_ceil(interval))
}

/// One line of the convergence table.
#[derive(Debug, Clone)]
pub(crate) struct ConvergenceRow {
    pub(crate) n: u32,
    pub(crate) writes: usize,
    pub(crate) p50: u64,
    pub(crate) p99: u64,
    pub(crate) max: u64,
    pub(crate) settle_ms: u64,
    pub(crate) digests_per_round_max: u64,
    pub(crate) ae_frames_per_node_round: f64,
    pub(crate) swim_frames_per_node_round: f64,
    pub(crate) steps: u64,
}

impl ConvergenceRow {
    pub(crate) fn log2n(&self) -> f64 {
        f64::from(self.n).log2()
    }
}

/// Rounds for `writes` single writes (at different nodes, on different
/// agents, one at a time) in a cluster of `n`, over `seeds` clusters.
pub(crate) fn convergence_row(n: u32, seeds: &[u64], writes_per_seed: u32) -> ConvergenceRow {
    let mut rounds = Vec::new();
    let mut settle_ms = 0;
    let mut digests_max = 0;
    let (mut ae, mut swim, mut node_rounds, mut steps) = (0u64, 0u64, 0u64, 0u64);
    for &seed in seeds {
        let config = sim_config(n);
        // A static member list: this measures anti-entropy, not joining.
        let mut sim = preloaded_cluster(n, seed, Faults::default(), &config);
        settle_membership(&mut sim, 300_000);
        settle_ms = settle_ms.max(sim.now_ms());
        let mut rng = chrysalis_sim::SimRng::new(seed);
        for w in 0..writes_per_seed {
            let writer = Pid(rng.below(u64::from(n)) as u32);
            let a = agent(10_000 + w);
            if let Some(r) = single_write_rounds(&mut sim, writer, a, 60_000) {
                rounds.push(r);
            }
            sim.run_for(rng.between(0, 400));
        }
        for p in sim.pids() {
            let node = sim.process(p);
            let st = node.gossip().stats();
            digests_max = digests_max.max(node.traffic.max_digests);
            ae += st.frames_sent - st.swim_frames_sent;
            swim += st.swim_frames_sent;
            node_rounds += node.traffic.rounds;
        }
        steps += sim.stats().steps;
    }
    rounds.sort_unstable();
    let pick = |q: f64| {
        let i = ((rounds.len() as f64 - 1.0) * q).ceil() as usize;
        rounds.get(i).copied().unwrap_or(u64::MAX)
    };
    ConvergenceRow {
        n,
        writes: rounds.len(),
        p50: pick(0.5),
        p99: pick(0.99),
        max: rounds.last().copied().unwrap_or(u64::MAX),
        settle_ms,
        digests_per_round_max: digests_max,
        ae_frames_per_node_round: ae as f64 / node_rounds.max(1) as f64,
        swim_frames_per_node_round: swim as f64 / node_rounds.max(1) as f64,
        steps,
    }
}

/// The table, as markdown.
pub(crate) fn convergence_table(rows: &[ConvergenceRow]) -> String {
    let mut out = String::from(
        "| n | writes | p50 rounds | p99 rounds | max | log2 n | p99 / log2 n | digests/round (max) | AE frames/node/round | SWIM frames/node/round |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1} | {:.2} | {} | {:.1} | {:.1} |\n",
            r.n,
            r.writes,
            r.p50,
            r.p99,
            r.max,
            r.log2n(),
            r.p99 as f64 / r.log2n(),
            r.digests_per_round_max,
            r.ae_frames_per_node_round,
            r.swim_frames_per_node_round,
        ));
    }
    out
}
