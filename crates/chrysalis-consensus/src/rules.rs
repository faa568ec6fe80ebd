//! The Tendermint rules (arXiv 1807.04938, Algorithm 1), evaluated after
//! every input until none applies, plus rounds, votes and decisions.

use crate::engine::{Decision, Output, Step, Tendermint, Timeout, TimeoutKind};
use crate::message::{CommitCert, Message, Proposal, Vote, VoteKind};
use crate::types::{Block, BlockHash, Round};
use crate::votes::VoteKeeper;
use crate::wal::WalEntry;

/// Once-only rules, keyed with the round in `Tendermint::fired`.
const RULE_PREVOTE_TIMEOUT: u8 = 0;
const RULE_LOCK: u8 = 1;
const RULE_PRECOMMIT_TIMEOUT: u8 = 2;

impl Tendermint {
    /// Applies rules until none fires. Each rule either changes the step,
    /// round or height, or marks itself fired, so the loop ends.
    pub(crate) fn evaluate(&mut self, out: &mut Vec<Output>) {
        for _ in 0..64 {
            if !self.apply_one_rule(out) {
                return;
            }
        }
    }

    fn apply_one_rule(&mut self, out: &mut Vec<Output>) -> bool {
        let q = self.set.quorum_power();
        // Line 49: a quorum of precommits for a block we hold decides it.
        let rounds: Vec<Round> = self.votes.precommit_rounds().collect();
        for r in rounds {
            if let Some(hash) = self.votes.quorum_value(r, VoteKind::Precommit, q)
                && let Some((block, _)) = self.blocks.get(&hash)
            {
                let cert = CommitCert {
                    height: self.height,
                    round: r,
                    block_hash: hash,
                    precommits: self.votes.precommits_for(r, hash),
                };
                let block = block.clone();
                self.decide(block, cert, out);
                return true;
            }
        }
        // Line 55, generalised: f+1 validators are at a later round or
        // beyond: join the highest round they have all reached.
        if let Some(r) = self.votes.skip_target(self.set.honest_power())
            && r > self.round
        {
            self.start_round(r, out);
            return true;
        }
        if self.step == Step::Propose && self.try_prevote_proposal(out) {
            return true;
        }
        self.raise_valid(q);
        self.apply_round_rules(q, out)
    }

    /// Lines 22 and 28: prevote the round's proposal, or nil.
    fn try_prevote_proposal(&mut self, out: &mut Vec<Output>) -> bool {
        let Some((sp, hash)) = self.proposals.get(&self.round) else {
            return false;
        };
        let (hash, pol_round) = (*hash, sp.proposal.pol_round);
        let valid = self.blocks.get(&hash).is_some_and(|(_, ok)| *ok);
        let value = match pol_round {
            None => {
                let unlocked = self.locked.is_none_or(|(_, l)| l == hash);
                (valid && unlocked).then_some(hash)
            }
            Some(vr) => {
                let q = self.set.quorum_power();
                if self.votes.power_for(vr, VoteKind::Prevote, Some(hash)) < q {
                    return false;
                }
                let free = self.locked.is_none_or(|(lr, l)| lr <= vr || l == hash);
                (valid && free).then_some(hash)
            }
        };
        self.vote(VoteKind::Prevote, value, out);
        self.enter(Step::Prevote, out);
        true
    }

    /// Moves to `step`. Entering the prevote step schedules the prevote
    /// timeout at once (the paper waits for a quorum of mixed prevotes;
    /// scheduling earlier only adds a nil precommit, never unsafe, and keeps a
    /// validator that lost those prevotes from waiting forever). The precommit
    /// timeout keeps the paper's rule (a quorum of precommits first), so a
    /// validator alone at a new height does not race through rounds.
    pub(crate) fn enter(&mut self, step: Step, out: &mut Vec<Output>) {
        self.step = step;
        if step == Step::Prevote {
            self.schedule(TimeoutKind::Prevote, out);
        }
    }

    /// Line 36's `validValue` update, extended to earlier rounds: the
    /// highest-round block with a proposal and a prevote quorum becomes the
    /// block this validator re-proposes. Only what it proposes changes (peers
    /// still check the proof-of-lock), so this is safe; it lets a proposer
    /// that saw a late proof-of-lock re-propose the block others are locked on.
    fn raise_valid(&mut self, q: u64) {
        let floor = self.valid.map(|(r, _)| r);
        let best = self
            .proposals
            .range(..=self.round)
            .rev()
            .take_while(|(r, _)| floor.is_none_or(|f| **r > f))
            .find(|(r, (_, hash))| {
                self.blocks.get(hash).is_some_and(|(_, ok)| *ok)
                    && self.votes.power_for(**r, VoteKind::Prevote, Some(*hash)) >= q
            })
            .map(|(r, (_, hash))| (*r, *hash));
        if best.is_some() {
            self.valid = best;
        }
    }

