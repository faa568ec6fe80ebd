//! The sans-IO engine interface and the Tendermint engine's state and input
//! handling. The protocol rules themselves live in `rules.rs`.

use crate::mempool::{Mempool, MempoolConfig, MempoolError};
use crate::message::{CommitCert, Message, SignedProposal, SignedVote, VoteKind};
use crate::types::{Block, BlockHash, Height, PeerId, Round, Tx, TxKey, ValidatorIndex};
use crate::validators::ValidatorSet;
use crate::votes::{AddOutcome, Evidence, ProposalEvidence, VoteKeeper};
use crate::wal::WalEntry;
use ed25519_consensus::SigningKey;
use std::collections::{BTreeMap, BTreeSet};

/// Timeouts and bounds of the engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Wait for the round's proposal this long (round 0).
    pub timeout_propose_ms: u64,
    /// After a quorum of mixed prevotes, wait this long before precommitting nil.
    pub timeout_prevote_ms: u64,
    /// After a quorum of mixed precommits, wait this long before the next round.
    pub timeout_precommit_ms: u64,
    /// Each later round waits this much longer, so timeouts outgrow any
    /// unknown delay after the network stabilises.
    pub timeout_delta_ms: u64,
    /// Re-send this round's own messages and the height at this period, so
    /// lost messages are repaired and lagging peers catch up.
    pub rebroadcast_ms: u64,
    /// After a decision, the next proposer waits this long before proposing
    /// (Tendermint's `timeout_commit`): larger batches, fewer heights.
    pub commit_wait_ms: u64,
    /// Votes and proposals more than this many rounds ahead are ignored
    /// (bounds the memory a Byzantine validator can make us spend).
    pub max_future_rounds: u32,
    /// The most evidence records kept.
    pub max_evidence: usize,
    /// Bounds on the mempool and on block size.
    pub mempool: MempoolConfig,
    /// The application's transaction validity predicate: a block with an
    /// invalid transaction gets a nil prevote.
    pub tx_valid: fn(&Tx) -> bool,
    /// Wait for transactions before starting a height (CometBFT's
    /// `create_empty_blocks = false`): an idle cluster decides nothing and
    /// stores nothing. A height starts when this validator's mempool holds
    /// a transaction (its own clients' or forwarded by a peer) or a peer's
    /// proposal or vote for the height arrives.
    pub wait_for_txs: bool,
    /// With `wait_for_txs`, start an empty height anyway after this long
    /// idle (a heartbeat); 0: never.
    pub empty_block_interval_ms: u64,
    /// Keys of this many recently committed transactions are remembered,
    /// so a transaction forwarded again after its commit is not admitted
    /// (and committed) twice.
    pub recent_committed: usize,
}

fn any_tx(_: &Tx) -> bool {
    true
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            timeout_propose_ms: 300,
            timeout_prevote_ms: 100,
            timeout_precommit_ms: 100,
            timeout_delta_ms: 100,
            rebroadcast_ms: 250,
            commit_wait_ms: 0,
            max_future_rounds: 64,
            max_evidence: 1024,
            mempool: MempoolConfig::default(),
            tx_valid: any_tx,
            wait_for_txs: false,
            empty_block_interval_ms: 0,
            recent_committed: 10_000,
        }
    }
}

#[cfg(feature = "broken-variants")]
impl Tendermint {
    /// BROKEN: accept votes, proposals and certificates without checking
    /// their signatures.
    #[doc(hidden)]
    pub fn broken_skip_signatures(&mut self) {
        self.skip_signatures = true;
    }
}

/// Which Tendermint timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeoutKind {
    /// No proposal in time: prevote nil.
    Propose,
    /// No prevote quorum for a block in time: precommit nil.
    Prevote,
    /// No decision in time: next round.
    Precommit,
    /// Periodic re-send of own messages.
    Rebroadcast,
    /// The pause after a decision before the next height's first proposal,
    /// so the mempool fills and blocks carry larger batches.
    CommitWait,
    /// With `wait_for_txs`: the idle height starts anyway (a heartbeat).
    EmptyBlock,
}

