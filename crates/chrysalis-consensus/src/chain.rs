//! A ready state machine: a hash chain over every applied transaction. The
//! node runs it under either engine, and tests use it to compare replicas.

use crate::log::StateMachine;
use crate::types::{Height, Tx};

/// A hash chain over every applied transaction: two nodes with equal
/// heads applied the same transactions in the same order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxChain {
    /// The chain's head.
    pub head: [u8; 32],
    /// Transactions applied.
    pub applied_txs: u64,
}

/// Why a snapshot could not be restored.
#[derive(Debug, thiserror::Error)]
#[error("a chain snapshot is 40 bytes, got {0}")]
pub struct BadChainSnapshot(pub usize);

impl StateMachine for TxChain {
    type Error = BadChainSnapshot;

    fn apply(&mut self, height: Height, txs: &[Tx]) {
        for tx in txs {
            let mut h = blake3::Hasher::new_derive_key("chrysalis/v1/consensus-chain");
            h.update(&self.head);
            h.update(&height.0.to_be_bytes());
            h.update(&tx.0);
            self.head = *h.finalize().as_bytes();
            self.applied_txs += 1;
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut out = self.head.to_vec();
        out.extend_from_slice(&self.applied_txs.to_be_bytes());
        out
    }

    fn restore(&mut self, s: &[u8]) -> Result<(), BadChainSnapshot> {
        if s.len() != 40 {
            return Err(BadChainSnapshot(s.len()));
        }
        self.head.copy_from_slice(&s[..32]);
        let mut n = [0; 8];
        n.copy_from_slice(&s[32..40]);
        self.applied_txs = u64::from_be_bytes(n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_restore_and_bad_ones_are_refused() {
        let mut a = TxChain::default();
        a.apply(Height(1), &[Tx(b"x".to_vec()), Tx(b"y".to_vec())]);
        let mut b = TxChain::default();
        b.restore(&a.snapshot()).unwrap();
        assert_eq!(a, b);
        assert!(b.restore(&[1, 2, 3]).is_err());
        let mut c = TxChain::default();
        c.apply(Height(1), &[Tx(b"y".to_vec()), Tx(b"x".to_vec())]);
        assert_ne!(a.head, c.head);
    }
}