    /// Lines 34, 36, 44 and 47 for the current round.
    fn apply_round_rules(&mut self, q: u64, out: &mut Vec<Output>) -> bool {
        let r = self.round;
        if self.step == Step::Prevote
            && self.votes.power_any(r, VoteKind::Prevote) >= q
            && self.fired.insert((RULE_PREVOTE_TIMEOUT, r))
        {
            self.schedule(TimeoutKind::Prevote, out);
            return true;
        }
        if self.step >= Step::Prevote
            && !self.fired.contains(&(RULE_LOCK, r))
            && let Some((_, hash)) = self.proposals.get(&r)
        {
            let hash = *hash;
            let valid = self.blocks.get(&hash).is_some_and(|(_, ok)| *ok);
            if valid && self.votes.power_for(r, VoteKind::Prevote, Some(hash)) >= q {
                self.fired.insert((RULE_LOCK, r));
                if self.step == Step::Prevote {
                    self.locked = Some((r, hash));
                    self.vote(VoteKind::Precommit, Some(hash), out);
                    self.enter(Step::Precommit, out);
                }
                self.valid = Some((r, hash));
                return true;
            }
        }
        if self.step == Step::Prevote && self.votes.power_for(r, VoteKind::Prevote, None) >= q {
            self.vote(VoteKind::Precommit, None, out);
            self.enter(Step::Precommit, out);
            return true;
        }
        if self.votes.power_any(r, VoteKind::Precommit) >= q
            && self.fired.insert((RULE_PRECOMMIT_TIMEOUT, r))
        {
            self.schedule(TimeoutKind::Precommit, out);
            return true;
        }
        false
    }

    pub(crate) fn schedule(&self, kind: TimeoutKind, out: &mut Vec<Output>) {
        let c = &self.config;
        let base = match kind {
            TimeoutKind::Propose => c.timeout_propose_ms,
            TimeoutKind::Prevote => c.timeout_prevote_ms,
            TimeoutKind::Precommit => c.timeout_precommit_ms,
            TimeoutKind::Rebroadcast => c.rebroadcast_ms,
            TimeoutKind::CommitWait => c.commit_wait_ms,
            TimeoutKind::EmptyBlock => c.empty_block_interval_ms,
        };
        let after_ms = if matches!(
            kind,
            TimeoutKind::Rebroadcast | TimeoutKind::CommitWait | TimeoutKind::EmptyBlock
        ) {
            base
        } else {
            base.saturating_add(c.timeout_delta_ms.saturating_mul(u64::from(self.round.0)))
        };
        out.push(Output::ScheduleTimeout {
            timeout: Timeout {
                kind,
                height: self.height,
                round: self.round,
            },
            after_ms,
        });
    }

    /// Signs (once per round and step, ever) and broadcasts a vote. If this
    /// validator already signed that slot, the earlier vote is re-sent
    /// instead: a restarted node never signs a conflicting vote.
    pub(crate) fn vote(&mut self, kind: VoteKind, value: Option<BlockHash>, out: &mut Vec<Output>) {
        let Some(me) = self.me else { return };
        if let Some(prev) = self.own_votes.get(&(self.round, kind)) {
            out.push(Output::Broadcast(Message::Vote(*prev)));
            return;
        }
        if let (VoteKind::Precommit, Some(hash)) = (kind, value)
            && let Some((block, _)) = self.blocks.get(&hash)
        {
            out.push(Output::WalAppend(WalEntry::Locked(block.clone())));
        }
        let sv = Vote {
            kind,
            height: self.height,
            round: self.round,
            value,
            validator: me,
        }
        .sign(&self.key);
        self.own_votes.insert((self.round, kind), sv);
        out.push(Output::WalAppend(WalEntry::Vote(sv)));
        out.push(Output::Broadcast(Message::Vote(sv)));
        self.votes.add(sv, &self.set);
    }

    /// Line 11: enter `round`; the proposer proposes its valid block or a
    /// fresh batch from the mempool.
    pub(crate) fn start_round(&mut self, round: Round, out: &mut Vec<Output>) {
        self.idle = false;
        self.round = round;
        self.step = Step::Propose;
        if self.me.is_some() && self.me == Some(self.set.proposer(self.height, round)) {
            self.propose(out);
        }
        self.schedule(TimeoutKind::Propose, out);
        self.evaluate(out);
    }

    fn propose(&mut self, out: &mut Vec<Output>) {
        let Some(me) = self.me else { return };
        let sp = match self.own_proposals.get(&self.round) {
            Some(sp) => sp.clone(),
            None => {
                let (block, pol_round) = match self
                    .valid
                    .and_then(|(r, h)| Some((r, self.blocks.get(&h)?)))
                {
                    Some((r, (block, _))) => (block.clone(), Some(r)),
                    None => (
                        Block {
                            height: self.height,
                            proposer: me,
                            txs: self.mempool.batch(),
                        },
                        None,
                    ),
                };
                let sp = Proposal {
                    height: self.height,
                    round: self.round,
                    block,
                    pol_round,
                    proposer: me,
                }
                .sign(&self.key);
                self.own_proposals.insert(self.round, sp.clone());
                out.push(Output::WalAppend(WalEntry::Proposal(sp.clone())));
                sp
            }
        };
        out.push(Output::Broadcast(Message::Proposal(sp.clone())));
        self.forward_pol(&sp, out);
        if !self.proposals.contains_key(&self.round) {
            let hash = self.remember_block(sp.proposal.block.clone());
            self.proposals.insert(self.round, (sp, hash));
        }
    }

