//! Vote bookkeeping for one height: tallies per round and step, the f+1
//! round-skip tally, and double-sign evidence.

use crate::message::{SignedProposal, SignedVote, VoteKind};
use crate::types::{BlockHash, Round, ValidatorIndex};
use crate::validators::ValidatorSet;
use std::collections::{BTreeMap, BTreeSet};

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

#[derive(Default, Debug)]
struct Tally {
    by_validator: BTreeMap<ValidatorIndex, SignedVote>,
    power_for: BTreeMap<Option<BlockHash>, u64>,
    power: u64,
}

/// The votes of one height. Votes must be verified before they are added.
#[derive(Default, Debug)]
pub(crate) struct VoteKeeper {
    tallies: BTreeMap<(Round, VoteKind), Tally>,
    /// Validators heard from per round (any step), for the f+1 round skip.
    voters: BTreeMap<Round, (BTreeSet<ValidatorIndex>, u64)>,
}

impl VoteKeeper {
    /// Counts a verified vote by a validator in `set`.
    pub(crate) fn add(&mut self, sv: SignedVote, set: &ValidatorSet) -> AddOutcome {
        let v = sv.vote;
        let power = set.get(v.validator).map_or(0, |x| x.power);
        let tally = self.tallies.entry((v.round, v.kind)).or_default();
        if let Some(prev) = tally.by_validator.get(&v.validator) {
            if prev.vote == v {
                return AddOutcome::Duplicate;
            }
            return AddOutcome::Conflict(Box::new(Evidence {
                validator: v.validator,
                vote_a: *prev,
                vote_b: sv,
            }));
        }
        tally.by_validator.insert(v.validator, sv);
        *tally.power_for.entry(v.value).or_default() += power;
        tally.power += power;
        let voters = self.voters.entry(v.round).or_default();
        if voters.0.insert(v.validator) {
            voters.1 += power;
        }
        AddOutcome::Added
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
    pub(crate) fn quorum_value(&self, round: Round, kind: VoteKind, quorum: u64) -> Option<BlockHash> {
        let t = self.tallies.get(&(round, kind))?;
        t.power_for
            .iter()
            .find(|(v, p)| v.is_some() && **p >= quorum)
            .and_then(|(v, _)| *v)
    }

    /// The power of distinct validators heard from in `round`.
    pub(crate) fn round_power(&self, round: Round) -> u64 {
        self.voters.get(&round).map_or(0, |v| v.1)
    }

    /// Rounds above `round` that someone voted in, lowest first.
    pub(crate) fn rounds_above(&self, round: Round) -> impl Iterator<Item = Round> + '_ {
        self.voters
            .range(round.next()..)
            .map(|(r, _)| *r)
            .filter(move |r| *r > round)
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
        assert_eq!(vk.power_any(Round(2), VoteKind::Prevote), 1);
        assert_eq!(vk.round_power(Round(2)), 1);
        assert_eq!(vk.rounds_above(Round(0)).collect::<Vec<_>>(), vec![Round(2)]);
        assert_eq!(vk.rounds_above(Round(2)).count(), 0);
    }
}
