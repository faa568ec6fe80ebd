//! Canonical wire and WAL encodings (chrysalis-types' versioned codec) of
//! every consensus message and WAL entry. Decoding untrusted bytes returns a
//! typed [`DecodeError`], never panics; signatures are checked later, by the engine.

use crate::message::{
    CommitCert, Message, Proposal, Sig, SignedProposal, SignedVote, Vote, VoteKind,
};
use crate::types::{Block, BlockHash, Height, Round, Tx, ValidatorIndex};
use crate::wal::WalEntry;
use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};
use chrysalis_types::impl_codec;

macro_rules! newtype_codec {
    ($ty:ident, $inner:ty) => {
        impl Encode for $ty {
            fn encode(&self, w: &mut Writer) {
                self.0.encode(w);
            }
        }
        impl Decode for $ty {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($ty(<$inner>::decode(r)?))
            }
        }
    };
}

newtype_codec!(Height, u64);
newtype_codec!(Round, u32);
newtype_codec!(ValidatorIndex, u16);
newtype_codec!(BlockHash, [u8; 32]);
newtype_codec!(Sig, [u8; 64]);

impl Encode for Tx {
    fn encode(&self, w: &mut Writer) {
        w.put_bytes(&self.0);
    }
}

impl Decode for Tx {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Tx(r.bytes()?.to_vec()))
    }
}

impl Encode for VoteKind {
    fn encode(&self, w: &mut Writer) {
        w.put_u8(match self {
            VoteKind::Prevote => 1,
            VoteKind::Precommit => 2,
        });
    }
}

impl Decode for VoteKind {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            1 => Ok(VoteKind::Prevote),
            2 => Ok(VoteKind::Precommit),
            tag => Err(r.invalid_tag("VoteKind", tag)),
        }
    }
}

impl_codec!(Block {
    height,
    proposer,
    txs
});
impl_codec!(Vote {
    kind,
    height,
    round,
    value,
    validator
});
impl_codec!(SignedVote { vote, signature });
impl_codec!(Proposal {
    height,
    round,
    block,
    pol_round,
    proposer
});
impl_codec!(SignedProposal {
    proposal,
    signature
});
impl_codec!(CommitCert {
    height,
    round,
    block_hash,
    precommits
});

impl Encode for Message {
    fn encode(&self, w: &mut Writer) {
        match self {
            Message::Proposal(p) => {
                w.put_u8(1);
                p.encode(w);
            }
            Message::Vote(v) => {
                w.put_u8(2);
                v.encode(w);
            }
            Message::Status(h) => {
                w.put_u8(3);
                h.encode(w);
            }
            Message::Commit(b, c) => {
                w.put_u8(4);
                Encode::encode(b, w);
                c.encode(w);
            }
            Message::Txs(txs) => {
                w.put_u8(5);
                txs.encode(w);
            }
        }
    }
}

impl Decode for Message {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            1 => Ok(Message::Proposal(r.get()?)),
            2 => Ok(Message::Vote(r.get()?)),
            3 => Ok(Message::Status(r.get()?)),
            4 => Ok(Message::Commit(r.get()?, r.get()?)),
            5 => Ok(Message::Txs(r.get()?)),
            tag => Err(r.invalid_tag("Message", tag)),
        }
    }
}

impl Encode for WalEntry {
    fn encode(&self, w: &mut Writer) {
        match self {
            WalEntry::Height(h) => {
                w.put_u8(1);
                h.encode(w);
            }
            WalEntry::Proposal(p) => {
                w.put_u8(2);
                p.encode(w);
            }
            WalEntry::Locked(b) => {
                w.put_u8(3);
                Encode::encode(b, w);
            }
            WalEntry::Vote(v) => {
                w.put_u8(4);
                v.encode(w);
            }
        }
    }
}

