//! Rebuilding an engine from its write-ahead log after a crash.

use crate::engine::{EngineConfig, EngineError, Step, Tendermint};
use crate::message::VoteKind;
use crate::types::{Height, Round};
use crate::validators::ValidatorSet;
use crate::wal::WalEntry;
use ed25519_consensus::SigningKey;

impl Tendermint {
    /// An engine resuming at `height` (one past the last decided height in
    /// the replicated log) from the WAL's `entries`. Entries of another
    /// height are ignored. Own votes, proposals and the lock are restored,
    /// so the engine re-sends rather than re-signs anything it signed before.
    pub fn recover(
        config: EngineConfig,
        set: ValidatorSet,
        key: SigningKey,
        height: Height,
        entries: &[WalEntry],
    ) -> Result<Self, EngineError> {
        let mut engine = Self::new(config, set, key, height)?;
        if entries.first() != Some(&WalEntry::Height(height)) {
            return Ok(engine);
        }
        engine.resume_from_wal = true;
        let mut top = Round(0);
        for entry in &entries[1..] {
            match entry {
                WalEntry::Height(_) => {}
                WalEntry::Locked(block) => {
                    engine.remember_block(block.clone());
                }
                WalEntry::Proposal(sp) => {
                    let round = sp.proposal.round;
                    top = top.max(round);
                    let hash = engine.remember_block(sp.proposal.block.clone());
                    engine.own_proposals.insert(round, sp.clone());
                    engine.proposals.entry(round).or_insert((sp.clone(), hash));
                }
                WalEntry::Vote(sv) => {
                    let v = sv.vote;
                    if v.height != height || Some(v.validator) != engine.me {
                        return Err(EngineError::ForeignWal {
                            validator: v.validator.0,
                            height: v.height.0,
                            expected: height.0,
                        });
                    }
                    top = top.max(v.round);
                    engine.own_votes.insert((v.round, v.kind), *sv);
                    engine.votes.add(*sv, &engine.set);
                    if let (VoteKind::Precommit, Some(hash)) = (v.kind, v.value)
                        && engine.locked.is_none_or(|(r, _)| r < v.round)
                    {
                        engine.locked = Some((v.round, hash));
                        engine.valid = Some((v.round, hash));
                    }
                }
            }
        }
        engine.round = top;
        engine.step = if engine.own_votes.contains_key(&(top, VoteKind::Precommit)) {
            Step::Precommit
        } else if engine.own_votes.contains_key(&(top, VoteKind::Prevote)) {
            Step::Prevote
        } else {
            Step::Propose
        };
        Ok(engine)
    }
}