/// A timeout the driver must deliver back after the requested delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeout {
    /// Which one.
    pub kind: TimeoutKind,
    /// The height it belongs to.
    pub height: Height,
    /// The round it belongs to.
    pub round: Round,
}

/// What goes into the engine.
#[derive(Clone, Debug)]
pub enum Input {
    /// A message from a peer.
    Message(PeerId, Message),
    /// A timeout that fired.
    Timeout(Timeout),
    /// Client transactions were admitted with [`BftEngine::submit_tx`]
    /// since the last input: forward them to the other validators
    /// ([`Message::Txs`]) and start an idle height.
    Submitted,
}

/// A decided block with its proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The block.
    pub block: Block,
    /// A quorum of precommits for it.
    pub cert: CommitCert,
}

/// What comes out of the engine, to be carried out in order.
#[derive(Clone, Debug)]
pub enum Output {
    /// Append durably before carrying out any later output.
    WalAppend(WalEntry),
    /// Send to every other validator.
    Broadcast(Message),
    /// Send to one peer.
    Send(PeerId, Message),
    /// Deliver `timeout` back after `after_ms`.
    ScheduleTimeout {
        /// The timeout.
        timeout: Timeout,
        /// The delay.
        after_ms: u64,
    },
    /// A height was decided: apply it to the replicated log.
    Decide(Decision),
    /// A peer is behind at `height`: send it the decided block and
    /// certificate of that height ([`Message::Commit`]) from the log.
    SendCommit {
        /// The peer.
        to: PeerId,
        /// The height it needs.
        height: Height,
    },
}

/// A Byzantine-fault-tolerant consensus engine in sans-IO shape: inputs in,
/// outputs out, no clock, no I/O.
pub trait BftEngine {
    /// The outputs that begin (or resume, after recovery) participation.
    fn start(&mut self) -> Vec<Output>;
    /// Handles one input.
    fn handle(&mut self, input: Input) -> Vec<Output>;
    /// Admits a client transaction to the mempool and returns its key;
    /// follow a batch of submissions with [`Input::Submitted`].
    fn submit_tx(&mut self, tx: Tx) -> Result<TxKey, MempoolError>;
    /// The height being decided now.
    fn height(&self) -> Height;
    /// Double-sign evidence gathered so far.
    fn evidence(&self) -> &[Evidence];
}

/// The Tendermint step within a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Step {
    Propose,
    Prevote,
    Precommit,
}

/// Tendermint (Buchman, Kwon, Milosevic, arXiv 1807.04938) as a sans-IO
/// state machine.
#[derive(Debug)]
pub struct Tendermint {
    pub(crate) config: EngineConfig,
    pub(crate) set: ValidatorSet,
    pub(crate) key: SigningKey,
    pub(crate) me: Option<ValidatorIndex>,
    pub(crate) height: Height,
    pub(crate) round: Round,
    pub(crate) step: Step,
    pub(crate) locked: Option<(Round, BlockHash)>,
    pub(crate) valid: Option<(Round, BlockHash)>,
    /// The first proposal seen per round, with its block's hash.
    pub(crate) proposals: BTreeMap<Round, (SignedProposal, BlockHash)>,
    /// Blocks seen at this height, with their validity.
    pub(crate) blocks: BTreeMap<BlockHash, (Block, bool)>,
    pub(crate) votes: VoteKeeper,
    pub(crate) own_votes: BTreeMap<(Round, VoteKind), SignedVote>,
    pub(crate) own_proposals: BTreeMap<Round, SignedProposal>,
    /// Rounds where a once-only rule already fired: (rule, round).
    pub(crate) fired: BTreeSet<(u8, Round)>,
    pub(crate) mempool: Mempool,
    pub(crate) evidence: Vec<Evidence>,
    pub(crate) proposal_evidence: Vec<ProposalEvidence>,
    /// Peers already answered or asked since the last rebroadcast tick.
    pub(crate) answered: BTreeSet<(PeerId, Height)>,
    pub(crate) resume_from_wal: bool,
    /// Test-only broken variant: signatures are not checked.
    pub(crate) skip_signatures: bool,
    /// Proposals and votes for the next height, replayed once we get there
    /// (peers that decided first move on before our decision arrives).
    pub(crate) future: Vec<(PeerId, Message)>,
    /// With `wait_for_txs`: the height has not started (no round timer, no
    /// proposal) because nothing waits to be decided.
    pub(crate) idle: bool,
    /// Client transactions admitted since the last [`Input::Submitted`].
    pub(crate) submitted: Vec<Tx>,
}

