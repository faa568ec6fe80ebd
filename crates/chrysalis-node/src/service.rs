//! The event loop: one task owns the [`NodeCore`], the [`Replicator`] and
//! the [`StateStore`], and selects over local commands (from the HTTP API,
//! through a [`NodeHandle`]), datagrams from peers, and the gossip timer.
//!
//! A local write is persisted before its command is answered, so a write
//! the API acknowledged survives `kill -9`. States merged from peers are
//! persisted as they change.

use crate::config::NodeConfig;
use crate::core::{ConflictView, CoreError, Digest, NodeCore, Settlement};
use crate::http;
use crate::identity::NodeIdentity;
use crate::metrics::{DropReason, Metrics};
use crate::replication::{Member, Output, Replicator};
use crate::store::{StateStore, StoreError};
use chrysalis_crdt::AgentState;
use chrysalis_crypto::secret::Secret;
use chrysalis_net::{Admission, Channel, Endpoint, NetConfig, NetError};
use chrysalis_types::codec::Encode;
use chrysalis_types::{AgentId, EpisodeId, NodeId, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Why a node could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A socket could not be bound.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The replication endpoint could not start.
    #[error("could not start the replication endpoint on {addr}: {source}")]
    Net {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        #[source]
        source: NetError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored agent state does not decode.
    #[error("stored state of agent {agent} is corrupt: {source}")]
    CorruptState {
        /// The agent.
        agent: AgentId,
        /// The decoder's error.
        #[source]
        source: chrysalis_types::codec::DecodeError,
    },
}

/// Why a command sent through a [`NodeHandle`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The node refused it.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The change could not be persisted; it was not acknowledged.
    #[error("could not persist: {0}")]
    Store(Arc<StoreError>),
    /// The event loop has stopped.
    #[error("the node is shutting down")]
    Stopped,
}

/// What the node says about its cluster.
#[derive(Debug, Clone)]
pub struct ClusterView {
    /// This node.
    pub node: NodeId,
    /// Where its replication endpoint listens.
    pub gossip_addr: SocketAddr,
    /// The peers it knows, and whether each is alive.
    pub members: Vec<(Member, bool)>,
}

type Reply<T> = oneshot::Sender<Result<T, CommandError>>;

/// The most writes persisted together.
const MAX_BATCH: usize = 256;

type Ack = Box<dyn FnOnce(Result<(), Arc<StoreError>>) + Send>;

/// Local writes applied in memory, waiting for one persistence pass.
#[derive(Default)]
struct Batch {
    dirty: BTreeSet<AgentId>,
    acks: Vec<(AgentId, Ack)>,
}

enum Command {
    CreateAgent(AgentId, Reply<()>),
    GetAgent(AgentId, Reply<Option<AgentState>>),
    ListAgents(Reply<Vec<AgentId>>),
    UpdateSkill(AgentId, String, f64, Reply<()>),
    AddEpisode(AgentId, EpisodeId, String, Vec<EpisodeId>, Reply<Timestamp>),
    Conflicts(Reply<Vec<ConflictView>>),
    Settle(u64, Settlement, Reply<(AgentId, String, f64)>),
    Cluster(Reply<ClusterView>),
    Digest(Reply<(Digest, usize)>),
}

