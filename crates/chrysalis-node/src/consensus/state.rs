//! The consensus counters.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

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
    fn exposition_names_every_series() {
        let m = ConsensusMetrics::default();
        ConsensusMetrics::bump(&m.bad_messages, 2);
        let text = m.render();
        assert!(text.contains("chrysalis_consensus_bad_messages_total 2"));
        assert!(text.contains("chrysalis_consensus_decisions_total 0"));
    }
}
