//! Invariants checked after every simulator step: agreement, integrity,
//! validity, and that honest validators never double-sign (across crashes).

use crate::node::{Node, tx_valid};
use chrysalis_consensus::{
    BftEngine, BlockHash, CommitCert, Height, Round, ValidatorIndex, ValidatorSet, VoteKind,
};
use chrysalis_sim::{Pid, Sim};
use std::collections::{BTreeMap, BTreeSet};

type Slot = (ValidatorIndex, Height, Round, VoteKind);

pub(crate) struct Checker {
    set: ValidatorSet,
    /// Accept a disagreement if double-sign evidence for it exists (runs
    /// with more than f faulty validators); otherwise any disagreement fails.
    pub allow_disagreement_with_evidence: bool,
    first: BTreeMap<Height, (BlockHash, CommitCert)>,
    per_pid: BTreeMap<(Pid, Height), BlockHash>,
    proposed: BTreeSet<BlockHash>,
    honest_slots: BTreeMap<Slot, Option<BlockHash>>,
    cursors: Vec<[usize; 3]>,
    pub disagreements: u32,
}

impl Checker {
    pub(crate) fn new(set: ValidatorSet, n_pids: usize) -> Self {
        Self {
            set,
            allow_disagreement_with_evidence: false,
            first: BTreeMap::new(),
            per_pid: BTreeMap::new(),
            proposed: BTreeSet::new(),
            honest_slots: BTreeMap::new(),
            cursors: vec![[0; 3]; n_pids],
            disagreements: 0,
        }
    }

    pub(crate) fn check(&mut self, sim: &Sim<Node>) -> Result<(), String> {
        for pid in sim.pids() {
            let node = sim.process(pid);
            let c = self.cursors[pid.0 as usize];
            self.proposed.extend(node.proposed[c[0]..].iter().copied());
            if node.honest() && !node.wiped {
                for sv in &node.signed_votes[c[1]..] {
                    let v = sv.vote;
                    let slot = (v.validator, v.height, v.round, v.kind);
                    if let Some(prev) = self.honest_slots.insert(slot, v.value)
                        && prev != v.value
                    {
                        return Err(format!(
                            "honest {pid} double-signed {slot:?}: {prev:?} then {:?}",
                            v.value
                        ));
                    }
                }
            }
            self.cursors[pid.0 as usize][0] = node.proposed.len();
            self.cursors[pid.0 as usize][1] = node.signed_votes.len();
        }
        for pid in sim.pids() {
            let node = sim.process(pid);
            let from = self.cursors[pid.0 as usize][2];
            self.cursors[pid.0 as usize][2] = node.decided.len();
            if !node.honest() {
                continue;
            }
            for (h, hash, block, cert) in &node.decided[from..] {
                self.check_decision(sim, pid, *h, *hash, block, cert)?;
            }
        }
        Ok(())
    }

    fn check_decision(
        &mut self,
        sim: &Sim<Node>,
        pid: Pid,
        h: Height,
        hash: BlockHash,
        block: &chrysalis_consensus::Block,
        cert: &CommitCert,
    ) -> Result<(), String> {
        // Integrity: one decision per height per process, even across restarts.
        if let Some(prev) = self.per_pid.insert((pid, h), hash)
            && prev != hash
        {
            return Err(format!("{pid} decided {h} twice: {prev:?} then {hash:?}"));
        }
        // Validity: someone proposed it, and every transaction is valid.
        if !self.proposed.contains(&hash) {
            return Err(format!(
                "{pid} decided {hash:?} at {h}, which nobody proposed"
            ));
        }
        if let Some(tx) = block.txs.iter().find(|t| !tx_valid(t)) {
            return Err(format!(
                "{pid} decided an invalid transaction {tx:?} at {h}"
            ));
        }
        // Agreement.
        match self.first.get(&h) {
            None => {
                self.first.insert(h, (hash, cert.clone()));
            }
            Some((first, _)) if *first == hash => {}
            Some((first, first_cert)) => {
                let msg = format!("disagreement at {h}: {first:?} vs {hash:?} ({pid})");
                if !self.allow_disagreement_with_evidence {
                    return Err(msg);
                }
                if !self.evidence_exists(sim, h, first_cert, cert) {
                    return Err(format!("{msg} and no double-sign evidence"));
                }
                self.disagreements += 1;
            }
        }
        Ok(())
    }