/// Why an engine could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The height to start at is 0; heights begin at 1.
    #[error("heights begin at 1")]
    ZeroHeight,
    /// The write-ahead log holds a vote this validator cannot have signed
    /// at this height (another validator's, or another height's): it
    /// belongs to another node or is damaged, and resuming from it could
    /// sign a conflicting vote.
    #[error(
        "the write-ahead log holds a vote by validator {validator} at height {height}, not this validator's at {expected}"
    )]
    ForeignWal {
        /// The vote's validator index.
        validator: u16,
        /// The vote's height.
        height: u64,
        /// The height being resumed.
        expected: u64,
    },
}

impl Tendermint {
    /// A validator (or, if `key` is not in `set`, an observer that follows
    /// decisions without voting) starting fresh at `height`.
    pub fn new(
        config: EngineConfig,
        set: ValidatorSet,
        key: SigningKey,
        height: Height,
    ) -> Result<Self, EngineError> {
        if height.0 == 0 {
            return Err(EngineError::ZeroHeight);
        }
        let me = set.index_of(&key.verification_key());
        let mempool = Mempool::new(config.mempool, config.recent_committed);
        Ok(Self {
            config,
            set,
            key,
            me,
            height,
            round: Round(0),
            step: Step::Propose,
            locked: None,
            valid: None,
            proposals: BTreeMap::new(),
            blocks: BTreeMap::new(),
            votes: VoteKeeper::default(),
            own_votes: BTreeMap::new(),
            own_proposals: BTreeMap::new(),
            fired: BTreeSet::new(),
            mempool,
            evidence: Vec::new(),
            proposal_evidence: Vec::new(),
            answered: BTreeSet::new(),
            resume_from_wal: false,
            skip_signatures: false,
            future: Vec::new(),
            idle: false,
            submitted: Vec::new(),
        })
    }

    /// This validator's index, if it is one.
    pub fn me(&self) -> Option<ValidatorIndex> {
        self.me
    }

    /// The current round.
    pub fn round(&self) -> Round {
        self.round
    }

    /// A one-line summary of the engine's position, for logs and debugging.
    pub fn describe(&self) -> String {
        format!(
            "{} r{} {:?} locked={:?} valid={:?} proposals={:?} own={:?}",
            self.height,
            self.round.0,
            self.step,
            self.locked.map(|l| l.0.0),
            self.valid.map(|l| l.0.0),
            self.proposals.keys().map(|r| r.0).collect::<Vec<_>>(),
            self.own_votes
                .values()
                .map(|v| (v.vote.round.0, v.vote.kind, v.vote.value.is_some()))
                .collect::<Vec<_>>(),
        )
    }

