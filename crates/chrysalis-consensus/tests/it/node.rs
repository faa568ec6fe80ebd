//! A validator node as a simulator process: the Tendermint engine, its WAL and
//! replicated log on an in-memory "disk", simulated clients, and optional
//! Byzantine behaviour. Audit records (what it signed, proposed, decided)
//! survive crashes and wipes so the checker can judge the whole run.

use chrysalis_consensus::{
    BftEngine, Block, BlockHash, CommitCert, Decision, EngineConfig, Height, Input, MemWal,
    Message, Output, PeerId, Proposal, ReplicatedLog, Round, Sig, SignedVote, SigningKey,
    Tendermint, Timeout, TimeoutKind, Tx, TxChain, ValidatorIndex, ValidatorSet, Vote, VoteKind,
    Wal,
};
use chrysalis_sim::{Ctx, Pid, Process};

/// Client transactions are tagged 0x01; anything else is invalid.
pub(crate) fn tx_valid(tx: &Tx) -> bool {
    tx.0.first() == Some(&0x01) && tx.0.len() <= 64
}

/// Misbehaviour a node may have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Byzantine {
    /// Never starts: sends nothing at all.
    pub silent: bool,
    /// As proposer, sends one block to half the peers and another to the rest.
    pub equivocate: bool,
    /// Signs a conflicting twin of every vote and sends it to half the peers.
    pub double_vote: bool,
    /// Sends votes and commits forged in other validators' names, and votes
    /// with garbage signatures.
    pub forge: bool,
    /// Re-sends old messages it received to random peers.
    pub replay: bool,
}

impl Byzantine {
    pub(crate) fn any(&self) -> bool {
        *self != Byzantine::default()
    }
}

const CLIENT_TIMER: u64 = 1 << 63;
const BYZ_TIMER: u64 = (1 << 63) | 1;

fn encode_timeout(t: Timeout) -> u64 {
    let kind = match t.kind {
        TimeoutKind::Propose => 0,
        TimeoutKind::Prevote => 1,
        TimeoutKind::Precommit => 2,
        TimeoutKind::Rebroadcast => 3,
        TimeoutKind::CommitWait => 4,
        TimeoutKind::EmptyBlock => 5,
    };
    (t.height.0 << 27) | (u64::from(t.round.0.min(0xFF_FFFF)) << 3) | kind
}

fn decode_timeout(x: u64) -> Timeout {
    let kind = match x & 7 {
        0 => TimeoutKind::Propose,
        1 => TimeoutKind::Prevote,
        2 => TimeoutKind::Precommit,
        3 => TimeoutKind::Rebroadcast,
        4 => TimeoutKind::CommitWait,
        _ => TimeoutKind::EmptyBlock,
    };
    Timeout {
        kind,
        height: Height(x >> 27),
        round: Round(((x >> 3) & 0xFF_FFFF) as u32),
    }
}

pub(crate) struct Node {
    pub validator: ValidatorIndex,
    pub byz: Byzantine,
    /// Shares its key with another process.
    pub twin: bool,
    key: SigningKey,
    /// Keys of every validator: a forger needs only the public set, but
    /// building forged blocks is easier with indices.
    set: ValidatorSet,
    config: EngineConfig,
    peers: Vec<Pid>,
    /// Durable.
    pub wal: MemWal,
    pub log: ReplicatedLog<TxChain>,
    /// Volatile.
    pub engine: Option<Tendermint>,
    client_seq: u64,
    inbox: Vec<Message>,
    /// Audit: survives crashes and wipes.
    pub signed_votes: Vec<SignedVote>,
    pub proposed: Vec<BlockHash>,
    pub decided: Vec<(Height, BlockHash, Block, CommitCert)>,
    pub wiped: bool,
    pub crashes: u32,
    /// Forensics: keep every vote received (for runs beyond f faults).
    pub forensic: bool,
    pub received_votes: Vec<SignedVote>,
    /// Run the broken engine that skips signature checks.
    pub skip_signatures: bool,
    /// Clients submit a transaction this often (0: no clients).
    pub client_period_ms: u64,
    /// Clients stop after this many transactions.
    pub client_max: u64,
}

