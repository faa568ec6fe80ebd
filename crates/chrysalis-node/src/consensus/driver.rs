//! The consensus task: engine, timers, WAL, decided log, peer queues.

use super::disk::{ConsensusDisk, DiskError, TxKey, tx_key};
use super::handle::{BlockView, Command, ConsensusHandle, ConsensusStatus};
use super::state::{ConsensusMetrics, TxChain};
use crate::config::ValidatorAddr;
use chrysalis_consensus::{
    BftEngine, Decision, EngineConfig, EngineError, Height, Input, Message, Output, PeerId,
    ReplicatedLog, SigningKey, Tendermint, Timeout, Tx, Validator, ValidatorSet, ValidatorSetError,
    VerificationKey, WalEntry,
};
use chrysalis_net::{Channel, Endpoint, Incoming};
use chrysalis_types::NodeId;
use chrysalis_types::codec::{Decode, Encode};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Duration, Instant};

/// Frames queued per peer before new ones are dropped.
const PEER_QUEUE: usize = 4096;
/// Frames from peers queued for the driver before new ones are dropped.
pub(crate) const INBOX: usize = 8192;
/// Decided blocks kept in memory (older ones are read from disk).
const RETAIN: usize = 1024;

/// Why consensus could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsensusError {
    /// A configured validator id is not an Ed25519 public key.
    #[error("validator {0} is not a valid Ed25519 public key")]
    BadValidatorKey(NodeId),
    /// The validator set is invalid (duplicates, too many).
    #[error("invalid validator set: {0}")]
    Set(#[from] ValidatorSetError),
    /// The engine refused its start.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The consensus disk failed.
    #[error(transparent)]
    Disk(#[from] DiskError),
}

fn view(d: &Decision) -> BlockView {
    BlockView {
        height: d.block.height.0,
        round: d.cert.round.0,
        hash: d.block.hash().0,
        proposer: d.block.proposer.0,
        txs: d.block.txs.iter().map(|t| t.0.clone()).collect(),
    }
}

/// The validator set of `validators` (equal power), in the given order.
fn validator_set(validators: &[ValidatorAddr]) -> Result<ValidatorSet, ConsensusError> {
    let mut set = Vec::with_capacity(validators.len());
    for v in validators {
        let key = VerificationKey::try_from(*v.id.as_bytes())
            .map_err(|_| ConsensusError::BadValidatorKey(v.id))?;
        set.push(Validator { key, power: 1 });
    }
    Ok(ValidatorSet::new(set)?)
}

/// A timeout due at `at`.
type Due = Reverse<(Instant, u64, Timeout)>;

struct Driver {
    engine: Tendermint,
    disk: Box<dyn ConsensusDisk>,
    log: ReplicatedLog<TxChain>,
    validators: Vec<ValidatorAddr>,
    peers: Vec<Option<mpsc::Sender<Vec<u8>>>>,
    timers: BinaryHeap<Due>,
    seq: u64,
    metrics: Arc<ConsensusMetrics>,
    last: Option<BlockView>,
    applied: watch::Sender<u64>,
    decided: watch::Sender<u64>,
    /// Keys of the acknowledged transactions not yet decided, as on disk:
    /// a node killed before proposing them proposes them after its restart.
    pending: BTreeSet<TxKey>,
}

/// Starts consensus: recovers the decided log and the WAL from `disk`,
/// rebuilds the engine at the next height, and spawns the driver and one
/// sender task per peer. Returns the handle, the queue the event loop
/// feeds consensus frames into, and the driver task.
pub(crate) fn start(
    key_seed: [u8; 32],
    validators: Vec<ValidatorAddr>,
    config: EngineConfig,
    disk: Box<dyn ConsensusDisk>,
    endpoint: &Endpoint,
    stopped: watch::Receiver<bool>,
) -> Result<(ConsensusHandle, mpsc::Sender<Incoming>, JoinHandle<()>), ConsensusError> {
    let set = validator_set(&validators)?;
    let key = SigningKey::from(key_seed);
    let me = NodeId::new(key.verification_key().to_bytes());
    let mut log = ReplicatedLog::new(TxChain::default(), 0, RETAIN);
    let last_height = disk.last_height()?;
    let mut last = None;
    let mut waiting: BTreeMap<TxKey, Tx> = disk
        .pending()?
        .into_iter()
        .map(|t| (tx_key(&t), t))
        .collect();
    for h in 1..=last_height.0 {
        if let Some(d) = disk.decision(Height(h))? {
            last = Some(view(&d));
            for tx in &d.block.txs {
                waiting.remove(&tx_key(tx));
            }
            // Heights are stored in order; a gap cannot occur.
            let _ = log.commit(d);
        }
    }
    let entries = disk.wal_entries()?;
    let mut engine = Tendermint::recover(config, set, key, last_height.next(), &entries)?;
    for tx in waiting.values() {
        // Refused only when the pool is full: it stays pending on disk.
        let _ = engine.submit_tx(tx.clone());
    }
    let pending = waiting.into_keys().collect();
    let peers = validators
        .iter()
        .map(|v| (v.id != me).then(|| spawn_peer(endpoint.clone(), *v)))
        .collect();
    let metrics = Arc::new(ConsensusMetrics::default());
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let (in_tx, in_rx) = mpsc::channel(INBOX);
    let (applied_tx, applied_rx) = watch::channel(log.machine().applied_txs);
    let (decided_tx, decided_rx) = watch::channel(log.last_height().0);
    let driver = Driver {
        engine,
        disk,
        log,
        validators,
        peers,
        timers: BinaryHeap::new(),
        seq: 0,
        metrics: metrics.clone(),
        last,
        applied: applied_tx,
        decided: decided_tx,
        pending,
    };
    let task = tokio::spawn(driver.run(cmd_rx, in_rx, stopped));
    let handle = ConsensusHandle::new(cmd_tx, metrics, applied_rx, decided_rx);
    Ok((handle, in_tx, task))
}

/// A task that sends one peer's frames in order.
fn spawn_peer(endpoint: Endpoint, peer: ValidatorAddr) -> mpsc::Sender<Vec<u8>> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(PEER_QUEUE);
    tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if let Err(err) = endpoint
                .send(peer.addr, Some(peer.id), Channel::CONSENSUS, &bytes)
                .await
            {
                tracing::debug!(peer = %peer.id, %err, "consensus send failed");
            }
        }
    });
    tx
}

