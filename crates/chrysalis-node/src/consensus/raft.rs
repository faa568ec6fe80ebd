//! The crash-fault-tolerant engine behind the same [`ConsensusHandle`]:
//! `chrysalis-raft` (openraft) with its log and state machine in the
//! node's database, serving the same commands as the Tendermint driver.
//!
//! - A proposal is acknowledged once its batch is **committed** (a
//!   majority stored it), which is stronger than Tendermint's mempool
//!   acknowledgement. A follower forwards to the leader. Proposals that
//!   arrive while writes are in flight are packed into one log entry
//!   (group commit), up to [`MAX_BATCH_BYTES`]; a proposal not committed
//!   in time is answered as refused (it may still be committed, once).
//! - Each log entry is written under a write id of this node's session
//!   (`chrysalis_raft::WriteId`) that the engine's retries reuse, so an
//!   acknowledged transaction is applied exactly once, across leader
//!   changes and lost answers; a copy committed twice is no block. A
//!   client that proposes the same transaction again makes a new write.
//! - Blocks are the application entries, numbered 1, 2, 3… in log order:
//!   the blank entry a new leader writes and membership entries are not
//!   blocks, so heights have no gaps. A block's round is the entry's term,
//!   its proposer the leader that created it, its hash BLAKE3 of the stored
//!   entry.
//! - The state machine is the same [`TxChain`]: equal `state_head`s mean
//!   the same transactions in the same order, under either engine.

use super::handle::{BlockView, Command, ConsensusHandle, ConsensusStatus};
use super::state::ConsensusMetrics;
use crate::config::ValidatorAddr;
use chrysalis_consensus::Tx;
use chrysalis_consensus::TxChain;
use chrysalis_net::{Endpoint, Incoming};
use chrysalis_raft::{Block, EngineConfig, RaftEngine, StartError, Validator};
use chrysalis_store::node_store::NodeStore;
use chrysalis_types::NodeId;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

/// Frames from peers queued for raft before new ones are dropped.
const INBOX: usize = 8192;
/// The largest transaction accepted (as Tendermint's mempool).
pub const MAX_TX_BYTES: usize = 64 << 10;
/// The most transaction bytes in one log entry: the entry, hex-encoded in
/// an append request, must fit in one 1 MiB frame.
pub const MAX_BATCH_BYTES: usize = 256 << 10;
/// Log entries being committed at once.
const IN_FLIGHT: usize = 4;

type Engine = RaftEngine<TxChain>;

/// A proposal waiting to be packed: its accepted txs, how many were
/// refused, and where to answer.
struct Proposal {
    txs: Vec<Vec<u8>>,
    refused: usize,
    reply: oneshot::Sender<(usize, usize)>,
}

fn view(b: Block) -> BlockView {
    let mut hash = [0; 32];
    if b.hash.len() == 32 {
        hash.copy_from_slice(&b.hash);
    }
    BlockView {
        height: b.height,
        round: u32::try_from(b.term).unwrap_or(u32::MAX),
        hash,
        proposer: u16::try_from(b.leader).unwrap_or(u16::MAX),
        txs: b.txs,
    }
}

/// Starts raft among `validators` with its state in `store`: returns the
/// handle, the queue the event loop feeds consensus frames into, and the
/// driver task (which stops raft when `stopped` turns).
pub(crate) async fn start(
    me: NodeId,
    validators: &[ValidatorAddr],
    store: Arc<NodeStore>,
    endpoint: &Endpoint,
    stopped: watch::Receiver<bool>,
) -> Result<(ConsensusHandle, mpsc::Sender<Incoming>, JoinHandle<()>), StartError> {
    let (in_tx, in_rx) = mpsc::channel(INBOX);
    let members: Vec<Validator> = validators
        .iter()
        .map(|v| Validator {
            id: v.id,
            addr: v.addr,
        })
        .collect();
    let engine = RaftEngine::start(
        me,
        &members,
        store,
        TxChain::default(),
        endpoint.clone(),
        in_rx,
        EngineConfig::default(),
    )
    .await?;
    let engine = Arc::new(engine);
    let (applied_txs, height) = {
        let applied = engine.applied();
        (applied.machine.applied_txs, applied.height)
    };
    let metrics = Arc::new(ConsensusMetrics::default());
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let (applied_tx, applied_rx) = watch::channel(applied_txs);
    let (decided_tx, decided_rx) = watch::channel(height);
    let (prop_tx, prop_rx) = mpsc::channel(4096);
    tokio::spawn(pack(engine.clone(), prop_rx, stopped.clone()));
    let driver = Driver {
        engine,
        validators: validators.iter().map(|v| v.id).collect(),
        metrics: metrics.clone(),
        applied: applied_tx,
        decided: decided_tx,
        proposals: prop_tx,
    };
    let task = tokio::spawn(driver.run(cmd_rx, stopped));
    let handle = ConsensusHandle::new(cmd_tx, metrics, applied_rx, decided_rx);
    Ok((handle, in_tx, task))
}

struct Driver {
    engine: Arc<Engine>,
    validators: Vec<NodeId>,
    metrics: Arc<ConsensusMetrics>,
    applied: watch::Sender<u64>,
    decided: watch::Sender<u64>,
    proposals: mpsc::Sender<Proposal>,
}