    /// The step, for status displays: `idle` (waiting for transactions),
    /// `propose`, `prevote` or `precommit`.
    pub fn step_name(&self) -> &'static str {
        match (self.idle, self.step) {
            (true, _) => "idle",
            (false, Step::Propose) => "propose",
            (false, Step::Prevote) => "prevote",
            (false, Step::Precommit) => "precommit",
        }
    }

    /// The validator set.
    pub fn validators(&self) -> &ValidatorSet {
        &self.set
    }

    /// Conflicting proposals seen from one proposer.
    pub fn proposal_evidence(&self) -> &[ProposalEvidence] {
        &self.proposal_evidence
    }

    /// Remembers transactions decided before this engine started (after a
    /// restart), oldest first, so late copies peers forward are not
    /// admitted, and committed, again.
    pub fn remember_committed(&mut self, txs: &[Tx]) {
        self.mempool.remove_committed(txs);
    }

    /// The mempool.
    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// The block's validity under the configured bounds and predicate.
    pub(crate) fn block_valid(&self, block: &Block) -> bool {
        let m = &self.config.mempool;
        block.height == self.height
            && block.txs.len() <= m.max_block_txs
            && block.payload_bytes() <= m.max_block_bytes
            && block.txs.iter().all(|tx| {
                !tx.0.is_empty() && tx.0.len() <= m.max_tx_bytes && (self.config.tx_valid)(tx)
            })
    }

    pub(crate) fn remember_block(&mut self, block: Block) -> BlockHash {
        let hash = block.hash();
        if !self.blocks.contains_key(&hash) {
            let valid = self.block_valid(&block);
            self.blocks.insert(hash, (block, valid));
        }
        hash
    }

    fn too_far_ahead(&self, round: Round) -> bool {
        round.0 > self.round.0.saturating_add(self.config.max_future_rounds)
    }

    pub(crate) fn on_message(&mut self, from: PeerId, msg: Message, out: &mut Vec<Output>) {
        if let Message::Txs(txs) = msg {
            self.on_txs(txs, out);
            return;
        }
        let h = msg.height();
        if let Message::Status(_) = msg {
            if h < self.height && self.answered.insert((from, h)) {
                out.push(Output::SendCommit {
                    to: from,
                    height: h,
                });
            }
            return;
        }
        if h < self.height {
            if self.answered.insert((from, h)) {
                out.push(Output::SendCommit {
                    to: from,
                    height: h,
                });
            }
            return;
        }
        if h > self.height {
            let cap = self.set.len().saturating_mul(8).max(64);
            let soon = h == self.height.next() && !matches!(msg, Message::Commit(..));
            if soon && self.future.len() < cap {
                self.future.push((from, msg));
            }
            if self.answered.insert((from, self.height)) {
                out.push(Output::Send(from, Message::Status(self.height)));
            }
            return;
        }
        // A peer is working on this height: join it.
        self.wake(out);
        match msg {
            Message::Proposal(p) => self.on_proposal(p, out),
            Message::Vote(v) => self.on_vote(v, out),
            Message::Commit(block, cert) => self.on_commit(block, cert, out),
            Message::Status(_) | Message::Txs(_) => {}
        }
    }

    /// Transactions a peer's clients submitted: admitted like our own
    /// (bounded, deduplicated against the pool and recent commits), never
    /// forwarded again.
    fn on_txs(&mut self, txs: Vec<Tx>, out: &mut Vec<Output>) {
        let mut added = false;
        for tx in txs {
            if (self.config.tx_valid)(&tx) {
                added |= self.mempool.add(tx).is_ok();
            }
        }
        if added {
            self.wake(out);
        }
    }

    /// Forwards the transactions submitted here since the last call, in
    /// messages of at most a block's bytes, and starts an idle height.
    fn on_submitted(&mut self, out: &mut Vec<Output>) {
        let limit = self.config.mempool.max_block_bytes.max(1);
        let mut batch = Vec::new();
        let mut bytes = 0;
        for tx in std::mem::take(&mut self.submitted) {
            if bytes + tx.0.len() > limit && !batch.is_empty() {
                out.push(Output::Broadcast(Message::Txs(std::mem::take(&mut batch))));
                bytes = 0;
            }
            bytes += tx.0.len();
            batch.push(tx);
        }
        if !batch.is_empty() {
            out.push(Output::Broadcast(Message::Txs(batch)));
        }
        if !self.mempool.is_empty() {
            self.wake(out);
        }
    }

    fn on_proposal(&mut self, sp: SignedProposal, out: &mut Vec<Output>) {
        let round = sp.proposal.round;
        if self
            .proposals
            .get(&round)
            .is_some_and(|(first, _)| *first == sp)
        {
            return;
        }
        if self.too_far_ahead(round) || !self.check(sp.verify(&self.set)) {
            return;
        }
        if let Some((first, _)) = self.proposals.get(&round) {
            if *first != sp && self.proposal_evidence.len() < self.config.max_evidence {
                self.proposal_evidence.push(ProposalEvidence {
                    proposer: sp.proposal.proposer,
                    proposal_a: first.clone(),
                    proposal_b: sp,
                });
            }
            return;
        }
        let hash = self.remember_block(sp.proposal.block.clone());
        self.proposals.insert(round, (sp, hash));
        self.evaluate(out);
    }

    fn on_vote(&mut self, sv: SignedVote, out: &mut Vec<Output>) {
        if self.votes.contains_exact(&sv) {
            return;
        }
        if self.too_far_ahead(sv.vote.round) || !self.check(sv.verify(&self.set)) {
            return;
        }
        match self.votes.add(sv, &self.set) {
            AddOutcome::Added => self.evaluate(out),
            AddOutcome::Duplicate => {}
            AddOutcome::Conflict(ev) => {
                if self.evidence.len() < self.config.max_evidence && !self.evidence.contains(&ev) {
                    self.evidence.push(*ev);
                }
                self.evaluate(out);
            }
        }
    }

    fn on_commit(&mut self, block: Block, cert: CommitCert, out: &mut Vec<Output>) {
        if block.height != self.height || block.hash() != cert.block_hash {
            return;
        }
        let checked = cert.verify_with(&self.set, !self.skip_signatures);
        if checked.is_err() {
            return;
        }
        self.decide(block, cert, out);
    }

    /// Accepts a verification result, or any result whose only fault is the
    /// signature when the (test-only, broken) configuration skips signatures.
    fn check(&self, result: Result<(), crate::message::VerifyError>) -> bool {
        match result {
            Ok(()) => true,
            Err(crate::message::VerifyError::BadSignature(_)) => self.skip_signatures,
            Err(_) => false,
        }
    }

    fn on_timeout(&mut self, t: Timeout, out: &mut Vec<Output>) {
        if t.height != self.height {
            return;
        }
        match t.kind {
            TimeoutKind::Rebroadcast => self.rebroadcast(out),
            TimeoutKind::CommitWait if self.round == Round(0) && self.step == Step::Propose => {
                self.start_height(out);
            }
            TimeoutKind::EmptyBlock => self.wake(out),
            TimeoutKind::Propose if t.round == self.round && self.step == Step::Propose => {
                self.vote(VoteKind::Prevote, None, out);
                self.enter(Step::Prevote, out);
                self.evaluate(out);
            }
            TimeoutKind::Prevote if t.round == self.round && self.step == Step::Prevote => {
                self.vote(VoteKind::Precommit, None, out);
                self.enter(Step::Precommit, out);
                self.evaluate(out);
            }
            TimeoutKind::Precommit if t.round == self.round => {
                self.start_round(self.round.next(), out);
            }
            _ => {}
        }
    }
}

impl BftEngine for Tendermint {
    fn start(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        self.begin(&mut out);
        out
    }

    fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Message(from, msg) => self.on_message(from, msg, &mut out),
            Input::Timeout(t) => self.on_timeout(t, &mut out),
            Input::Submitted => self.on_submitted(&mut out),
        }
        out
    }

    fn submit_tx(&mut self, tx: Tx) -> Result<TxKey, MempoolError> {
        if !(self.config.tx_valid)(&tx) {
            return Err(MempoolError::Invalid);
        }
        let key = self.mempool.add(tx.clone())?;
        if self.set.len() > 1 {
            self.submitted.push(tx);
        }
        Ok(key)
    }

    fn height(&self) -> Height {
        self.height
    }

    fn evidence(&self) -> &[Evidence] {
        &self.evidence
    }
}
