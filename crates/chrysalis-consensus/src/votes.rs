//! Vote bookkeeping for one height: tallies per round and step, the f+1
//! round-skip tally, and double-sign evidence.

use crate::message::{SignedProposal, SignedVote, VoteKind};
use crate::types::{BlockHash, Round, ValidatorIndex};
use crate::validators::ValidatorSet;
use std::collections::BTreeMap;

/// Two conflicting votes signed by one validator for the same height, round
/// and step: proof that it double-signed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Evidence {
    /// The validator that signed both.
    pub validator: ValidatorIndex,
    /// The vote seen first.
    pub vote_a: SignedVote,
    /// The conflicting vote seen later.
    pub vote_b: SignedVote,
}

impl Evidence {
    /// True when the two votes really conflict: same signer, height, round
    /// and step, different values.
    pub fn is_conflict(&self) -> bool {
        let (a, b) = (&self.vote_a.vote, &self.vote_b.vote);
        a.validator == self.validator
            && b.validator == self.validator
            && a.height == b.height
            && a.round == b.round
            && a.kind == b.kind
            && a.value != b.value
    }
}

/// Two different proposals signed by one proposer for the same height and round.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProposalEvidence {
    /// The proposer that signed both.
    pub proposer: ValidatorIndex,
    /// The proposal seen first.
    pub proposal_a: SignedProposal,
    /// The conflicting proposal seen later.
    pub proposal_b: SignedProposal,
}

/// What adding a vote did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AddOutcome {
    /// A new vote, now counted.
    Added,
    /// The same vote again: ignored.
    Duplicate,
    /// A different vote for a slot already filled: not counted, kept as evidence.
    Conflict(Box<Evidence>),
}

/// The most votes kept per validator and slot: the first, plus conflicting
/// ones up to this bound (a Byzantine validator can sign without limit).
const MAX_VOTES_PER_SLOT: usize = 4;

#[derive(Default, Debug)]
struct Tally {
    /// Each validator's votes: the first, then any conflicting ones.
    by_validator: BTreeMap<ValidatorIndex, Vec<SignedVote>>,
    /// Power per value; an equivocator counts towards every value it signed.
    power_for: BTreeMap<Option<BlockHash>, u64>,
    /// Power of distinct validators that voted at all.
    power: u64,
}

/// The votes of one height. Votes must be verified before they are added.
///
/// A validator that signs two values in one slot is counted towards both:
/// which of its votes a node happens to see first must not decide whether a
/// quorum is visible (otherwise an equivocator can hide a proof-of-lock from
/// some nodes forever). This is safe: honest validators sign once per slot,
/// so two quorums for different values in one slot would need more than a
/// third of the power to equivocate.
#[derive(Default, Debug)]
pub(crate) struct VoteKeeper {
    tallies: BTreeMap<(Round, VoteKind), Tally>,
    /// The highest round each validator voted in, for the round skip.
    max_round_of: BTreeMap<ValidatorIndex, (Round, u64)>,
}

impl VoteKeeper {
    /// Counts a verified vote by a validator in `set`.
    pub(crate) fn add(&mut self, sv: SignedVote, set: &ValidatorSet) -> AddOutcome {
        let v = sv.vote;
        let power = set.get(v.validator).map_or(0, |x| x.power);
        let tally = self.tallies.entry((v.round, v.kind)).or_default();
        if let Some(prev) = tally.by_validator.get_mut(&v.validator) {
            if prev.iter().any(|p| p.vote == v) {
                return AddOutcome::Duplicate;
            }
            let evidence = Evidence {
                validator: v.validator,
                vote_a: prev[0],
                vote_b: sv,
            };
            if prev.len() < MAX_VOTES_PER_SLOT {
                prev.push(sv);
                *tally.power_for.entry(v.value).or_default() += power;
            }
            return AddOutcome::Conflict(Box::new(evidence));
        }
        tally.by_validator.insert(v.validator, vec![sv]);
        *tally.power_for.entry(v.value).or_default() += power;
        tally.power += power;
        let top = self
            .max_round_of
            .entry(v.validator)
            .or_insert((v.round, power));
        top.0 = top.0.max(v.round);
        AddOutcome::Added
    }

    /// True when exactly this signed vote (same signature bytes) was already
    /// counted: it was verified then, so it need not be verified again.
    pub(crate) fn contains_exact(&self, sv: &SignedVote) -> bool {
        self.tallies
            .get(&(sv.vote.round, sv.vote.kind))
            .and_then(|t| t.by_validator.get(&sv.vote.validator))
            .is_some_and(|votes| votes.contains(sv))
    }

    /// The power that voted `value` in `round` at `kind`.
    pub(crate) fn power_for(&self, round: Round, kind: VoteKind, value: Option<BlockHash>) -> u64 {
        self.tallies
            .get(&(round, kind))
            .and_then(|t| t.power_for.get(&value).copied())
            .unwrap_or(0)
    }

    /// The power that voted anything in `round` at `kind`.
    pub(crate) fn power_any(&self, round: Round, kind: VoteKind) -> u64 {
        self.tallies.get(&(round, kind)).map_or(0, |t| t.power)
    }

