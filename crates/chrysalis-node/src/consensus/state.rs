//! The replicated state machine the node applies decisions to, and the
//! consensus counters.

use chrysalis_consensus::{Height, StateMachine, Tx};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

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
pub struct BadSnapshot(usize);

impl StateMachine for TxChain {
    type Error = BadSnapshot;

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

    fn restore(&mut self, s: &[u8]) -> Result<(), BadSnapshot> {
        if s.len() != 40 {
            return Err(BadSnapshot(s.len()));
        }
        self.head.copy_from_slice(&s[..32]);
        let mut n = [0; 8];
        n.copy_from_slice(&s[32..40]);
        self.applied_txs = u64::from_be_bytes(n);
        Ok(())
    }
}

/// Consensus counters, shared by the driver and the HTTP handlers.
#[derive(Debug, Default)]
pub struct ConsensusMetrics {
    pub(crate) decisions: AtomicU64,
    pub(crate) height: AtomicU64,
    pub(crate) round: AtomicU64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) bad_messages: AtomicU64,
    pub(crate) send_dropped: AtomicU64,
    pub(crate) txs_committed: AtomicU64,
}

impl ConsensusMetrics {
    pub(crate) fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }

    /// Messages from peers that did not decode or came from a non-validator.
    pub fn bad_messages(&self) -> u64 {
        self.bad_messages.load(Ordering::Relaxed)
    }

    /// Heights decided here.
    pub fn decisions(&self) -> u64 {
        self.decisions.load(Ordering::Relaxed)
    }

    /// The Prometheus text of the consensus series.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let series: [(&str, &str, &str, &AtomicU64); 8] = [
            (
                "chrysalis_consensus_decisions_total",
                "counter",
                "Heights decided.",
                &self.decisions,
            ),
            (
                "chrysalis_consensus_height",
                "gauge",
                "The height being decided.",
                &self.height,
            ),
            (
                "chrysalis_consensus_round",
                "gauge",
                "The round at that height.",
                &self.round,
            ),
            (
                "chrysalis_consensus_messages_received_total",
                "counter",
                "Consensus messages received.",
                &self.messages_in,
            ),
            (
                "chrysalis_consensus_messages_sent_total",
                "counter",
                "Consensus messages queued to peers.",
                &self.messages_out,
            ),
            (
                "chrysalis_consensus_bad_messages_total",
                "counter",
                "Consensus frames dropped: undecodable or from a non-validator.",
                &self.bad_messages,
            ),
            (
                "chrysalis_consensus_send_dropped_total",
                "counter",
                "Consensus messages dropped on a full peer queue.",
                &self.send_dropped,
            ),
            (
                "chrysalis_consensus_txs_committed_total",
                "counter",
                "Transactions in decided blocks.",
                &self.txs_committed,
            ),
        ];
        for (name, kind, help, value) in series {
            let v = value.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        out
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

    #[test]
    fn exposition_names_every_series() {
        let m = ConsensusMetrics::default();
        ConsensusMetrics::bump(&m.bad_messages, 2);
        let text = m.render();
        assert!(text.contains("chrysalis_consensus_bad_messages_total 2"));
        assert!(text.contains("chrysalis_consensus_decisions_total 0"));
    }
}
