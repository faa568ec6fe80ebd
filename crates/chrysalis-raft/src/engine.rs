//! One node's raft engine: openraft with the redb log and state machine
//! and the QUIC network, the cluster initialized with the configured
//! validators, and writes that reach the leader from any node.

use crate::log_store::LogStore;
use crate::network::{CallError, Hub, NetStats, RaftNet, serve};
use crate::state_machine::{Applied, StateMachineError, StateMachineStore};
use crate::types::{Batch, Block, Member, RaftNodeId, TypeConfig};
use chrysalis_consensus::StateMachine;
use chrysalis_net::{Endpoint, Incoming};
use chrysalis_store::node_store::NodeStore;
use chrysalis_types::NodeId;
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{Config, Raft, ServerState, SnapshotPolicy};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A validator: its node id and QUIC address. Its index in the list every
/// node is given is its raft node id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validator {
    /// Its node id.
    pub id: NodeId,
    /// Its QUIC address.
    pub addr: SocketAddr,
}

/// The engine's timing and log settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// How often the leader sends heartbeats.
    pub heartbeat_ms: u64,
    /// The shortest election timeout.
    pub election_min_ms: u64,
    /// The longest election timeout.
    pub election_max_ms: u64,
    /// How long a write may take, forwarding and retries included.
    pub write_timeout_ms: u64,
    /// Build a snapshot (and purge the log behind it) every this many
    /// entries; `None` keeps the whole log. A node that falls behind the
    /// purged log is sent the snapshot: its state and heights are right,
    /// but it has no block records for the heights the snapshot covers.
    pub snapshot_every: Option<u64>,
    /// Log entries kept behind a snapshot (so a briefly lagging node still
    /// catches up entry by entry).
    pub logs_kept_after_snapshot: u64,
}

impl Default for EngineConfig {
    /// Settings for a LAN or loopback.
    fn default() -> Self {
        Self {
            heartbeat_ms: 50,
            election_min_ms: 300,
            election_max_ms: 600,
            write_timeout_ms: 5_000,
            snapshot_every: None,
            logs_kept_after_snapshot: 1000,
        }
    }
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// This node is not among the validators.
    #[error("node {0} is not a configured validator")]
    NotAValidator(NodeId),
    /// Two validators share a node id.
    #[error("validator {0} is listed twice")]
    Duplicate(NodeId),
    /// openraft refused the settings.
    #[error("invalid raft settings: {0}")]
    Config(#[source] Box<openraft::ConfigError>),
    /// The stored state machine could not be loaded.
    #[error(transparent)]
    StateMachine(#[from] StateMachineError),
    /// openraft failed to start or initialize.
    #[error("raft failed to start: {0}")]
    Raft(#[source] Box<openraft::error::Fatal<RaftNodeId>>),
    /// Initializing the membership failed.
    #[error("could not initialize the raft membership: {0}")]
    Initialize(#[source] Box<InitializeError<RaftNodeId, Member>>),
}

/// Why a write was not committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// No leader committed it in time (an election, or a quorum down).
    #[error("no leader committed the batch within {timeout_ms} ms")]
    NoLeader {
        /// The limit.
        timeout_ms: u64,
    },
    /// The leader was asked but did not answer in time: the batch may or
    /// may not be committed.
    #[error("the leader did not answer: {0}")]
    Unanswered(#[source] CallError),
    /// The engine stopped.
    #[error("raft has stopped")]
    Stopped,
    /// An empty batch, or a transaction that is empty.
    #[error("a batch and each of its transactions must be non-empty")]
    Empty,
}

/// The raft role of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Leads the current term.
    Leader,
    /// Follows a leader.
    Follower,
    /// Asks for votes.
    Candidate,
    /// Replicates without voting.
    Learner,
    /// Stopped.
    Shutdown,
}

impl Role {
    /// Its lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Learner => "learner",
            Role::Shutdown => "shutdown",
        }
    }
}

/// Where this node's raft stands.
#[derive(Debug, Clone)]
pub struct EngineStatus {
    /// The current term.
    pub term: u64,
    /// This node's role.
    pub role: Role,
    /// The leader it knows, if any.
    pub leader: Option<RaftNodeId>,
    /// The last log index.
    pub last_log_index: Option<u64>,
    /// The last applied log index.
    pub last_applied: Option<u64>,
}

/// A running raft engine over a [`StateMachine`].
pub struct RaftEngine<M> {
    raft: Raft<TypeConfig>,
    hub: Arc<Hub>,
    machine: StateMachineStore<M>,
    me: RaftNodeId,
    config: EngineConfig,
    serve: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl<M> std::fmt::Debug for RaftEngine<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftEngine")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

fn raft_config(config: &EngineConfig) -> Result<Config, StartError> {
    let raft = Config {
        cluster_name: "chrysalis".to_owned(),
        heartbeat_interval: config.heartbeat_ms,
        election_timeout_min: config.election_min_ms,
        election_timeout_max: config.election_max_ms,
        snapshot_policy: match config.snapshot_every {
            Some(n) => SnapshotPolicy::LogsSinceLast(n),
            None => SnapshotPolicy::Never,
        },
        // A snapshot chunk travels as a JSON list of numbers (up to four
        // bytes per byte): 64 KiB stays well inside one 1 MiB frame.
        snapshot_max_chunk_size: 64 * 1024,
        max_payload_entries: 256,
        max_in_snapshot_log_to_keep: config.logs_kept_after_snapshot,
        ..Config::default()
    };
    raft.validate().map_err(|e| StartError::Config(Box::new(e)))
}

impl<M> RaftEngine<M>
where
    M: StateMachine + Send + Sync + 'static,
    M::Error: Send + Sync + 'static,
{
    /// Starts raft for node `me` among `validators` (the same list, in the
    /// same order, on every node), with its log and state in `store`,
    /// talking over `endpoint` and reading the consensus frames the node
    /// receives from `inbox`. A node whose log is empty initializes the
    /// cluster with the validators as voters (every node may: the first
    /// membership is the same everywhere); a restarted node does not.
    pub async fn start(
        me: NodeId,
        validators: &[Validator],
        store: Arc<NodeStore>,
        machine: M,
        endpoint: Endpoint,
        inbox: mpsc::Receiver<Incoming>,
        config: EngineConfig,
    ) -> Result<Self, StartError> {
        for (i, v) in validators.iter().enumerate() {
            if validators[..i].iter().any(|w| w.id == v.id) {
                return Err(StartError::Duplicate(v.id));
            }
        }
        let index = validators
            .iter()
            .position(|v| v.id == me)
            .ok_or(StartError::NotAValidator(me))? as RaftNodeId;
        let settings = Arc::new(raft_config(&config)?);
        let hub = Hub::new(
            endpoint,
            validators.iter().map(|v| (v.id, v.addr)).collect(),
        );
        let log = LogStore::new(store.clone());
        let sm = StateMachineStore::open(store, machine)?;
        let net = RaftNet::new(hub.clone());
        let fatal = |e| StartError::Raft(Box::new(e));
        let raft = Raft::new(index, settings, net, log, sm.clone())
            .await
            .map_err(fatal)?;
        let serve = tokio::spawn(serve(hub.clone(), raft.clone(), inbox));
        if !raft.is_initialized().await.map_err(fatal)? {
            let members: BTreeMap<RaftNodeId, Member> = validators
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let member = Member {
                        node_id: v.id.to_string(),
                        addr: v.addr,
                    };
                    (i as RaftNodeId, member)
                })
                .collect();
            match raft.initialize(members).await {
                // Another node's vote or entries got here first.
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(RaftError::APIError(e)) => return Err(StartError::Initialize(Box::new(e))),
                Err(RaftError::Fatal(f)) => return Err(fatal(f)),
            }
        }
        Ok(Self {
            raft,
            hub,
            machine: sm,
            me: index,
            config,
            serve: std::sync::Mutex::new(Some(serve)),
        })
    }