    /// Sends the prevotes that justify a re-proposal's POL round, so peers
    /// that lost them can still accept it (line 28).
    fn forward_pol(&self, sp: &crate::message::SignedProposal, out: &mut Vec<Output>) {
        if let Some(vr) = sp.proposal.pol_round {
            let hash = sp.proposal.block.hash();
            for sv in self.votes.prevotes_for(vr, hash) {
                out.push(Output::Broadcast(Message::Vote(sv)));
            }
        }
    }

    /// Decides `block` at the current height and moves to the next.
    pub(crate) fn decide(&mut self, block: Block, cert: CommitCert, out: &mut Vec<Output>) {
        assert_eq!(
            block.height, self.height,
            "deciding a block of another height"
        );
        assert_eq!(cert.height, self.height, "certificate of another height");
        self.mempool.remove_committed(&block.txs);
        out.push(Output::Decide(Decision { block, cert }));
        self.height = self.height.next();
        self.round = Round(0);
        self.step = Step::Propose;
        self.locked = None;
        self.valid = None;
        self.proposals.clear();
        self.blocks.clear();
        self.votes = VoteKeeper::default();
        self.own_votes.clear();
        self.own_proposals.clear();
        self.fired.clear();
        self.answered.clear();
        out.push(Output::WalAppend(WalEntry::Height(self.height)));
        self.schedule(TimeoutKind::Rebroadcast, out);
        if self.config.commit_wait_ms == 0 {
            self.start_height(out);
        } else {
            // Round 0 begins when the wait ends; meanwhile peers' messages
            // for this height are still counted (and may move us on).
            self.schedule(TimeoutKind::CommitWait, out);
        }
        for (from, msg) in std::mem::take(&mut self.future) {
            self.on_message(from, msg, out);
        }
    }

    /// Starts round 0 of the current height, or, with `wait_for_txs` and
    /// nothing in the mempool, waits idle until a transaction or a peer's
    /// message for the height arrives (or the empty-block interval ends).
    pub(crate) fn start_height(&mut self, out: &mut Vec<Output>) {
        if !self.config.wait_for_txs || !self.mempool.is_empty() {
            self.start_round(Round(0), out);
            return;
        }
        self.idle = true;
        self.round = Round(0);
        if self.config.empty_block_interval_ms > 0 {
            self.schedule(TimeoutKind::EmptyBlock, out);
        }
    }

    /// Leaves the idle wait: round 0 begins.
    pub(crate) fn wake(&mut self, out: &mut Vec<Output>) {
        if self.idle {
            self.idle = false;
            self.start_round(Round(0), out);
        }
    }

    /// Re-sends this round's own messages and announces the height; clears
    /// the catch-up rate limit.
    pub(crate) fn rebroadcast(&mut self, out: &mut Vec<Output>) {
        self.answered.clear();
        self.rebroadcast_own(out);
        out.push(Output::Broadcast(Message::Status(self.height)));
        self.schedule(TimeoutKind::Rebroadcast, out);
    }

    /// Begins at the current height, or resumes the round and step the WAL
    /// recorded.
    pub(crate) fn begin(&mut self, out: &mut Vec<Output>) {
        if !self.resume_from_wal {
            out.push(Output::WalAppend(WalEntry::Height(self.height)));
        }
        self.schedule(TimeoutKind::Rebroadcast, out);
        let signed_nothing = self.own_votes.is_empty() && self.own_proposals.is_empty();
        if !self.resume_from_wal || signed_nothing {
            self.start_height(out);
            return;
        }
        // Resume: re-send what was signed in this round, then wait out the
        // step's timeout (a nil vote later never conflicts with a signed one,
        // because `vote` re-sends the signed one).
        self.rebroadcast_own(out);
        match self.step {
            Step::Propose => {
                if self.me.is_some() && self.me == Some(self.set.proposer(self.height, self.round))
                {
                    self.propose(out);
                }
                self.schedule(TimeoutKind::Propose, out);
            }
            Step::Prevote => self.schedule(TimeoutKind::Prevote, out),
            Step::Precommit => self.schedule(TimeoutKind::Precommit, out),
        }
        self.evaluate(out);
    }

    fn rebroadcast_own(&self, out: &mut Vec<Output>) {
        if let Some(sp) = self.own_proposals.get(&self.round) {
            out.push(Output::Broadcast(Message::Proposal(sp.clone())));
            self.forward_pol(sp, out);
        }
        // The previous round's votes too: a peer still there needs our
        // precommit to reach its precommit quorum and follow us.
        let rounds = [Round(self.round.0.saturating_sub(1)), self.round];
        for round in rounds.iter().take(if self.round.0 == 0 { 1 } else { 2 }) {
            for kind in [VoteKind::Prevote, VoteKind::Precommit] {
                if let Some(sv) = self.own_votes.get(&(*round, kind)) {
                    out.push(Output::Broadcast(Message::Vote(*sv)));
                }
            }
        }
    }
}
