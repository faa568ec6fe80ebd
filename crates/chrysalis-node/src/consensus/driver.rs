//! The consensus task: engine, timers, WAL, decided log, peer queues.

use super::disk::{ConsensusDisk, DiskError};
use super::handle::{BlockView, Command, ConsensusHandle, ConsensusStatus};
use super::state::ConsensusMetrics;
use crate::config::ValidatorAddr;
use chrysalis_consensus::TxChain;
use chrysalis_consensus::{
    BftEngine, Decision, EngineConfig, EngineError, Height, Input, Message, Output, PeerId,
    ReplicatedLog, SigningKey, Snapshot, StateMachine, Tendermint, Timeout, Tx, TxKey, Validator,
    ValidatorSet, ValidatorSetError, VerificationKey, WalEntry,
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
/// Heights between trims of the in-memory log down to [`RETAIN`] blocks.
const COMPACT_EVERY: u64 = 256;

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
    let (log, last, waiting) = recover_log(&*disk)?;
    let recent = recently_committed(&*disk, log.last_height(), config.recent_committed)?;
    let entries = disk.wal_entries()?;
    let mut engine = Tendermint::recover(config, set, key, log.last_height().next(), &entries)?;
    engine.remember_committed(&recent);
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

/// The pending transactions as the disk holds them, by key.
type Waiting = BTreeMap<TxKey, Tx>;

/// The decided log as `disk` holds it: resumed from the stored state when
/// there is one (only decisions after it are replayed), else replayed from
/// height 1 (a database from before states were stored). Returns the log,
/// the last block's view, and the pending transactions not yet decided.
fn recover_log(
    disk: &dyn ConsensusDisk,
) -> Result<(ReplicatedLog<TxChain>, Option<BlockView>, Waiting), ConsensusError> {
    let last_height = disk.last_height()?;
    let mut waiting: Waiting = disk.pending()?.into_iter().map(|t| (t.key(), t)).collect();
    let mut log = match disk.state()? {
        Some(state) if state.height <= last_height => {
            ReplicatedLog::resume(TxChain::default(), state, COMPACT_EVERY, RETAIN)
                .map_err(|_| DiskError::BadState)?
        }
        _ => ReplicatedLog::new(TxChain::default(), COMPACT_EVERY, RETAIN),
    };
    for h in log.last_height().0 + 1..=last_height.0 {
        if let Some(d) = disk.decision(Height(h))? {
            for tx in &d.block.txs {
                waiting.remove(&tx.key());
            }
            // Heights are stored in order; a gap cannot occur.
            let _ = log.commit(d);
        }
    }
    let last = disk.decision(last_height)?.map(|d| view(&d));
    Ok((log, last, waiting))
}

/// The transactions of the last decided blocks up to `height`, oldest
/// first, about `count` of them (at most 1,000 blocks back): a restarted
/// engine remembers them so late copies are not admitted again.
fn recently_committed(
    disk: &dyn ConsensusDisk,
    height: Height,
    count: usize,
) -> Result<Vec<Tx>, DiskError> {
    let mut blocks = Vec::new();
    let mut txs = 0;
    let mut h = height.0;
    while h > 0 && txs < count && blocks.len() < 1_000 {
        if let Some(d) = disk.decision(Height(h))? {
            txs += d.block.txs.len();
            blocks.push(d.block.txs);
        }
        h -= 1;
    }
    Ok(blocks.into_iter().rev().flatten().collect())
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
                    if let Ok(key) = self.engine.submit_tx(tx.clone()) {
                        accepted.push((key, tx));
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

    /// Applies the decision and stores it durably with the state after it
    /// (settling the pending transactions it carries in the same write)
    /// before anything is answered.
    fn decide(&mut self, d: Decision) -> Result<(), DiskError> {
        let settled: Vec<TxKey> = if self.pending.is_empty() {
            Vec::new()
        } else {
            d.block
                .txs
                .iter()
                .map(Tx::key)
                .filter(|key| self.pending.contains(key))
                .collect()
        };
        let height = d.block.height;
        let txs = d.block.txs.len() as u64;
        // Applied in memory first, so the state stored beside the block is
        // the one after it; nothing is answered or served until the write
        // below is durable (a failed write stops the driver).
        if let Err(err) = self.log.commit(d) {
            // The engine decides heights in order, one after the other.
            tracing::error!(%err, "decision out of order");
            return Ok(());
        }
        let state = Snapshot {
            height,
            state: self.log.machine().snapshot(),
        };
        let Some(stored) = self.log.get(height) else {
            return Ok(());
        };
        self.disk.put_decision(stored, &state, &settled)?;
        self.last = Some(view(stored));
        for key in &settled {
            self.pending.remove(key);
        }
        self.applied.send_replace(self.log.machine().applied_txs);
        self.decided.send_replace(self.log.last_height().0);
        ConsensusMetrics::bump(&self.metrics.decisions, 1);
        ConsensusMetrics::bump(&self.metrics.txs_committed, txs);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::MemDisk;
    use chrysalis_consensus::{BlockHash, CommitCert, Round, ValidatorIndex};

    fn decision(h: u64, txs: &[&[u8]]) -> Decision {
        Decision {
            block: chrysalis_consensus::Block {
                height: Height(h),
                proposer: ValidatorIndex(0),
                txs: txs.iter().map(|t| Tx(t.to_vec())).collect(),
            },
            cert: CommitCert {
                height: Height(h),
                round: Round(0),
                block_hash: BlockHash([0; 32]),
                precommits: Vec::new(),
            },
        }
    }

    /// A restart resumes from the stored state: it needs the last block,
    /// not the history before it.
    #[test]
    fn recovery_resumes_from_the_stored_state_without_the_history() {
        let mut chain = TxChain::default();
        for h in 1..=5u64 {
            chain.apply(Height(h), &[Tx(vec![h as u8])]);
        }
        let state = Snapshot {
            height: Height(5),
            state: chain.snapshot(),
        };
        let mut disk = MemDisk::default();
        let pending = Tx(b"waiting".to_vec());
        disk.add_pending(&[(pending.key(), pending.clone())])
            .unwrap();
        // Only the last block is on this disk.
        disk.put_decision(&decision(5, &[&[5]]), &state, &[])
            .unwrap();
        let (log, last, waiting) = recover_log(&disk).unwrap();
        assert_eq!(log.last_height(), Height(5));
        assert_eq!(log.machine(), &chain);
        assert_eq!(last.map(|b| b.height), Some(5));
        assert_eq!(waiting.into_values().collect::<Vec<_>>(), vec![pending]);
    }

    /// A database from before states were stored replays every block.
    #[test]
    fn recovery_without_a_stored_state_replays_the_blocks() {
        #[derive(Default)]
        struct NoState(MemDisk);
        impl ConsensusDisk for NoState {
            fn wal_append(&mut self, e: &[WalEntry]) -> Result<(), DiskError> {
                self.0.wal_append(e)
            }
            fn wal_entries(&self) -> Result<Vec<WalEntry>, DiskError> {
                self.0.wal_entries()
            }
            fn put_decision(
                &mut self,
                d: &Decision,
                s: &Snapshot,
                k: &[TxKey],
            ) -> Result<(), DiskError> {
                self.0.put_decision(d, s, k)
            }
            fn state(&self) -> Result<Option<Snapshot>, DiskError> {
                Ok(None)
            }
            fn decision(&self, h: Height) -> Result<Option<Decision>, DiskError> {
                self.0.decision(h)
            }
            fn last_height(&self) -> Result<Height, DiskError> {
                self.0.last_height()
            }
            fn add_pending(&mut self, t: &[(TxKey, Tx)]) -> Result<(), DiskError> {
                self.0.add_pending(t)
            }
            fn pending(&self) -> Result<Vec<Tx>, DiskError> {
                self.0.pending()
            }
        }
        let mut disk = NoState::default();
        let decided = Tx(b"decided".to_vec());
        disk.add_pending(&[(decided.key(), decided.clone())])
            .unwrap();
        let mut chain = TxChain::default();
        for h in 1..=3u64 {
            let byte = [h as u8];
            let txs: Vec<&[u8]> = if h == 1 {
                vec![b"decided", &byte]
            } else {
                vec![&byte]
            };
            let d = decision(h, &txs);
            chain.apply(Height(h), &d.block.txs);
            let s = Snapshot {
                height: Height(h),
                state: chain.snapshot(),
            };
            disk.put_decision(&d, &s, &[]).unwrap();
        }
        let (log, _, waiting) = recover_log(&disk).unwrap();
        assert_eq!(log.last_height(), Height(3));
        assert_eq!(log.machine(), &chain);
        // A pending transaction a replayed block carries is not pending.
        assert!(waiting.is_empty());
        let recent = recently_committed(&disk, Height(3), 10).unwrap();
        assert_eq!(recent.first(), Some(&decided));
        assert_eq!(recent.len(), 4);
    }
}