    /// This node's raft node id (its validator index).
    pub fn me(&self) -> RaftNodeId {
        self.me
    }

    /// openraft itself (metrics, triggers).
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }

    /// The network's counters.
    pub fn net_stats(&self) -> &NetStats {
        self.hub.stats()
    }

    /// The applied state (locked while the guard lives: keep it short).
    pub fn applied(&self) -> MutexGuard<'_, Applied<M>> {
        self.machine.applied()
    }

    /// The last applied block's height, as it changes.
    pub fn height(&self) -> watch::Receiver<u64> {
        self.machine.height()
    }

    /// Up to `limit` applied blocks from height `from` on.
    pub fn blocks(&self, from: u64, limit: usize) -> Result<Vec<Block>, StateMachineError> {
        self.machine.blocks(from, limit)
    }

    /// Where this node's raft stands.
    pub fn status(&self) -> EngineStatus {
        let m = self.raft.metrics().borrow().clone();
        let role = match m.state {
            ServerState::Leader => Role::Leader,
            ServerState::Follower => Role::Follower,
            ServerState::Candidate => Role::Candidate,
            ServerState::Learner => Role::Learner,
            ServerState::Shutdown => Role::Shutdown,
        };
        EngineStatus {
            term: m.current_term,
            role,
            leader: m.current_leader,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
        }
    }

    /// Commits `txs` as one log entry, through the leader wherever it is
    /// (a follower forwards to it; during an election the write waits for
    /// the new leader). Returns the batch's block height once it is
    /// committed. A write the leader was sent but did not answer is
    /// [`WriteError::Unanswered`]: it may have been committed.
    pub async fn write(&self, txs: Vec<Vec<u8>>) -> Result<u64, WriteError> {
        if txs.is_empty() || txs.iter().any(Vec::is_empty) {
            return Err(WriteError::Empty);
        }
        let timeout_ms = self.config.write_timeout_ms;
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        loop {
            let leader = match self.raft.client_write(Batch(txs.clone())).await {
                Ok(done) => return Ok(done.data),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => f.leader_id,
                Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(_))) => None,
                Err(RaftError::Fatal(_)) => return Err(WriteError::Stopped),
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(leader) = leader.filter(|l| *l != self.me && !left.is_zero()) {
                match self
                    .hub
                    .forward_write(leader, Batch(txs.clone()), left)
                    .await
                {
                    Ok(Ok(height)) => return Ok(height),
                    // It lost leadership meanwhile: ask again.
                    Ok(Err(_)) => {}
                    Err(err @ CallError::Timeout { .. }) => {
                        return Err(WriteError::Unanswered(err));
                    }
                    // Not sent: safe to retry.
                    Err(_) => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(WriteError::NoLeader { timeout_ms });
            }
            tokio::time::sleep(Duration::from_millis(self.config.heartbeat_ms)).await;
        }
    }

    /// Stops raft and the frame router (once; later calls do nothing).
    pub async fn shutdown(&self) {
        let serve = self
            .serve
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(serve) = serve else { return };
        if let Err(err) = self.raft.shutdown().await {
            tracing::warn!(%err, "raft did not shut down cleanly");
        }
        serve.abort();
        // The router holds the endpoint: let it go before returning.
        let _ = serve.await;
    }
}
