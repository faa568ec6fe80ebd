//! The vocabulary of consensus: heights, rounds, validators, transactions and blocks.

use std::fmt;

/// A position in the replicated log; the first decided height is 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Height(pub u64);

impl Height {
    /// The height after this one.
    pub fn next(self) -> Height {
        Height(self.0 + 1)
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "h{}", self.0)
    }
}

/// A Tendermint round within one height; rounds start at 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Round(pub u32);

impl Round {
    /// The round after this one.
    pub fn next(self) -> Round {
        Round(self.0.saturating_add(1))
    }
}

/// A validator's position in the [`ValidatorSet`](crate::ValidatorSet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValidatorIndex(pub u16);

/// An opaque handle the driver gives for the peer a message came from, so the
/// engine can address a reply to it. The engine never interprets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u32);

/// The BLAKE3 hash of a block's canonical encoding: what validators vote on.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockHash(pub [u8; 32]);

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash(")?;
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// One client transaction: opaque bytes, interpreted by the state machine.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tx(pub Vec<u8>);

/// A transaction's key: the BLAKE3 hash of its bytes. Mempools and
/// pending sets deduplicate by it.
pub type TxKey = [u8; 32];

impl Tx {
    /// This transaction's [`TxKey`].
    pub fn key(&self) -> TxKey {
        *blake3::hash(&self.0).as_bytes()
    }
}

/// A batch of transactions proposed for one height.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    /// The height this block is proposed for.
    pub height: Height,
    /// The validator that built it.
    pub proposer: ValidatorIndex,
    /// The transactions, applied in order.
    pub txs: Vec<Tx>,
}

impl Block {
    /// The canonical encoding: height, proposer, then each transaction
    /// length-prefixed (all integers big-endian).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.payload_bytes() + 4 * self.txs.len());
        out.extend_from_slice(&self.height.0.to_be_bytes());
        out.extend_from_slice(&self.proposer.0.to_be_bytes());
        out.extend_from_slice(&(self.txs.len() as u64).to_be_bytes());
        for tx in &self.txs {
            out.extend_from_slice(&(tx.0.len() as u64).to_be_bytes());
            out.extend_from_slice(&tx.0);
        }
        out
    }

    /// The block's identity: BLAKE3 of [`Block::encode`], domain-separated.
    pub fn hash(&self) -> BlockHash {
        let mut h = blake3::Hasher::new_derive_key("chrysalis/v1/consensus-block");
        h.update(&self.encode());
        BlockHash(*h.finalize().as_bytes())
    }

    /// The summed size of the transactions, in bytes.
    pub fn payload_bytes(&self) -> usize {
        self.txs.iter().map(|t| t.0.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_hash_binds_every_field() {
        let base = Block {
            height: Height(3),
            proposer: ValidatorIndex(1),
            txs: vec![Tx(b"ab".to_vec()), Tx(b"c".to_vec())],
        };
        let mut other = base.clone();
        other.height = Height(4);
        assert_ne!(base.hash(), other.hash());
        let mut other = base.clone();
        other.proposer = ValidatorIndex(2);
        assert_ne!(base.hash(), other.hash());
        // Re-splitting the same bytes into different transactions changes the hash.
        let mut other = base.clone();
        other.txs = vec![Tx(b"a".to_vec()), Tx(b"bc".to_vec())];
        assert_ne!(base.hash(), other.hash());
        assert_eq!(base.hash(), base.clone().hash());
    }
}