/// The way into a running node: cheap to clone, one per HTTP handler.
#[derive(Clone)]
pub struct NodeHandle {
    tx: mpsc::Sender<Command>,
    metrics: Arc<Metrics>,
    node: NodeId,
    token: Arc<Secret<String>>,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl NodeHandle {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, CommandError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| CommandError::Stopped)?;
        rx.await.map_err(|_| CommandError::Stopped)?
    }

    /// The node's id.
    pub fn node_id(&self) -> NodeId {
        self.node
    }

    /// The node's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The API token.
    pub(crate) fn token(&self) -> &Secret<String> {
        &self.token
    }

    /// Creates an empty agent.
    pub async fn create_agent(&self, agent: AgentId) -> Result<(), CommandError> {
        self.ask(|r| Command::CreateAgent(agent, r)).await
    }

    /// An agent's merged state.
    pub async fn agent(&self, agent: AgentId) -> Result<Option<AgentState>, CommandError> {
        self.ask(|r| Command::GetAgent(agent, r)).await
    }

    /// Every agent id.
    pub async fn agents(&self) -> Result<Vec<AgentId>, CommandError> {
        self.ask(Command::ListAgents).await
    }

    /// Sets a skill level (persisted before this returns).
    pub async fn update_skill(
        &self,
        agent: AgentId,
        name: String,
        level: f64,
    ) -> Result<(), CommandError> {
        self.ask(|r| Command::UpdateSkill(agent, name, level, r))
            .await
    }

    /// Records an episode (persisted before this returns).
    pub async fn add_episode(
        &self,
        agent: AgentId,
        id: EpisodeId,
        summary: String,
        causes: Vec<EpisodeId>,
    ) -> Result<Timestamp, CommandError> {
        self.ask(|r| Command::AddEpisode(agent, id, summary, causes, r))
            .await
    }

    /// Conflicts awaiting review.
    pub async fn conflicts(&self) -> Result<Vec<ConflictView>, CommandError> {
        self.ask(Command::Conflicts).await
    }

    /// Settles a conflict (persisted before this returns).
    pub async fn settle(
        &self,
        id: u64,
        how: Settlement,
    ) -> Result<(AgentId, String, f64), CommandError> {
        self.ask(|r| Command::Settle(id, how, r)).await
    }

    /// Membership.
    pub async fn cluster(&self) -> Result<ClusterView, CommandError> {
        self.ask(Command::Cluster).await
    }

    /// The digest of every agent's state, and how many agents.
    pub async fn digest(&self) -> Result<(Digest, usize), CommandError> {
        self.ask(Command::Digest).await
    }
}