    /// Evidence of a double-sign at `h`: two certificates of one round that
    /// share a signer, a conflict some honest engine recorded, or (forensics)
    /// two conflicting signed votes among those honest nodes received.
    fn evidence_exists(&self, sim: &Sim<Node>, h: Height, a: &CommitCert, b: &CommitCert) -> bool {
        let mut seen: BTreeMap<Slot, chrysalis_consensus::SignedVote> = BTreeMap::new();
        for pid in sim.pids() {
            let node = sim.process(pid);
            if !node.honest() {
                continue;
            }
            for sv in node.received_votes.iter().filter(|v| v.vote.height == h) {
                let v = sv.vote;
                let slot = (v.validator, v.height, v.round, v.kind);
                match seen.get(&slot) {
                    Some(prev) if prev.vote.value != v.value => {
                        if prev.verify(&self.set).is_ok() && sv.verify(&self.set).is_ok() {
                            return true;
                        }
                    }
                    Some(_) => {}
                    None => {
                        seen.insert(slot, *sv);
                    }
                }
            }
        }
        if a.round == b.round {
            let signers: BTreeSet<_> = a.precommits.iter().map(|v| v.vote.validator).collect();
            if b.precommits
                .iter()
                .any(|v| signers.contains(&v.vote.validator))
            {
                return true;
            }
        }
        sim.pids().any(|pid| {
            let node = sim.process(pid);
            node.honest()
                && node.engine.as_ref().is_some_and(|e| {
                    e.evidence().iter().any(|ev| {
                        ev.is_conflict()
                            && ev.vote_a.vote.height == h
                            && ev.vote_a.verify(&self.set).is_ok()
                            && ev.vote_b.verify(&self.set).is_ok()
                    })
                })
        })
    }

    /// The highest height any honest process decided.
    pub(crate) fn max_height(sim: &Sim<Node>) -> Height {
        sim.pids()
            .map(|p| sim.process(p))
            .filter(|n| n.honest())
            .map(|n| n.height())
            .max()
            .unwrap_or_default()
    }
}

/// Replicas at the same height hold the same state machine state (the
/// replicated log applied the same blocks in the same order, including
/// after crash rebuilds from snapshots).
pub(crate) fn check_states(sim: &Sim<Node>) -> Result<(), String> {
    let mut by_height: BTreeMap<Height, (Pid, &chrysalis_consensus::TxChain)> = BTreeMap::new();
    for pid in sim.pids() {
        let node = sim.process(pid);
        if !node.honest() {
            continue;
        }
        let state = node.log.machine();
        match by_height.get(&node.height()) {
            Some((other, s)) if *s != state => {
                return Err(format!(
                    "{pid} and {other} differ in state at {}",
                    node.height()
                ));
            }
            Some(_) => {}
            None => {
                by_height.insert(node.height(), (pid, state));
            }
        }
    }
    Ok(())
}

/// Termination after stabilisation: every honest, running validator decided
/// at least `need` heights beyond `base`.
pub(crate) fn check_progress(sim: &Sim<Node>, base: Height, need: u64) -> Result<(), String> {
    for pid in sim.pids() {
        let node = sim.process(pid);
        if !node.honest() || !sim.is_up(pid) {
            continue;
        }
        if node.height().0 < base.0 + need {
            return Err(format!(
                "no progress after healing: {pid} at {} but heights up to {} were decided at the heal (+{need} needed)",
                node.height(),
                base
            ));
        }
    }
    Ok(())
}