impl Node {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        validator: ValidatorIndex,
        key: SigningKey,
        set: ValidatorSet,
        config: EngineConfig,
        pid: Pid,
        n_pids: u32,
        byz: Byzantine,
        twin: bool,
    ) -> Self {
        Self {
            validator,
            byz,
            twin,
            key,
            set,
            config,
            peers: (0..n_pids).map(Pid).filter(|p| *p != pid).collect(),
            wal: MemWal::new(),
            log: ReplicatedLog::new(TxChain::default(), 16, 4096),
            engine: None,
            client_seq: 0,
            inbox: Vec::new(),
            signed_votes: Vec::new(),
            proposed: Vec::new(),
            decided: Vec::new(),
            wiped: false,
            crashes: 0,
            forensic: false,
            received_votes: Vec::new(),
            skip_signatures: false,
            client_period_ms: 20,
            client_max: u64::MAX,
        }
    }

    /// Honest: follows the protocol with its own key alone.
    pub(crate) fn honest(&self) -> bool {
        !self.byz.any() && !self.twin
    }

    pub(crate) fn height(&self) -> Height {
        self.log.last_height()
    }

    fn drive(&mut self, outs: Vec<Output>, ctx: &mut Ctx<'_, Message>) {
        for o in outs {
            match o {
                Output::WalAppend(e) => {
                    let Ok(()) = self.wal.append(&e);
                }
                Output::Broadcast(m) => self.broadcast(m, ctx),
                Output::Send(to, m) => ctx.send(Pid(to.0), m),
                Output::ScheduleTimeout { timeout, after_ms } => {
                    ctx.set_timer(after_ms, encode_timeout(timeout))
                }
                Output::Decide(d) => self.commit(d),
                Output::SendCommit { to, height } => {
                    if let Some(d) = self.log.get(height) {
                        ctx.send(Pid(to.0), Message::Commit(d.block.clone(), d.cert.clone()));
                    }
                }
            }
        }
    }

    fn commit(&mut self, d: Decision) {
        let hash = d.block.hash();
        self.decided
            .push((d.block.height, hash, d.block.clone(), d.cert.clone()));
        self.log
            .commit(d)
            .expect("the engine decides heights in order");
    }

    fn broadcast(&mut self, m: Message, ctx: &mut Ctx<'_, Message>) {
        match &m {
            Message::Vote(sv) if sv.vote.validator == self.validator => self.signed_votes.push(*sv),
            Message::Proposal(sp) => self.proposed.push(sp.proposal.block.hash()),
            _ => {}
        }
        let split = self.peers.len() / 2;
        let alt = match &m {
            Message::Proposal(sp) if self.byz.equivocate => Some(self.equivocal_proposal(sp)),
            Message::Vote(sv) if self.byz.double_vote => Some(self.double_vote(sv)),
            _ => None,
        };
        for (i, p) in self.peers.clone().into_iter().enumerate() {
            match &alt {
                Some(a) if i >= split => ctx.send(p, a.clone()),
                _ => ctx.send(p, m.clone()),
            }
        }
        if self.byz.forge
            && let Message::Vote(sv) = &m
        {
            self.forge(sv, ctx);
        }
    }

    fn equivocal_proposal(&mut self, sp: &chrysalis_consensus::SignedProposal) -> Message {
        let mut block = sp.proposal.block.clone();
        block.txs.push(Tx(vec![0x01, 0xEE, self.client_seq as u8]));
        self.proposed.push(block.hash());
        let p = Proposal {
            block,
            ..sp.proposal.clone()
        };
        Message::Proposal(p.sign(&self.key))
    }

    fn double_vote(&mut self, sv: &SignedVote) -> Message {
        let value = match sv.vote.value {
            Some(_) => None,
            None => Some(BlockHash([0xAB; 32])),
        };
        let alt = Vote { value, ..sv.vote }.sign(&self.key);
        self.signed_votes.push(alt);
        Message::Vote(alt)
    }

    /// Forged votes in another validator's name, a garbage-signed vote, and a
    /// forged commit of an invalid block in everyone's name.
    fn forge(&mut self, sv: &SignedVote, ctx: &mut Ctx<'_, Message>) {
        let n = self.set.len() as u16;
        let victim = ValidatorIndex((self.validator.0 + 1) % n);
        let forged = Vote {
            validator: victim,
            value: Some(BlockHash([0xCD; 32])),
            ..sv.vote
        }
        .sign(&self.key);
        let garbage = SignedVote {
            vote: Vote {
                validator: victim,
                ..sv.vote
            },
            signature: Sig([ctx.rng().below(256) as u8; 64]),
        };
        let h = sv.vote.height;
        let bogus = Block {
            height: h,
            proposer: self.set.proposer(h, Round(0)),
            txs: vec![Tx(vec![0xFF, 0xFF])],
        };
        let hash = bogus.hash();
        let precommits = (0..n)
            .map(|i| {
                Vote {
                    kind: VoteKind::Precommit,
                    height: h,
                    round: Round(0),
                    value: Some(hash),
                    validator: ValidatorIndex(i),
                }
                .sign(&self.key)
            })
            .collect();
        let cert = CommitCert {
            height: h,
            round: Round(0),
            block_hash: hash,
            precommits,
        };
        for p in self.peers.clone() {
            ctx.send(p, Message::Vote(forged));
            ctx.send(p, Message::Vote(garbage));
            ctx.send(p, Message::Commit(bogus.clone(), cert.clone()));
        }
    }

    fn replay(&mut self, ctx: &mut Ctx<'_, Message>) {
        if self.inbox.is_empty() {
            return;
        }
        for _ in 0..3 {
            let m = self.inbox[ctx.rng().below(self.inbox.len() as u64) as usize].clone();
            let p = self.peers[ctx.rng().below(self.peers.len() as u64) as usize];
            ctx.send(p, m);
        }
    }

    /// One client transaction, admitted and then forwarded (as the node
    /// driver does: `submit_tx`, then `Input::Submitted`).
    fn submit_client_tx(&mut self, ctx: &mut Ctx<'_, Message>) {
        self.client_seq += 1;
        let mut tx = vec![0x01, self.validator.0 as u8, u8::from(self.twin)];
        tx.extend_from_slice(&self.client_seq.to_be_bytes());
        if let Some(e) = self.engine.as_mut() {
            let _ = e.submit_tx(Tx(tx));
            let outs = e.handle(Input::Submitted);
            self.drive(outs, ctx);
        }
    }
}

