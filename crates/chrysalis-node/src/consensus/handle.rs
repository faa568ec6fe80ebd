//! The way into a node's consensus, whichever engine runs it: a handle
//! that sends [`Command`]s to the engine's task, and the views the HTTP API
//! shows (blocks, status).

use chrysalis_consensus::Tx;
use chrysalis_types::NodeId;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

use super::state::ConsensusMetrics;

/// The most blocks one log page returns.
pub const MAX_LOG_PAGE: usize = 1000;

/// Why a proposal was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProposeError {
    /// Consensus is off (no validators configured) or stopping.
    #[error("consensus is not running on this node")]
    Off,
}

/// One decided block, as the log API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockView {
    /// Its height.
    pub height: u64,
    /// The round it was decided in.
    pub round: u32,
    /// Its hash.
    pub hash: [u8; 32],
    /// The proposer's validator index.
    pub proposer: u16,
    /// Its transactions.
    pub txs: Vec<Vec<u8>>,
}

/// One of two conflicting messages a validator signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedView {
    /// The block it names; `None` for a nil vote.
    pub value: Option<[u8; 32]>,
    /// The signed message in its canonical encoding (a `SignedVote` or a
    /// `SignedProposal`): anyone holding the validator's key can check it.
    pub encoding: Vec<u8>,
}

/// Proof that one validator signed two conflicting messages for one
/// (height, round, step): enough to convict it without trusting this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceView {
    /// `prevote`, `precommit` or `proposal`.
    pub step: &'static str,
    /// The validator's index.
    pub validator: u16,
    /// Its node id.
    pub node: Option<NodeId>,
    /// The height.
    pub height: u64,
    /// The round.
    pub round: u32,
    /// The message seen first.
    pub first: SignedView,
    /// The conflicting message seen later.
    pub second: SignedView,
}

/// Where consensus stands.
#[derive(Debug, Clone)]
pub struct ConsensusStatus {
    /// The engine: `tendermint` (Byzantine-tolerant) or `raft`
    /// (crash-tolerant).
    pub engine: &'static str,
    /// The height being decided.
    pub height: u64,
    /// Its round.
    pub round: u32,
    /// The step (propose, prevote, precommit).
    pub step: String,
    /// The validators' node ids, in index order.
    pub validators: Vec<NodeId>,
    /// This node's index, if it is a validator.
    pub me: Option<u16>,
    /// The last decided block.
    pub last_decision: Option<BlockView>,
    /// Double-sign evidence records gathered.
    pub evidence: usize,
    /// Transactions waiting in the mempool.
    pub mempool: usize,
    /// Transactions applied to the state machine.
    pub applied_txs: u64,
    /// The state machine's head.
    pub state_head: [u8; 32],
}

/// What a handle asks of the engine task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Admit transactions: answers (accepted, refused).
    Propose(Vec<Tx>, oneshot::Sender<(usize, usize)>),
    /// Up to `limit` decided blocks from a height on.
    Log(u64, usize, oneshot::Sender<Vec<BlockView>>),
    /// Where consensus stands.
    Status(oneshot::Sender<ConsensusStatus>),
    /// Double-signing evidence gathered here (an engine without Byzantine
    /// accountability answers an empty list).
    Evidence(oneshot::Sender<Vec<EvidenceView>>),
}

/// The way into the consensus task: cheap to clone.
#[derive(Debug, Clone)]
pub struct ConsensusHandle {
    tx: mpsc::Sender<Command>,
    metrics: Arc<ConsensusMetrics>,
    applied: watch::Receiver<u64>,
    decided: watch::Receiver<u64>,
}

impl ConsensusHandle {
    /// A handle on an engine task reading `tx`, publishing the count of
    /// applied transactions and the last decided height.
    pub(crate) fn new(
        tx: mpsc::Sender<Command>,
        metrics: Arc<ConsensusMetrics>,
        applied: watch::Receiver<u64>,
        decided: watch::Receiver<u64>,
    ) -> Self {
        Self {
            tx,
            metrics,
            applied,
            decided,
        }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ProposeError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| ProposeError::Off)?;
        rx.await.map_err(|_| ProposeError::Off)
    }

    /// Submits transactions: (accepted, refused). Under Tendermint
    /// "accepted" means durable in this node's pending set and admitted to
    /// the mempool (refused: duplicate, empty, oversized or over the
    /// pool's bound); under raft it means committed.
    pub async fn propose(&self, txs: Vec<Vec<u8>>) -> Result<(usize, usize), ProposeError> {
        let txs = txs.into_iter().map(Tx).collect();
        self.ask(|r| Command::Propose(txs, r)).await
    }

    /// Up to `limit` decided blocks from height `from` on.
    pub async fn log(&self, from: u64, limit: usize) -> Result<Vec<BlockView>, ProposeError> {
        self.ask(|r| Command::Log(from, limit.min(MAX_LOG_PAGE), r))
            .await
    }

    /// Where consensus stands.
    pub async fn status(&self) -> Result<ConsensusStatus, ProposeError> {
        self.ask(Command::Status).await
    }

    /// The double-signing evidence gathered here.
    pub async fn evidence(&self) -> Result<Vec<EvidenceView>, ProposeError> {
        self.ask(Command::Evidence).await
    }

    /// Waits until at least `count` transactions have been applied here
    /// (since this node's log began); false if consensus stopped first.
    pub async fn wait_applied(&self, count: u64) -> bool {
        let mut applied = self.applied.clone();
        applied.wait_for(|n| *n >= count).await.is_ok()
    }

    /// Waits until height `height` is decided here; false if consensus
    /// stopped first.
    pub async fn wait_decided(&self, height: u64) -> bool {
        let mut decided = self.decided.clone();
        decided.wait_for(|h| *h >= height).await.is_ok()
    }

    /// The last height decided here.
    pub fn decided(&self) -> u64 {
        *self.decided.borrow()
    }

    /// Transactions applied here so far.
    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// The counters.
    pub fn metrics(&self) -> &ConsensusMetrics {
        &self.metrics
    }
}