/// A running node: its addresses, its handle, and how to stop it.
#[derive(Debug)]
pub struct Node {
    /// Where the HTTP API listens.
    pub http_addr: SocketAddr,
    /// Where the replication endpoint listens.
    pub gossip_addr: SocketAddr,
    /// The way in.
    pub handle: NodeHandle,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Node {
    /// Restores the states in `store`, binds both sockets and starts the
    /// event loop and the HTTP server.
    pub async fn start(
        config: &NodeConfig,
        identity: &NodeIdentity,
        store: Box<dyn StateStore>,
    ) -> Result<Self, NodeError> {
        let mut core = NodeCore::new(identity.node_id());
        for (agent, bytes) in store.load_all()? {
            core.restore(agent, &bytes)
                .map_err(|source| NodeError::CorruptState { agent, source })?;
        }
        let bind_err = |addr| move |source| NodeError::Bind { addr, source };
        let net_err = |source| NodeError::Net {
            addr: config.gossip_listen,
            source,
        };
        let admission = if config.allow.is_empty() {
            Admission::open()
        } else {
            Admission::allowlist(config.allow.iter().copied())
        };
        let endpoint = Endpoint::bind(config.gossip_listen, &identity.key, admission, net_config())
            .map_err(net_err)?;
        let gossip_addr = endpoint.local_addr().map_err(net_err)?;
        let listener = tokio::net::TcpListener::bind(config.http_listen)
            .await
            .map_err(bind_err(config.http_listen))?;
        let http_addr = listener
            .local_addr()
            .map_err(bind_err(config.http_listen))?;
        let seed = u64::from_le_bytes(chrysalis_crypto::secret::random_array::<8>());
        let mut replicator = Replicator::new(
            identity.key.clone(),
            config.allow.clone(),
            config.join.clone(),
            config.gossip_fanout,
            config.gossip_interval_ms,
            seed,
        );
        replicator.set_push(config.gossip_push);
        let metrics = Arc::new(Metrics::default());
        let (tx, rx) = mpsc::channel(1024);
        let (stop, stopped) = watch::channel(false);
        let handle = NodeHandle {
            tx,
            metrics: metrics.clone(),
            node: identity.node_id(),
            token: Arc::new(identity.api_token.clone()),
        };
        let event_loop = EventLoop {
            core,
            replicator,
            store,
            endpoint,
            in_flight: InFlightMap::default(),
            gossip_addr,
            metrics,
            interval_ms: config.gossip_interval_ms,
        };
        let loop_task = tokio::spawn(event_loop.run(rx, stopped.clone()));
        let router = http::router(handle.clone(), config.max_body_bytes);
        let http_task = tokio::spawn(http::serve(listener, router, stopped));
        tracing::info!(node = %identity.node_id(), %http_addr, %gossip_addr, "node started");
        Ok(Self {
            http_addr,
            gossip_addr,
            handle,
            stop,
            tasks: vec![loop_task, http_task],
        })
    }

    /// Stops accepting requests, lets in-flight ones finish, and ends the
    /// event loop.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Sends in flight per peer address.
type InFlightMap = Arc<std::sync::Mutex<BTreeMap<SocketAddr, usize>>>;

/// The most sends in flight to one peer.
const MAX_IN_FLIGHT_PER_PEER: usize = 8;

/// A slot for one send to one peer, given back on drop.
struct InFlight {
    map: InFlightMap,
    to: SocketAddr,
}

impl InFlight {
    fn take(map: &InFlightMap, to: SocketAddr) -> Option<Self> {
        let mut guard = map.lock().ok()?;
        let count = guard.entry(to).or_default();
        if *count >= MAX_IN_FLIGHT_PER_PEER {
            return None;
        }
        *count += 1;
        Some(Self {
            map: map.clone(),
            to,
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut guard) = self.map.lock() {
            if let Some(count) = guard.get_mut(&self.to) {
                *count -= 1;
                if *count == 0 {
                    guard.remove(&self.to);
                }
            }
        }
    }
}

/// Endpoint settings: a dial gives up after a second (peers are on a LAN
/// or loopback; a dead one must not hold sends for long).
fn net_config() -> NetConfig {
    let mut config = NetConfig::default();
    config.connect_timeout_ms = 1_000;
    config
}

struct EventLoop {
    core: NodeCore,
    replicator: Replicator,
    store: Box<dyn StateStore>,
    endpoint: Endpoint,
    in_flight: InFlightMap,
    gossip_addr: SocketAddr,
    metrics: Arc<Metrics>,
    interval_ms: u64,
}

/// Milliseconds since the Unix epoch: the event loop's clock.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl EventLoop {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>, mut stopped: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(std::time::Duration::from_millis(self.interval_ms));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                command = rx.recv() => match command {
                    Some(command) => {
                        // Group commit: writes queued meanwhile share one
                        // persistence pass before any of them is answered.
                        let mut batch = Batch::default();
                        self.on_command(command, &mut batch).await;
                        while batch.acks.len() < MAX_BATCH {
                            match rx.try_recv() {
                                Ok(command) => self.on_command(command, &mut batch).await,
                                Err(_) => break,
                            }
                        }
                        self.commit(batch).await;
                    }
                    None => break,
                },
                incoming = self.endpoint.recv() => {
                    match incoming {
                        Some(frame) if frame.channel == Channel::GOSSIP => {
                            let out = self.replicator.handle(
                                frame.addr,
                                Some(frame.from),
                                &frame.payload,
                                now_ms(),
                                &mut self.core,
                                &self.metrics,
                            );
                            self.flush(out).await;
                        }
                        Some(_) => self.metrics.frame_dropped(DropReason::Malformed),
                        None => break,
                    }
                }
                _ = ticker.tick() => {
                    let now = now_ms();
                    let out = self.replicator.tick(&self.core, now, &self.metrics);
                    let known = self.replicator.members().count();
                    self.metrics.set_members(self.replicator.alive(now), known);
                    self.metrics.set_handshakes_refused(self.endpoint.metrics().handshakes_refused);
                    self.flush(out).await;
                }
            }
        }
        // Bounded: a peer that stopped reading must not hold the shutdown.
        let close = self.endpoint.close();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), close).await;
        tracing::info!("event loop stopped");
    }

    /// Persists what changed, then sends.
    async fn flush(&mut self, out: Output) {
        let rows: Vec<(AgentId, Vec<u8>)> = out
            .changed
            .iter()
            .filter_map(|agent| self.core.agent(*agent).map(|s| (*agent, s.to_bytes())))
            .collect();
        if let Err(err) = self.store.put_many(&rows) {
            tracing::error!(%err, "could not persist merged states");
        }
        for (to, frame) in out.send {
            // A send may dial, and a dial may wait on a dead peer: never in
            // the event loop itself, and never more than a few per peer (a
            // dropped frame is repaired by the next round).
            let Some(permit) = InFlight::take(&self.in_flight, to) else {
                self.metrics.frame_dropped(DropReason::SendFailed);
                continue;
            };
            let endpoint = self.endpoint.clone();
            let metrics = self.metrics.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match endpoint.send(to, None, Channel::GOSSIP, &frame).await {
                    Ok(()) => metrics.frame_sent(frame.len()),
                    Err(err) => {
                        tracing::debug!(%to, %err, "send failed");
                        metrics.frame_dropped(DropReason::SendFailed);
                    }
                }
            });
        }
    }

    /// Queues the answer to a local write until the batch is persisted; a
    /// refused write is answered at once.
    fn stage<T: Send + 'static>(
        batch: &mut Batch,
        agent: AgentId,
        result: Result<T, CoreError>,
        reply: Reply<T>,
    ) {
        match result {
            Err(err) => {
                let _ = reply.send(Err(err.into()));
            }
            Ok(value) => {
                batch.dirty.insert(agent);
                let ack = move |persisted: Result<(), Arc<StoreError>>| {
                    let _ = reply.send(persisted.map(|()| value).map_err(CommandError::Store));
                };
                batch.acks.push((agent, Box::new(ack)));
            }
        }
    }

    /// Persists every agent the batch changed, answers its writes, then
    /// pushes the changes to peers.
    async fn commit(&mut self, batch: Batch) {
        if batch.acks.is_empty() {
            return;
        }
        let rows: Vec<(AgentId, Vec<u8>)> = batch
            .dirty
            .iter()
            .filter_map(|agent| self.core.agent(*agent).map(|s| (*agent, s.to_bytes())))
            .collect();
        let persisted = self.store.put_many(&rows).map_err(Arc::new);
        let outcome: BTreeMap<AgentId, Result<(), Arc<StoreError>>> = batch
            .dirty
            .iter()
            .map(|agent| (*agent, persisted.clone()))
            .collect();
        for (agent, ack) in batch.acks {
            ack(outcome.get(&agent).cloned().unwrap_or(Ok(())));
        }
        for (agent, persisted) in outcome {
            if persisted.is_ok() {
                let out = self.replicator.push(&self.core, agent, &self.metrics);
                self.flush(out).await;
            }
        }
    }

    async fn on_command(&mut self, command: Command, batch: &mut Batch) {
        let writes = matches!(
            command,
            Command::CreateAgent(..)
                | Command::UpdateSkill(..)
                | Command::AddEpisode(..)
                | Command::Settle(..)
        );
        if !writes {
            // Reads see only persisted writes.
            self.commit(std::mem::take(batch)).await;
        }
        match command {
            Command::CreateAgent(agent, reply) => {
                let result = self.core.create_agent(agent);
                Self::stage(batch, agent, result, reply);
            }
            Command::GetAgent(agent, reply) => {
                let _ = reply.send(Ok(self.core.agent(agent).cloned()));
            }
            Command::ListAgents(reply) => {
                let _ = reply.send(Ok(self.core.agent_ids().collect()));
            }
            Command::UpdateSkill(agent, name, level, reply) => {
                let result = self.core.update_skill(agent, &name, level, now_ms());
                Self::stage(batch, agent, result, reply);
            }
            Command::AddEpisode(agent, id, summary, causes, reply) => {
                let result = self
                    .core
                    .add_episode(agent, id, &summary, &causes, now_ms());
                Self::stage(batch, agent, result, reply);
            }
            Command::Conflicts(reply) => {
                let _ = reply.send(self.core.conflicts().map_err(CommandError::from));
            }
            Command::Settle(id, how, reply) => {
                let result = self.core.settle(id, how, now_ms());
                let agent = result.as_ref().map(|(a, _, _)| *a).unwrap_or_default();
                Self::stage(batch, agent, result, reply);
            }
            Command::Cluster(reply) => {
                let now = now_ms();
                let window = self.interval_ms.saturating_mul(10).max(2_000);
                let members = self
                    .replicator
                    .members()
                    .map(|m| {
                        let alive = m
                            .last_seen_ms
                            .is_some_and(|t| now.saturating_sub(t) <= window);
                        (m.clone(), alive)
                    })
                    .collect();
                let _ = reply.send(Ok(ClusterView {
                    node: self.core.node_id(),
                    gossip_addr: self.gossip_addr,
                    members,
                }));
            }
            Command::Digest(reply) => {
                let count = self.core.digests().len();
                let _ = reply.send(Ok((self.core.cluster_digest(), count)));
            }
        }
    }
}