impl Driver {
    async fn run(
        mut self,
        mut cmds: mpsc::Receiver<Command>,
        mut inbox: mpsc::Receiver<Incoming>,
        mut stopped: watch::Receiver<bool>,
    ) {
        let mut outs = self.engine.start();
        // Transactions still pending from before a restart go out again.
        outs.extend(self.engine.handle(Input::Submitted));
        if let Err(err) = self.carry_out(outs) {
            tracing::error!(%err, "consensus stopped: the disk failed");
            return;
        }
        loop {
            let next = self.timers.peek().map(|Reverse((at, _, _))| *at);
            let sleep = async move {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let outs = tokio::select! {
                _ = stopped.changed() => break,
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                frame = inbox.recv() => match frame {
                    Some(frame) => self.on_frame(&frame),
                    None => break,
                },
                () = sleep => self.on_timers(),
            };
            if let Err(err) = self.carry_out(outs) {
                // Going on without a durable WAL could sign conflicting
                // votes after a restart: stop participating instead.
                tracing::error!(%err, "consensus stopped: the disk failed");
                break;
            }
            self.metrics
                .height
                .store(self.engine.height().0, Ordering::Relaxed);
            self.metrics
                .round
                .store(u64::from(self.engine.round().0), Ordering::Relaxed);
        }
        tracing::info!("consensus stopped");
    }

    fn on_frame(&mut self, frame: &Incoming) -> Vec<Output> {
        let Some(index) = self.validators.iter().position(|v| v.id == frame.from) else {
            ConsensusMetrics::bump(&self.metrics.bad_messages, 1);
            return Vec::new();
        };
        let Ok(message) = Message::from_bytes(&frame.payload) else {
            ConsensusMetrics::bump(&self.metrics.bad_messages, 1);
            return Vec::new();
        };
        ConsensusMetrics::bump(&self.metrics.messages_in, 1);
        self.engine
            .handle(Input::Message(PeerId(index as u32), message))
    }

    fn on_timers(&mut self) -> Vec<Output> {
        let now = Instant::now();
        let mut outs = Vec::new();
        while let Some(Reverse((at, _, timeout))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            outs.extend(self.engine.handle(Input::Timeout(timeout)));
        }
        outs
    }

    fn on_command(&mut self, cmd: Command) -> Vec<Output> {
        match cmd {
            Command::Propose(txs, reply) => {
                let total = txs.len();
                let mut accepted = Vec::new();
                for tx in txs {
                    if self.engine.submit_tx(tx.clone()).is_ok() {
                        accepted.push((tx_key(&tx), tx));
                    }
                }
                // Acknowledged only once durable; unanswered if the disk fails.
                if !accepted.is_empty() && self.disk.add_pending(&accepted).is_err() {
                    tracing::error!("could not persist pending transactions");
                    return Vec::new();
                }
                self.pending.extend(accepted.iter().map(|(key, _)| *key));
                let _ = reply.send((accepted.len(), total - accepted.len()));
                // Forward them to the other validators; start an idle height.
                return self.engine.handle(Input::Submitted);
            }
            Command::Log(from, limit, reply) => {
                let _ = reply.send(self.page(from, limit));
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Evidence(reply) => {
                let _ = reply.send(super::evidence::views(&self.engine, &self.validators));
            }
        }
        Vec::new()
    }

    fn page(&self, from: u64, limit: usize) -> Vec<BlockView> {
        let mut out = Vec::new();
        let last = self.log.last_height().0;
        let mut h = from.max(1);
        while h <= last && out.len() < limit {
            match self.log.get(Height(h)) {
                Some(d) => out.push(view(d)),
                None => match self.disk.decision(Height(h)) {
                    Ok(Some(d)) => out.push(view(&d)),
                    _ => break,
                },
            }
            h += 1;
        }
        out
    }

    fn status(&self) -> ConsensusStatus {
        let step = self.engine.step_name().to_owned();
        let machine = self.log.machine();
        ConsensusStatus {
            engine: "tendermint",
            height: self.engine.height().0,
            round: self.engine.round().0,
            step,
            validators: self.validators.iter().map(|v| v.id).collect(),
            me: self.engine.me().map(|i| i.0),
            last_decision: self.last.clone(),
            evidence: self.engine.evidence().len(),
            mempool: self.engine.mempool().len(),
            applied_txs: machine.applied_txs,
            state_head: machine.head,
        }
    }

    /// Carries out `outs` in order; WAL entries are gathered and written in
    /// one durable write before the next output that is not a WAL entry.
    fn carry_out(&mut self, outs: Vec<Output>) -> Result<(), DiskError> {
        let mut wal: Vec<WalEntry> = Vec::new();
        for out in outs {
            if let Output::WalAppend(entry) = out {
                wal.push(entry);
                continue;
            }
            if !wal.is_empty() {
                self.disk.wal_append(&wal)?;
                wal.clear();
            }
            match out {
                Output::WalAppend(_) => {}
                Output::Broadcast(m) => self.broadcast(&m),
                Output::Send(to, m) => self.send(to, &m.to_bytes()),
                Output::ScheduleTimeout { timeout, after_ms } => {
                    self.seq += 1;
                    let at = Instant::now() + Duration::from_millis(after_ms);
                    self.timers.push(Reverse((at, self.seq, timeout)));
                }
                Output::Decide(d) => self.decide(d)?,
                Output::SendCommit { to, height } => {
                    let d = match self.log.get(height) {
                        Some(d) => Some(d.clone()),
                        None => self.disk.decision(height)?,
                    };
                    if let Some(d) = d {
                        self.send(to, &Message::Commit(d.block, d.cert).to_bytes());
                    }
                }
            }
        }
        if !wal.is_empty() {
            self.disk.wal_append(&wal)?;
        }
        Ok(())
    }

    fn broadcast(&mut self, m: &Message) {
        let bytes = m.to_bytes();
        for i in 0..self.peers.len() {
            self.send(PeerId(i as u32), &bytes);
        }
    }

    fn send(&mut self, to: PeerId, bytes: &[u8]) {
        let Some(Some(peer)) = self.peers.get(to.0 as usize) else {
            return;
        };
        match peer.try_send(bytes.to_vec()) {
            Ok(()) => ConsensusMetrics::bump(&self.metrics.messages_out, 1),
            Err(_) => ConsensusMetrics::bump(&self.metrics.send_dropped, 1),
        }
    }

    /// Stores the decision durably (settling the pending transactions it
    /// carries in the same write), then applies it.
    fn decide(&mut self, d: Decision) -> Result<(), DiskError> {
        let settled: Vec<TxKey> = if self.pending.is_empty() {
            Vec::new()
        } else {
            d.block
                .txs
                .iter()
                .map(tx_key)
                .filter(|key| self.pending.contains(key))
                .collect()
        };
        self.disk.put_decision(&d, &settled)?;
        for key in &settled {
            self.pending.remove(key);
        }
        let txs = d.block.txs.len() as u64;
        self.last = Some(view(&d));
        // The engine decides heights in order, one after the other.
        if let Err(err) = self.log.commit(d) {
            tracing::error!(%err, "decision out of order");
        }
        self.applied.send_replace(self.log.machine().applied_txs);
        self.decided.send_replace(self.log.last_height().0);
        ConsensusMetrics::bump(&self.metrics.decisions, 1);
        ConsensusMetrics::bump(&self.metrics.txs_committed, txs);
        Ok(())
    }
}
