//! Signed consensus messages: proposals, votes, commit certificates.
//!
//! Every signature is Ed25519 over a domain-separated message
//! (`"chrysalis/v1/consensus-vote"` or `"chrysalis/v1/consensus-proposal"`,
//! then fixed-width big-endian fields), verified with `ed25519-consensus`
//! (ZIP-215 rules: every implementation accepts exactly the same signatures).

use crate::types::{Block, BlockHash, Height, Round, Tx, ValidatorIndex};
use crate::validators::ValidatorSet;
use ed25519_consensus::{Signature, SigningKey};
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

/// The domain of vote signatures.
pub const VOTE_DOMAIN: &str = "chrysalis/v1/consensus-vote";
/// The domain of proposal signatures.
pub const PROPOSAL_DOMAIN: &str = "chrysalis/v1/consensus-proposal";

/// The two Tendermint voting steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VoteKind {
    /// First-step vote.
    Prevote,
    /// Second-step vote; a quorum of these decides.
    Precommit,
}

/// A vote: for a block (`Some(hash)`) or for nil.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vote {
    /// Prevote or precommit.
    pub kind: VoteKind,
    /// The height voted at.
    pub height: Height,
    /// The round voted in.
    pub round: Round,
    /// The block voted for, or nil.
    pub value: Option<BlockHash>,
    /// Who votes.
    pub validator: ValidatorIndex,
}

/// Wraps a signature so messages can derive `Hash`, `Eq` and `Ord`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sig(pub [u8; 64]);

impl Hash for Sig {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialOrd for Sig {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Sig {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

/// A vote with its validator's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SignedVote {
    /// What was voted.
    pub vote: Vote,
    /// The signature over [`Vote::sign_bytes`].
    pub signature: Sig,
}

/// Why a signed message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The claimed validator is not in the set.
    #[error("validator {0:?} is not in the validator set")]
    UnknownValidator(ValidatorIndex),
    /// The signature does not verify under the validator's key.
    #[error("bad signature from validator {0:?}")]
    BadSignature(ValidatorIndex),
    /// The proposal is not from the round's proposer.
    #[error("validator {got:?} is not the proposer ({expected:?})")]
    WrongProposer {
        /// The scheduled proposer.
        expected: ValidatorIndex,
        /// The signer.
        got: ValidatorIndex,
    },
    /// The proposal's block is for another height or from another proposer,
    /// or its POL round is not below its round.
    #[error("the proposal is malformed")]
    MalformedProposal,
    /// A certificate vote is for another height, round, kind or value.
    #[error("a certificate vote does not match the certificate")]
    CertificateMismatch,
    /// A validator appears twice in a certificate.
    #[error("validator {0:?} appears twice in the certificate")]
    DuplicateSigner(ValidatorIndex),
    /// The certificate's signers hold less than a quorum of power.
    #[error("the certificate holds power {got}, a quorum needs {needed}")]
    NoQuorum {
        /// The power present.
        got: u64,
        /// The quorum power.
        needed: u64,
    },
}

fn verify_sig(
    set: &ValidatorSet,
    who: ValidatorIndex,
    bytes: &[u8],
    sig: &Sig,
) -> Result<(), VerifyError> {
    let validator = set.get(who).ok_or(VerifyError::UnknownValidator(who))?;
    validator
        .key
        .verify(&Signature::from(sig.0), bytes)
        .map_err(|_| VerifyError::BadSignature(who))
}

impl Vote {
    /// The bytes signed: the domain, then kind, height, round, value.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(VOTE_DOMAIN.len() + 1 + 1 + 8 + 4 + 2 + 33);
        out.extend_from_slice(VOTE_DOMAIN.as_bytes());
        out.push(0);
        out.push(match self.kind {
            VoteKind::Prevote => 1,
            VoteKind::Precommit => 2,
        });
        out.extend_from_slice(&self.height.0.to_be_bytes());
        out.extend_from_slice(&self.round.0.to_be_bytes());
        out.extend_from_slice(&self.validator.0.to_be_bytes());
        match self.value {
            None => out.push(0),
            Some(h) => {
                out.push(1);
                out.extend_from_slice(&h.0);
            }
        }
        out
    }

    /// Signs this vote.
    pub fn sign(self, key: &SigningKey) -> SignedVote {
        SignedVote {
            vote: self,
            signature: Sig(key.sign(&self.sign_bytes()).to_bytes()),
        }
    }
}

impl SignedVote {
    /// Checks the signature against the claimed validator's key.
    pub fn verify(&self, set: &ValidatorSet) -> Result<(), VerifyError> {
        verify_sig(
            set,
            self.vote.validator,
            &self.vote.sign_bytes(),
            &self.signature,
        )
    }
}

