//! A running node and the way into it: [`Node::start`] restores the stored
//! agent states into the gossip core, binds the QUIC endpoint and the HTTP
//! listener, and spawns the event loop (`event_loop.rs`); a [`NodeHandle`]
//! sends it commands.

use crate::config::{ConsensusEngine, NodeConfig};
use crate::consensus::{self, ConsensusDisk, ConsensusError, ConsensusHandle, MemDisk, NodeDisk};
use crate::core::{ConflictView, CoreError, Digest, NodeCore, Settlement};
use crate::event_loop::{EventLoop, SWIM_BUMP, peer_addr};
use crate::http;
use crate::identity::NodeIdentity;
use crate::metrics::Metrics;
use crate::store::{NodeStore, StateStore, StoreError};
use chrysalis_consensus::{EngineConfig, MempoolConfig};
use chrysalis_crdt::AgentState;
use chrysalis_crypto::secret::Secret;
use chrysalis_gossip::{GossipConfig, GossipNode, MemberId, MemberState, NewNodeError};
use chrysalis_net::{Admission, Endpoint, NetConfig, NetError};
use chrysalis_types::{AgentId, EpisodeId, NodeId, Timestamp};
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
    /// The gossip settings are invalid.
    #[error("invalid gossip settings: {0}")]
    Gossip(#[from] NewNodeError),
    /// Consensus could not start.
    #[error("could not start consensus: {0}")]
    Consensus(#[from] ConsensusError),
    /// The raft engine could not start.
    #[error("could not start raft consensus: {0}")]
    Raft(#[from] chrysalis_raft::StartError),
    /// The raft engine was asked for without a node database to keep its
    /// log in (start the node with [`Node::start_on_store`]).
    #[error("consensus_engine = raft needs the node database: start with Node::start_on_store")]
    RaftNeedsStore,
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

/// A member of the cluster as SWIM sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its node id.
    pub id: NodeId,
    /// The address it announced (its QUIC endpoint).
    pub addr: String,
    /// Its incarnation: raised when it restarts or rejoins.
    pub bump: u16,
    /// Alive, suspect or down.
    pub state: MemberState,
}

/// What the node says about its cluster.
#[derive(Debug, Clone)]
pub struct ClusterView {
    /// This node.
    pub node: NodeId,
    /// Where its replication endpoint listens.
    pub gossip_addr: SocketAddr,
    /// The peers SWIM knows, and whether each is alive.
    pub members: Vec<(Member, bool)>,
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, CommandError>>;

pub(crate) enum Command {
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

impl Command {
    /// Whether it changes an agent (and so waits for persistence).
    pub(crate) fn writes(&self) -> bool {
        matches!(
            self,
            Command::CreateAgent(..)
                | Command::UpdateSkill(..)
                | Command::AddEpisode(..)
                | Command::Settle(..)
        )
    }
}

/// The way into a running node: cheap to clone, one per HTTP handler.
#[derive(Clone)]
pub struct NodeHandle {
    tx: mpsc::Sender<Command>,
    metrics: Arc<Metrics>,
    node: NodeId,
    token: Arc<Secret<String>>,
    consensus: Option<ConsensusHandle>,
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

    /// The consensus task, if consensus is on.
    pub fn consensus(&self) -> Option<&ConsensusHandle> {
        self.consensus.as_ref()
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
    /// event loop and the HTTP server; consensus (if validators are
    /// configured) keeps its WAL and decided blocks in memory.
    pub async fn start(
        config: &NodeConfig,
        identity: &NodeIdentity,
        store: Box<dyn StateStore>,
    ) -> Result<Self, NodeError> {
        Self::start_with_consensus(config, identity, store, Box::new(MemDisk::default())).await
    }

    /// [`Node::start`], with consensus state (WAL, decided blocks) on
    /// `disk`: a [`crate::consensus::NodeDisk`] makes it survive restarts.
    /// Tendermint only: the raft engine needs [`Node::start_on_store`].
    pub async fn start_with_consensus(
        config: &NodeConfig,
        identity: &NodeIdentity,
        store: Box<dyn StateStore>,
        disk: Box<dyn ConsensusDisk>,
    ) -> Result<Self, NodeError> {
        Self::start_engine(config, identity, store, EngineStore::Tendermint(disk)).await
    }

    /// [`Node::start`] with everything durable in the node database
    /// `store`: agent states, and the state of the consensus engine the
    /// configuration names (Tendermint's WAL and decided blocks through a
    /// [`NodeDisk`], or raft's log and state machine).
    pub async fn start_on_store(
        config: &NodeConfig,
        identity: &NodeIdentity,
        store: Arc<NodeStore>,
    ) -> Result<Self, NodeError> {
        let engine = match config.consensus_engine {
            ConsensusEngine::Tendermint => {
                EngineStore::Tendermint(Box::new(NodeDisk::new(store.clone())))
            }
            ConsensusEngine::Raft => EngineStore::Raft(store.clone()),
        };
        Self::start_engine(config, identity, Box::new(store), engine).await
    }

    async fn start_engine(
        config: &NodeConfig,
        identity: &NodeIdentity,
        store: Box<dyn StateStore>,
        engine: EngineStore,
    ) -> Result<Self, NodeError> {
        if config.consensus_engine == ConsensusEngine::Raft
            && !config.validators.is_empty()
            && !matches!(engine, EngineStore::Raft(_))
        {
            return Err(NodeError::RaftNeedsStore);
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
        if gossip_addr.ip().is_unspecified() {
            tracing::warn!(%gossip_addr, "peers cannot reach an unspecified gossip address");
        }
        let listener = tokio::net::TcpListener::bind(config.http_listen)
            .await
            .map_err(bind_err(config.http_listen))?;
        let http_addr = listener
            .local_addr()
            .map_err(bind_err(config.http_listen))?;
        let mut store = store;
        let bump = next_bump(&mut *store)?;
        let mut core = NodeCore::new(gossip_node(config, identity, gossip_addr, bump)?);
        for (agent, bytes) in store.load_all()? {
            core.restore(agent, &bytes)
                .map_err(|source| NodeError::CorruptState { agent, source })?;
        }
        let metrics = Arc::new(Metrics::default());
        let (tx, rx) = mpsc::channel(1024);
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let (consensus, frames) = match engine {
            _ if config.validators.is_empty() => (None, None),
            EngineStore::Tendermint(disk) => {
                let (handle, frames, task) = consensus::start(
                    *identity.key.to_seed(),
                    config.validators.clone(),
                    engine_config(config),
                    disk,
                    &endpoint,
                    stopped.clone(),
                )?;
                tasks.push(task);
                (Some(handle), Some(frames))
            }
            EngineStore::Raft(db) => {
                let (handle, frames, task) = consensus::start_raft(
                    identity.node_id(),
                    &config.validators,
                    db,
                    &endpoint,
                    stopped.clone(),
                )
                .await?;
                tasks.push(task);
                (Some(handle), Some(frames))
            }
        };
        let handle = NodeHandle {
            tx,
            metrics: metrics.clone(),
            node: identity.node_id(),
            token: Arc::new(identity.api_token.clone()),
            consensus,
        };
        let mut event_loop = EventLoop::new(
            core,
            store,
            endpoint,
            gossip_addr,
            metrics,
            config.gossip_push,
        );
        event_loop.consensus = frames;
        let loop_task = tokio::spawn(event_loop.run(rx, stopped.clone()));
        let router = http::router(handle.clone(), config.max_body_bytes);
        let http_task = tokio::spawn(http::serve(listener, router, stopped));
        tracing::info!(node = %identity.node_id(), %http_addr, %gossip_addr, "node started");
        Ok(Self {
            http_addr,
            gossip_addr,
            handle,
            stop,
            tasks: {
                tasks.push(loop_task);
                tasks.push(http_task);
                tasks
            },
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

/// Where the configured consensus engine keeps its state.
enum EngineStore {
    /// Tendermint's WAL and decided blocks.
    Tendermint(Box<dyn ConsensusDisk>),
    /// Raft's log and state machine, in the node database.
    Raft(Arc<NodeStore>),
}

/// The engine's settings on a LAN or loopback: short round timeouts, the
/// configured pause after a decision so blocks batch, and blocks that fit
/// in one frame.
fn engine_config(config: &NodeConfig) -> EngineConfig {
    EngineConfig {
        timeout_propose_ms: 200,
        timeout_prevote_ms: 50,
        timeout_precommit_ms: 50,
        timeout_delta_ms: 50,
        rebroadcast_ms: 200,
        commit_wait_ms: config.consensus_commit_wait_ms,
        // An idle cluster decides (and stores) nothing, unless a heartbeat
        // interval is configured.
        wait_for_txs: true,
        empty_block_interval_ms: config.consensus_empty_block_interval_ms,
        // A proposal (and a commit sent to a peer behind) must fit in one
        // 1 MiB frame of the endpoint, with room for the encoding.
        mempool: MempoolConfig {
            max_block_txs: 8_000,
            max_block_bytes: 768 << 10,
            ..MempoolConfig::default()
        },
        ..EngineConfig::default()
    }
}

/// Endpoint settings: a dial gives up after a second (peers are on a LAN
/// or loopback; a dead one must not hold sends for long).
fn net_config() -> NetConfig {
    let mut config = NetConfig::default();
    config.connect_timeout_ms = 1_000;
    config
}

/// The SWIM incarnation for this run: one above the last run's (kept in
/// the store, and stored before use), so a restarted node is not taken for
/// the member the cluster declared down or saw leave.
fn next_bump(store: &mut dyn StateStore) -> Result<u16, StoreError> {
    let bump = match store.setting(SWIM_BUMP)? {
        Some(bytes) if bytes.len() == 2 => u16::from_le_bytes([bytes[0], bytes[1]]).wrapping_add(1),
        _ => 0,
    };
    store.put_setting(SWIM_BUMP, &bump.to_le_bytes())?;
    Ok(bump)
}

/// The gossip core, under SWIM identity `(node, gossip_addr, bump)`,
/// announced to the configured join addresses.
fn gossip_node(
    config: &NodeConfig,
    identity: &NodeIdentity,
    gossip_addr: SocketAddr,
    bump: u16,
) -> Result<GossipNode, NewNodeError> {
    let gossip_config = GossipConfig {
        round_interval_ms: config.gossip_interval_ms.max(1),
        fanout: config.gossip_fanout.max(1),
        ..GossipConfig::default()
    };
    gossip_config.validate()?;
    let id = MemberId {
        node: identity.node_id(),
        addr: peer_addr(gossip_addr),
        bump,
    };
    let seed = u64::from_le_bytes(chrysalis_crypto::secret::random_array::<8>());
    let mut gossip = GossipNode::with_identity(identity.key.clone(), id, gossip_config, seed);
    gossip.start(0);
    for peer in &config.join {
        if let Err(err) = gossip.join(peer_addr(*peer), 0) {
            tracing::warn!(%peer, %err, "could not announce to a join address");
        }
    }
    Ok(gossip)
}
