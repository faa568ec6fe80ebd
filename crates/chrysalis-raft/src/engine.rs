//! One node's raft engine: openraft with the redb log and state machine
//! and the QUIC network, the cluster initialized with the configured
//! validators, and writes that reach the leader from any node.
//!
//! Every write carries a [`WriteId`] (this node's index, the session of
//! this run, a sequence number) that its retries reuse: the state machine
//! applies the first committed copy only, so a write is applied exactly
//! once however often it was appended.

use crate::log_store::LogStore;
use crate::network::{CallError, Hub, NetStats, RaftNet, serve};
use crate::session::{Outcome, WriteId};
use crate::state_machine::{Applied, StateMachineError, StateMachineStore};
use crate::types::{Batch, Block, Member, RaftNodeId, TypeConfig, decode, encode};
use chrysalis_consensus::StateMachine;
use chrysalis_net::{Endpoint, Incoming};
use chrysalis_store::node_store::NodeStore;
use chrysalis_types::NodeId;
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{Config, Raft, ServerState, SnapshotPolicy};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, SystemTime};
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
    /// The stored session number could not be read or its successor
    /// stored.
    #[error("could not open a new write session: {0}")]
    Session(#[source] StateMachineError),
}

/// Why a write was not committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// No leader committed it in time (an election, or a quorum down). It
    /// may still commit: at most once, under its write id.
    #[error("no leader committed the batch within {timeout_ms} ms")]
    NoLeader {
        /// The limit.
        timeout_ms: u64,
    },
    /// The leader was asked but did not answer before the write's time
    /// ran out: the batch may or may not be committed (at most once).
    #[error("the leader did not answer: {0}")]
    Unanswered(#[source] CallError),
    /// The state machine refused the write as older than what its session
    /// remembers: it was not applied by this copy, and may or may not
    /// have been by an earlier one.
    #[error("write {0} is older than its session's window")]
    Stale(WriteId),
    /// A write id not issued by this engine's [`RaftEngine::next_write_id`]
    /// (another node's, another run's, or one not yet handed out).
    #[error("write {0} was not issued by this node's session")]
    ForeignId(WriteId),
    /// The engine stopped.
    #[error("raft has stopped")]
    Stopped,
    /// An empty batch, or a transaction that is empty.
    #[error("a batch and each of its transactions must be non-empty")]
    Empty,
}

/// A committed write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Applied as the block of this height.
    Block(u64),
    /// An earlier copy was applied (a retry committed twice): as the block
    /// of this height, if the session table still remembers it.
    AlreadyApplied(Option<u64>),
}

impl Written {
    /// The block height the write was applied as, if known.
    pub fn height(self) -> Option<u64> {
        match self {
            Written::Block(h) => Some(h),
            Written::AlreadyApplied(h) => h,
        }
    }
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
    session: u64,
    next_seq: AtomicU64,
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

const SESSION: &str = "session";

/// Opens this run's write session: one above the stored number (and not
/// below the wall clock in milliseconds, so that a node whose database was
/// wiped still does not reuse a number its earlier runs wrote under), and
/// stores it, flushed, before any write uses it.
fn next_session(store: &NodeStore) -> Result<u64, StartError> {
    let failed = |e: StateMachineError| StartError::Session(e);
    let stored: u64 = match store.raft_meta(SESSION).map_err(|e| failed(e.into()))? {
        Some(bytes) => decode("session", &bytes).map_err(|e| failed(e.into()))?,
        None => 0,
    };
    let clock_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let session = stored.saturating_add(1).max(clock_ms);
    store
        .put_raft_meta(SESSION, &encode(&session))
        .map_err(|e| failed(e.into()))?;
    Ok(session)
}

/// The writer's answer for the state machine's reply to write `id`.
fn written(id: WriteId, outcome: Outcome) -> Result<Written, WriteError> {
    match outcome {
        Outcome::Applied { height } => Ok(Written::Block(height)),
        Outcome::Duplicate { height } => Ok(Written::AlreadyApplied(height)),
        Outcome::Stale => Err(WriteError::Stale(id)),
    }
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
        let session = next_session(&store)?;
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
            session,
            next_seq: AtomicU64::new(1),
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

    /// This run's write session.
    pub fn session(&self) -> u64 {
        self.session
    }

    /// A new write id of this node's session (for [`Self::write_as`]).
    pub fn next_write_id(&self) -> WriteId {
        WriteId {
            origin: self.me,
            session: self.session,
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Commits `txs` as one log entry under a new write id: see
    /// [`Self::write_as`].
    pub async fn write(&self, txs: Vec<Vec<u8>>) -> Result<Written, WriteError> {
        self.write_as(self.next_write_id(), txs).await
    }

    /// Commits `txs` as one log entry with write id `id`, through the
    /// leader wherever it is (a follower forwards to it; during an election
    /// the write waits for the new leader), and returns once it is applied.
    /// Every retry inside carries `id`, and so may a caller's own retry of
    /// the same write: only the first committed copy is applied, a later
    /// one answers [`Written::AlreadyApplied`].
    pub async fn write_as(&self, id: WriteId, txs: Vec<Vec<u8>>) -> Result<Written, WriteError> {
        if txs.is_empty() || txs.iter().any(Vec::is_empty) {
            return Err(WriteError::Empty);
        }
        let issued = id.seq > 0 && id.seq < self.next_seq.load(Ordering::Relaxed);
        if id.origin != self.me || id.session != self.session || !issued {
            return Err(WriteError::ForeignId(id));
        }
        let batch = Batch { id: Some(id), txs };
        let timeout_ms = self.config.write_timeout_ms;
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        // One forwarded attempt waits this long before it is sent again.
        let attempt = Duration::from_millis(self.config.election_max_ms.saturating_mul(2));
        loop {
            let leader = match self.raft.client_write(batch.clone()).await {
                Ok(done) => return written(id, done.data),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => f.leader_id,
                Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(_))) => None,
                Err(RaftError::Fatal(_)) => return Err(WriteError::Stopped),
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(leader) = leader.filter(|l| *l != self.me && !left.is_zero()) {
                let limit = left.min(attempt);
                match self.hub.forward_write(leader, batch.clone(), limit).await {
                    Ok(Ok(outcome)) => return written(id, outcome),
                    // It lost leadership meanwhile: ask again.
                    Ok(Err(_)) => {}
                    Err(err @ CallError::Timeout { .. }) if Instant::now() >= deadline => {
                        return Err(WriteError::Unanswered(err));
                    }
                    // Unsent, or unanswered (a leader that died): the
                    // retry carries the same id, so it is applied at most
                    // once.
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