/// A block proposed for one round, with the proof-of-lock round it
/// re-proposes from (Tendermint's `validRound`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Proposal {
    /// The height proposed at.
    pub height: Height,
    /// The round proposed in.
    pub round: Round,
    /// The proposed block.
    pub block: Block,
    /// The round where a quorum prevoted this block, if it is re-proposed.
    pub pol_round: Option<Round>,
    /// The round's proposer, who signs. A re-proposed block keeps the
    /// builder it had (`block.proposer`), so the two may differ.
    pub proposer: ValidatorIndex,
}

/// A proposal with its proposer's signature.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SignedProposal {
    /// What was proposed.
    pub proposal: Proposal,
    /// The signature over [`Proposal::sign_bytes`].
    pub signature: Sig,
}

impl Proposal {
    /// The bytes signed: the domain, then height, round, POL round, proposer, block hash.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PROPOSAL_DOMAIN.len() + 1 + 8 + 4 + 5 + 2 + 32);
        out.extend_from_slice(PROPOSAL_DOMAIN.as_bytes());
        out.push(0);
        out.extend_from_slice(&self.height.0.to_be_bytes());
        out.extend_from_slice(&self.round.0.to_be_bytes());
        match self.pol_round {
            None => out.push(0),
            Some(r) => {
                out.push(1);
                out.extend_from_slice(&r.0.to_be_bytes());
            }
        }
        out.extend_from_slice(&self.proposer.0.to_be_bytes());
        out.extend_from_slice(&self.block.hash().0);
        out
    }

    /// Signs this proposal.
    pub fn sign(self, key: &SigningKey) -> SignedProposal {
        let signature = Sig(key.sign(&self.sign_bytes()).to_bytes());
        SignedProposal {
            proposal: self,
            signature,
        }
    }
}

impl SignedProposal {
    /// Checks shape, proposer schedule and signature.
    pub fn verify(&self, set: &ValidatorSet) -> Result<(), VerifyError> {
        let p = &self.proposal;
        if p.block.height != p.height || p.pol_round.is_some_and(|r| r >= p.round) {
            return Err(VerifyError::MalformedProposal);
        }
        let expected = set.proposer(p.height, p.round);
        if p.proposer != expected {
            return Err(VerifyError::WrongProposer {
                expected,
                got: p.proposer,
            });
        }
        verify_sig(set, expected, &p.sign_bytes(), &self.signature)
    }
}

/// Proof that a block was decided: a quorum of precommits for it in one round.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CommitCert {
    /// The decided height.
    pub height: Height,
    /// The round whose precommits decided it.
    pub round: Round,
    /// The decided block.
    pub block_hash: BlockHash,
    /// The precommits, one per validator.
    pub precommits: Vec<SignedVote>,
}

impl CommitCert {
    /// Checks every precommit (matching, distinct, correctly signed) and that
    /// together they hold a quorum of power.
    pub fn verify(&self, set: &ValidatorSet) -> Result<(), VerifyError> {
        self.verify_with(set, true)
    }

    pub(crate) fn verify_with(
        &self,
        set: &ValidatorSet,
        check_signatures: bool,
    ) -> Result<(), VerifyError> {
        let mut seen = BTreeSet::new();
        let mut power: u64 = 0;
        for sv in &self.precommits {
            let v = &sv.vote;
            if v.kind != VoteKind::Precommit
                || v.height != self.height
                || v.round != self.round
                || v.value != Some(self.block_hash)
            {
                return Err(VerifyError::CertificateMismatch);
            }
            if !seen.insert(v.validator) {
                return Err(VerifyError::DuplicateSigner(v.validator));
            }
            let validator = set
                .get(v.validator)
                .ok_or(VerifyError::UnknownValidator(v.validator))?;
            if check_signatures {
                sv.verify(set)?;
            }
            power = power.saturating_add(validator.power);
        }
        if power < set.quorum_power() {
            return Err(VerifyError::NoQuorum {
                got: power,
                needed: set.quorum_power(),
            });
        }
        Ok(())
    }
}

/// Everything validators send each other.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// A proposal for the current round.
    Proposal(SignedProposal),
    /// A prevote or precommit.
    Vote(SignedVote),
    /// "I am at this height": peers further ahead answer with a [`Message::Commit`].
    Status(Height),
    /// A decided block with its certificate, for a peer that fell behind.
    Commit(Block, CommitCert),
    /// Transactions the sender's clients submitted, for every validator's
    /// mempool (so whoever proposes next can include them). Unsigned: a
    /// validator may put any valid transaction in its own proposals anyway.
    Txs(Vec<Tx>),
}