impl Decode for WalEntry {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            1 => Ok(WalEntry::Height(r.get()?)),
            2 => Ok(WalEntry::Proposal(r.get()?)),
            3 => Ok(WalEntry::Locked(r.get()?)),
            4 => Ok(WalEntry::Vote(r.get()?)),
            tag => Err(r.invalid_tag("WalEntry", tag)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_consensus::SigningKey;
    use proptest::prelude::*;

    fn vote_strategy() -> impl Strategy<Value = SignedVote> {
        (
            any::<bool>(),
            any::<u64>(),
            any::<u32>(),
            proptest::option::of(any::<[u8; 32]>()),
            any::<u16>(),
            any::<u8>(),
        )
            .prop_map(|(pre, h, r, value, v, k)| {
                Vote {
                    kind: if pre {
                        VoteKind::Prevote
                    } else {
                        VoteKind::Precommit
                    },
                    height: Height(h),
                    round: Round(r),
                    value: value.map(BlockHash),
                    validator: ValidatorIndex(v),
                }
                .sign(&SigningKey::from([k; 32]))
            })
    }

    fn block_strategy() -> impl Strategy<Value = Block> {
        (
            any::<u64>(),
            any::<u16>(),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..5),
        )
            .prop_map(|(h, p, txs)| Block {
                height: Height(h),
                proposer: ValidatorIndex(p),
                txs: txs.into_iter().map(Tx).collect(),
            })
    }

    fn message_strategy() -> impl Strategy<Value = Message> {
        prop_oneof![
            vote_strategy().prop_map(Message::Vote),
            any::<u64>().prop_map(|h| Message::Status(Height(h))),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..5)
                .prop_map(|txs| Message::Txs(txs.into_iter().map(Tx).collect())),
            (
                block_strategy(),
                proptest::option::of(any::<u32>()),
                any::<u16>()
            )
                .prop_map(|(block, pol, p)| {
                    Message::Proposal(
                        Proposal {
                            height: block.height,
                            round: Round(pol.map_or(0, |x| x.saturating_add(1))),
                            block,
                            pol_round: pol.map(Round),
                            proposer: ValidatorIndex(p),
                        }
                        .sign(&SigningKey::from([3; 32])),
                    )
                }),
            (
                block_strategy(),
                proptest::collection::vec(vote_strategy(), 0..4)
            )
                .prop_map(|(b, precommits)| {
                    let cert = CommitCert {
                        height: b.height,
                        round: Round(0),
                        block_hash: b.hash(),
                        precommits,
                    };
                    Message::Commit(b, cert)
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn messages_round_trip(m in message_strategy()) {
            let bytes = m.to_bytes();
            prop_assert_eq!(Message::from_bytes(&bytes).unwrap(), m);
        }

        #[test]
        fn truncations_and_garbage_are_errors_not_panics(m in message_strategy(), cut in any::<prop::sample::Index>(), junk in proptest::collection::vec(any::<u8>(), 0..64)) {
            let bytes = m.to_bytes();
            let at = cut.index(bytes.len());
            prop_assert!(Message::from_bytes(&bytes[..at]).is_err());
            let _ = Message::from_bytes(&junk);
            let _ = WalEntry::from_bytes(&junk);
        }
    }

    #[test]
    fn wal_entries_round_trip_and_bad_tags_are_refused() {
        let v = Vote {
            kind: VoteKind::Precommit,
            height: Height(5),
            round: Round(2),
            value: None,
            validator: ValidatorIndex(1),
        }
        .sign(&SigningKey::from([1; 32]));
        for e in [WalEntry::Height(Height(9)), WalEntry::Vote(v)] {
            assert_eq!(WalEntry::from_bytes(&e.to_bytes()).unwrap(), e);
        }
        let mut bytes = WalEntry::Vote(v).to_bytes();
        bytes[1] = 9;
        assert!(matches!(
            WalEntry::from_bytes(&bytes),
            Err(DecodeError::InvalidTag {
                what: "WalEntry",
                tag: 9,
                ..
            })
        ));
    }
}