    /// The block (not nil) that holds at least `quorum` power in `round` at `kind`.
    pub(crate) fn quorum_value(
        &self,
        round: Round,
        kind: VoteKind,
        quorum: u64,
    ) -> Option<BlockHash> {
        let t = self.tallies.get(&(round, kind))?;
        t.power_for
            .iter()
            .find(|(v, p)| v.is_some() && **p >= quorum)
            .and_then(|(v, _)| *v)
    }

    /// The highest round `r` such that validators holding at least
    /// `honest_power` have voted in round `r` or later: at least one honest
    /// validator has reached it, so it is safe and useful to join.
    pub(crate) fn skip_target(&self, honest_power: u64) -> Option<Round> {
        let mut tops: Vec<(Round, u64)> = self.max_round_of.values().copied().collect();
        tops.sort_unstable_by_key(|t| std::cmp::Reverse(t.0));
        let mut power = 0u64;
        for (round, p) in tops {
            power = power.saturating_add(p);
            if power >= honest_power {
                return Some(round);
            }
        }
        None
    }

    /// The prevotes for `value` in `round`: a proof-of-lock to forward with
    /// a re-proposal.
    pub(crate) fn prevotes_for(&self, round: Round, value: BlockHash) -> Vec<SignedVote> {
        self.tallies
            .get(&(round, VoteKind::Prevote))
            .map(|t| {
                t.by_validator
                    .values()
                    .flatten()
                    .filter(|sv| sv.vote.value == Some(value))
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Rounds with precommits, for the decision rule.
    pub(crate) fn precommit_rounds(&self) -> impl Iterator<Item = Round> + '_ {
        self.tallies
            .keys()
            .filter(|(_, k)| *k == VoteKind::Precommit)
            .map(|(r, _)| *r)
    }

    /// The precommits for `value` in `round`: a commit certificate's votes.
    pub(crate) fn precommits_for(&self, round: Round, value: BlockHash) -> Vec<SignedVote> {
        self.tallies
            .get(&(round, VoteKind::Precommit))
            .map(|t| {
                t.by_validator
                    .values()
                    .flatten()
                    .filter(|sv| sv.vote.value == Some(value))
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Vote;
    use crate::types::Height;
    use crate::validators::Validator;
    use ed25519_consensus::SigningKey;

    fn setup() -> (Vec<SigningKey>, ValidatorSet) {
        let keys: Vec<SigningKey> = (0..4u8).map(|i| SigningKey::from([i + 1; 32])).collect();
        let set = ValidatorSet::new(
            keys.iter()
                .map(|k| Validator {
                    key: k.verification_key(),
                    power: 1,
                })
                .collect(),
        )
        .unwrap();
        (keys, set)
    }

    fn vote(keys: &[SigningKey], i: u16, round: u32, value: Option<BlockHash>) -> SignedVote {
        Vote {
            kind: VoteKind::Prevote,
            height: Height(1),
            round: Round(round),
            value,
            validator: ValidatorIndex(i),
        }
        .sign(&keys[usize::from(i)])
    }

    #[test]
    fn tallies_count_each_validator_once() {
        let (keys, set) = setup();
        let mut vk = VoteKeeper::default();
        let b = Some(BlockHash([1; 32]));
        assert_eq!(vk.add(vote(&keys, 0, 0, b), &set), AddOutcome::Added);
        assert_eq!(vk.add(vote(&keys, 0, 0, b), &set), AddOutcome::Duplicate);
        assert_eq!(vk.add(vote(&keys, 1, 0, b), &set), AddOutcome::Added);
        assert_eq!(vk.quorum_value(Round(0), VoteKind::Prevote, 3), None);
        assert_eq!(vk.add(vote(&keys, 2, 0, b), &set), AddOutcome::Added);
        assert_eq!(vk.quorum_value(Round(0), VoteKind::Prevote, 3), b);
        assert_eq!(vk.power_for(Round(0), VoteKind::Prevote, b), 3);
        assert_eq!(vk.power_any(Round(0), VoteKind::Precommit), 0);
    }

    #[test]
    fn a_conflicting_vote_is_evidence_and_not_counted() {
        let (keys, set) = setup();
        let mut vk = VoteKeeper::default();
        let first = vote(&keys, 3, 2, Some(BlockHash([1; 32])));
        let second = vote(&keys, 3, 2, None);
        assert_eq!(vk.add(first, &set), AddOutcome::Added);
        let AddOutcome::Conflict(ev) = vk.add(second, &set) else {
            panic!("expected a conflict");
        };
        assert!(ev.is_conflict());
        assert_eq!((ev.vote_a, ev.vote_b), (first, second));
        // Counted once overall, but towards both values it signed.
        assert_eq!(vk.power_any(Round(2), VoteKind::Prevote), 1);
        assert_eq!(vk.power_for(Round(2), VoteKind::Prevote, None), 1);
        assert_eq!(
            vk.power_for(Round(2), VoteKind::Prevote, Some(BlockHash([1; 32]))),
            1
        );
        assert_eq!(vk.skip_target(1), Some(Round(2)));
        assert_eq!(vk.skip_target(2), None);
        vk.add(vote(&keys, 1, 5, None), &set);
        assert_eq!(vk.skip_target(2), Some(Round(2)));
        assert_eq!(vk.skip_target(1), Some(Round(5)));
    }
}