impl Message {
    /// The height the message is about ([`Height`] 0 for
    /// [`Message::Txs`], which belongs to no height).
    pub fn height(&self) -> Height {
        match self {
            Message::Txs(_) => Height(0),
            Message::Proposal(p) => p.proposal.height,
            Message::Vote(v) => v.vote.height,
            Message::Status(h) => *h,
            Message::Commit(_, c) => c.height,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validators::Validator;

    fn keys(n: u8) -> (Vec<SigningKey>, ValidatorSet) {
        let keys: Vec<SigningKey> = (0..n).map(|i| SigningKey::from([i + 1; 32])).collect();
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

    fn precommit(i: u16, value: Option<BlockHash>) -> Vote {
        Vote {
            kind: VoteKind::Precommit,
            height: Height(1),
            round: Round(0),
            value,
            validator: ValidatorIndex(i),
        }
    }

    #[test]
    fn votes_verify_only_under_their_key_and_fields() {
        let (keys, set) = keys(4);
        let sv = precommit(1, None).sign(&keys[1]);
        assert_eq!(sv.verify(&set), Ok(()));
        let forged = precommit(1, None).sign(&keys[2]);
        assert_eq!(
            forged.verify(&set),
            Err(VerifyError::BadSignature(ValidatorIndex(1)))
        );
        let mut moved = sv;
        moved.vote.round = Round(1);
        assert!(moved.verify(&set).is_err());
        let mut retargeted = sv;
        retargeted.vote.value = Some(BlockHash([7; 32]));
        assert!(retargeted.verify(&set).is_err());
        let unknown = precommit(9, None).sign(&keys[1]);
        assert_eq!(
            unknown.verify(&set),
            Err(VerifyError::UnknownValidator(ValidatorIndex(9)))
        );
    }

    #[test]
    fn prevote_signature_does_not_pass_as_precommit() {
        let (keys, set) = keys(4);
        let mut sv = precommit(0, None).sign(&keys[0]);
        sv.vote.kind = VoteKind::Prevote;
        assert!(sv.verify(&set).is_err());
    }

    #[test]
    fn certificates_need_a_distinct_signed_quorum() {
        let (keys, set) = keys(4);
        let hash = BlockHash([3; 32]);
        let votes: Vec<SignedVote> = (0..4)
            .map(|i| precommit(i, Some(hash)).sign(&keys[usize::from(i)]))
            .collect();
        let cert = |precommits: Vec<SignedVote>| CommitCert {
            height: Height(1),
            round: Round(0),
            block_hash: hash,
            precommits,
        };
        assert_eq!(cert(votes[..3].to_vec()).verify(&set), Ok(()));
        assert_eq!(
            cert(votes[..2].to_vec()).verify(&set),
            Err(VerifyError::NoQuorum { got: 2, needed: 3 })
        );
        let dup = vec![votes[0], votes[1], votes[1]];
        assert_eq!(
            cert(dup).verify(&set),
            Err(VerifyError::DuplicateSigner(ValidatorIndex(1)))
        );
        let mut bad = votes[..3].to_vec();
        bad[2].signature = Sig([0; 64]);
        assert!(cert(bad.clone()).verify(&set).is_err());
        assert_eq!(cert(bad).verify_with(&set, false), Ok(()));
        let nil = vec![votes[0], votes[1], precommit(2, None).sign(&keys[2])];
        assert_eq!(
            cert(nil).verify(&set),
            Err(VerifyError::CertificateMismatch)
        );
    }

    #[test]
    fn proposals_check_proposer_and_shape() {
        let (keys, set) = keys(4);
        let proposer = set.proposer(Height(1), Round(0));
        let block = Block {
            height: Height(1),
            proposer,
            txs: vec![],
        };
        let p = Proposal {
            height: Height(1),
            round: Round(0),
            block: block.clone(),
            pol_round: None,
            proposer,
        };
        let key = &keys[usize::from(proposer.0)];
        assert_eq!(p.clone().sign(key).verify(&set), Ok(()));
        let mut bad_pol = p.clone();
        bad_pol.pol_round = Some(Round(0));
        assert_eq!(
            bad_pol.sign(key).verify(&set),
            Err(VerifyError::MalformedProposal)
        );
        let mut rebuilt = p.clone();
        rebuilt.block.proposer = ValidatorIndex((proposer.0 + 1) % 4);
        assert_eq!(
            rebuilt.sign(key).verify(&set),
            Ok(()),
            "a re-proposal keeps its builder"
        );
        let mut wrong = p.clone();
        wrong.round = Round(1);
        assert!(matches!(
            wrong.sign(key).verify(&set),
            Err(VerifyError::WrongProposer { .. })
        ));
        let other = &keys[usize::from(proposer.0 + 1) % 4];
        assert_eq!(
            p.sign(other).verify(&set),
            Err(VerifyError::BadSignature(proposer))
        );
    }
}