impl Process for Node {
    type Msg = Message;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Message>) {
        if self.byz.silent {
            return;
        }
        let next = self.log.last_height().next();
        let entries = self.wal.entries().unwrap_or_else(|e| match e {});
        let mut engine = Tendermint::recover(
            self.config.clone(),
            self.set.clone(),
            self.key.clone(),
            next,
            &entries,
        )
        .expect("height is at least 1");
        if self.skip_signatures {
            engine.broken_skip_signatures();
        }
        let outs = engine.start();
        self.engine = Some(engine);
        self.drive(outs, ctx);
        if self.client_period_ms > 0 {
            ctx.set_timer(self.client_period_ms, CLIENT_TIMER);
        }
        if self.byz.replay {
            ctx.set_timer(50, BYZ_TIMER);
        }
    }

    fn on_message(&mut self, from: Pid, msg: Message, ctx: &mut Ctx<'_, Message>) {
        if self.forensic
            && let Message::Vote(sv) = &msg
        {
            self.received_votes.push(*sv);
        }
        if self.byz.replay && self.inbox.len() < 256 {
            self.inbox.push(msg.clone());
        }
        let Some(engine) = self.engine.as_mut() else {
            return;
        };
        let outs = engine.handle(Input::Message(PeerId(from.0), msg));
        self.drive(outs, ctx);
    }

    fn on_timer(&mut self, timer: u64, ctx: &mut Ctx<'_, Message>) {
        match timer {
            CLIENT_TIMER if self.client_seq < self.client_max => {
                self.submit_client_tx(ctx);
                ctx.set_timer(self.client_period_ms, CLIENT_TIMER);
            }
            CLIENT_TIMER => {}
            BYZ_TIMER => {
                self.replay(ctx);
                ctx.set_timer(50, BYZ_TIMER);
            }
            t => {
                let Some(engine) = self.engine.as_mut() else {
                    return;
                };
                let outs = engine.handle(Input::Timeout(decode_timeout(t)));
                self.drive(outs, ctx);
            }
        }
    }

    fn crash(&mut self) {
        self.engine = None;
        self.crashes += 1;
        self.inbox.clear();
        self.log
            .rebuild(TxChain::default())
            .unwrap_or_else(|e| panic!("rebuild: {e}"));
    }

    fn wipe(&mut self) {
        self.crash();
        self.wiped = true;
        self.wal = MemWal::new();
        self.log = ReplicatedLog::new(TxChain::default(), 16, 4096);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_trip_through_timer_ids() {
        for kind in [
            TimeoutKind::Propose,
            TimeoutKind::Prevote,
            TimeoutKind::Precommit,
            TimeoutKind::Rebroadcast,
            TimeoutKind::CommitWait,
            TimeoutKind::EmptyBlock,
        ] {
            let t = Timeout {
                kind,
                height: Height(123_456),
                round: Round(77),
            };
            let id = encode_timeout(t);
            assert_eq!(decode_timeout(id), t);
            assert_ne!(id, CLIENT_TIMER);
            assert_ne!(id, BYZ_TIMER);
        }
    }
}
