//! Double-signing evidence as the API shows it: both signed messages in
//! their canonical encodings, so a client can verify the conviction
//! itself.

use super::handle::{EvidenceView, SignedView};
use crate::config::ValidatorAddr;
use chrysalis_consensus::{BftEngine, SignedProposal, SignedVote, Tendermint, VoteKind};
use chrysalis_types::codec::Encode;

fn vote_view(v: &SignedVote) -> SignedView {
    SignedView {
        value: v.vote.value.map(|h| h.0),
        encoding: v.to_bytes(),
    }
}

fn proposal_view(p: &SignedProposal) -> SignedView {
    SignedView {
        value: Some(p.proposal.block.hash().0),
        encoding: p.to_bytes(),
    }
}

/// Every conflicting vote pair and proposal pair `engine` has seen.
pub(crate) fn views(engine: &Tendermint, validators: &[ValidatorAddr]) -> Vec<EvidenceView> {
    let node = |i: u16| validators.get(usize::from(i)).map(|v| v.id);
    let votes = engine
        .evidence()
        .iter()
        .filter(|e| e.is_conflict())
        .map(|e| EvidenceView {
            step: match e.vote_a.vote.kind {
                VoteKind::Prevote => "prevote",
                VoteKind::Precommit => "precommit",
            },
            validator: e.validator.0,
            node: node(e.validator.0),
            height: e.vote_a.vote.height.0,
            round: e.vote_a.vote.round.0,
            first: vote_view(&e.vote_a),
            second: vote_view(&e.vote_b),
        });
    let proposals = engine.proposal_evidence().iter().map(|e| EvidenceView {
        step: "proposal",
        validator: e.proposer.0,
        node: node(e.proposer.0),
        height: e.proposal_a.proposal.height.0,
        round: e.proposal_a.proposal.round.0,
        first: proposal_view(&e.proposal_a),
        second: proposal_view(&e.proposal_b),
    });
    votes.chain(proposals).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrysalis_consensus::{
        BlockHash, EngineConfig, Height, Input, Message, PeerId, Round, SigningKey, Validator,
        ValidatorIndex, ValidatorSet, Vote,
    };
    use chrysalis_types::NodeId;
    use chrysalis_types::codec::Decode;

    #[test]
    fn a_double_vote_is_shown_with_both_verifiable_votes() {
        let keys: Vec<SigningKey> = (1..=4u8).map(|i| SigningKey::from([i; 32])).collect();
        let set = ValidatorSet::new(
            keys.iter()
                .map(|k| Validator {
                    key: k.verification_key(),
                    power: 1,
                })
                .collect(),
        )
        .unwrap();
        let addrs: Vec<ValidatorAddr> = keys
            .iter()
            .map(|k| ValidatorAddr {
                id: NodeId::new(k.verification_key().to_bytes()),
                addr: "127.0.0.1:1".parse().unwrap(),
            })
            .collect();
        let mut engine = Tendermint::new(
            EngineConfig::default(),
            set.clone(),
            keys[0].clone(),
            Height(1),
        )
        .unwrap();
        engine.start();
        let vote = |value| {
            Vote {
                kind: VoteKind::Prevote,
                height: Height(1),
                round: Round(0),
                value,
                validator: ValidatorIndex(2),
            }
            .sign(&keys[2])
        };
        let (a, b) = (vote(Some(BlockHash([7; 32]))), vote(None));
        assert!(views(&engine, &addrs).is_empty());
        engine.handle(Input::Message(PeerId(2), Message::Vote(a)));
        engine.handle(Input::Message(PeerId(2), Message::Vote(b)));
        let shown = views(&engine, &addrs);
        assert_eq!(shown.len(), 1, "{shown:?}");
        let e = &shown[0];
        assert_eq!(
            (e.step, e.validator, e.height, e.round),
            ("prevote", 2, 1, 0)
        );
        assert_eq!(e.node, Some(addrs[2].id));
        assert_eq!(e.first.value, Some([7; 32]));
        assert_eq!(e.second.value, None);
        for (shown, original) in [(&e.first, a), (&e.second, b)] {
            let decoded = SignedVote::from_bytes(&shown.encoding).unwrap();
            assert_eq!(decoded, original);
            decoded.verify(&set).unwrap();
        }
    }
}