impl Driver {
    async fn run(self, mut cmds: mpsc::Receiver<Command>, mut stopped: watch::Receiver<bool>) {
        let mut height = self.engine.height();
        self.publish();
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                changed = height.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    self.publish();
                }
            }
        }
        self.engine.shutdown().await;
        tracing::info!("raft consensus stopped");
    }

    /// Publishes the applied state to the watchers and the counters.
    fn publish(&self) {
        let (txs, height) = {
            let applied = self.engine.applied();
            (applied.machine.applied_txs, applied.height)
        };
        let before = self.applied.send_replace(txs);
        let blocks_before = self.decided.send_replace(height);
        let m = &self.metrics;
        ConsensusMetrics::bump(&m.decisions, height.saturating_sub(blocks_before));
        ConsensusMetrics::bump(&m.txs_committed, txs.saturating_sub(before));
        self.sync_counters();
    }

    fn sync_counters(&self) {
        let m = &self.metrics;
        let status = self.engine.status();
        let net = self.engine.net_stats();
        m.height
            .store(self.engine.applied().height + 1, Ordering::Relaxed);
        m.round.store(status.term, Ordering::Relaxed);
        let copy = |to: &std::sync::atomic::AtomicU64, from: &std::sync::atomic::AtomicU64| {
            to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
        };
        copy(&m.messages_in, &net.frames_in);
        copy(&m.messages_out, &net.frames_out);
        copy(&m.bad_messages, &net.bad_frames);
        copy(&m.send_dropped, &net.failed_calls);
    }

    fn on_command(&self, cmd: Command) {
        match cmd {
            Command::Propose(txs, reply) => self.propose(txs, reply),
            Command::Log(from, limit, reply) => {
                let blocks = match self.engine.blocks(from.max(1), limit) {
                    Ok(blocks) => blocks.into_iter().map(view).collect(),
                    Err(err) => {
                        tracing::error!(%err, "could not read raft blocks");
                        Vec::new()
                    }
                };
                let _ = reply.send(blocks);
            }
            Command::Status(reply) => {
                self.sync_counters();
                let _ = reply.send(self.status());
            }
            // Raft tolerates crashes only: there is no double-signing to prove.
            Command::Evidence(reply) => {
                let _ = reply.send(Vec::new());
            }
        }
    }

    /// Refuses empty and oversized transactions, and those past
    /// [`MAX_BATCH_BYTES`] in one proposal; queues the rest for packing.
    fn propose(&self, txs: Vec<Tx>, reply: oneshot::Sender<(usize, usize)>) {
        let total = txs.len();
        let mut bytes = 0;
        let mut accepted = Vec::with_capacity(total);
        for Tx(tx) in txs {
            if tx.is_empty() || tx.len() > MAX_TX_BYTES || bytes + tx.len() > MAX_BATCH_BYTES {
                continue;
            }
            bytes += tx.len();
            accepted.push(tx);
        }
        if accepted.is_empty() {
            let _ = reply.send((0, total));
            return;
        }
        let proposal = Proposal {
            refused: total - accepted.len(),
            txs: accepted,
            reply,
        };
        if let Err(mpsc::error::TrySendError::Full(p) | mpsc::error::TrySendError::Closed(p)) =
            self.proposals.try_send(proposal)
        {
            let _ = p.reply.send((0, total));
        }
    }

    fn status(&self) -> ConsensusStatus {
        let status = self.engine.status();
        let (machine, height, last) = {
            let applied = self.engine.applied();
            (
                applied.machine.clone(),
                applied.height,
                applied.last_block.clone(),
            )
        };
        ConsensusStatus {
            engine: "raft",
            height: height + 1,
            round: u32::try_from(status.term).unwrap_or(u32::MAX),
            step: status.role.as_str().to_owned(),
            validators: self.validators.clone(),
            me: u16::try_from(self.engine.me()).ok(),
            last_decision: last.map(view),
            evidence: 0,
            mempool: 0,
            applied_txs: machine.applied_txs,
            state_head: machine.head,
        }
    }
}

/// Packs queued proposals into log entries (group commit): while up to
/// [`IN_FLIGHT`] entries are being committed, new proposals gather into
/// the next one. Each proposal is answered when its entry commits. When the
/// node stops, writes still in flight are abandoned (their callers are told
/// consensus is off), so no task outlives the node.
async fn pack(
    engine: Arc<Engine>,
    mut queue: mpsc::Receiver<Proposal>,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut writes = JoinSet::new();
    let mut next: Option<Proposal> = None;
    loop {
        while writes.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = stopped.changed() => return,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let first = match next.take() {
            Some(p) => p,
            None => tokio::select! {
                _ = stopped.changed() => return,
                p = queue.recv() => match p {
                    Some(p) => p,
                    None => return,
                },
            },
        };
        let mut bytes: usize = first.txs.iter().map(Vec::len).sum();
        let mut batch = vec![first];
        while let Ok(p) = queue.try_recv() {
            let size: usize = p.txs.iter().map(Vec::len).sum();
            if bytes + size > MAX_BATCH_BYTES {
                next = Some(p);
                break;
            }
            bytes += size;
            batch.push(p);
        }
        writes.spawn(write(engine.clone(), batch, permit));
    }
}

/// Writes one packed entry and answers each proposal in it.
async fn write(engine: Arc<Engine>, batch: Vec<Proposal>, permit: OwnedSemaphorePermit) {
    let mut txs = Vec::new();
    let mut answers = Vec::with_capacity(batch.len());
    for p in batch {
        answers.push((p.txs.len(), p.refused, p.reply));
        txs.extend(p.txs);
    }
    let committed = match engine.write(txs).await {
        // A copy already applied is committed too (once).
        Ok(_) => true,
        Err(err) => {
            tracing::warn!(%err, "raft write failed");
            false
        }
    };
    for (n, refused, reply) in answers {
        let answer = if committed {
            (n, refused)
        } else {
            (0, n + refused)
        };
        let _ = reply.send(answer);
    }
    drop(permit);
}
