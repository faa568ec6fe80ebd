//! Counters the node keeps, and their Prometheus text exposition (format
//! 0.0.4, written by hand: a dozen series do not need a metrics crate).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a frame from a peer was dropped (bad signatures and authors inside
/// gossip frames are counted by the gossip core itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropReason {
    /// Not a frame, a body that does not decode, or an unknown channel.
    Malformed,
    /// Sent by another key than the member known at its address.
    WrongSender,
    /// The consensus queue was full (the engine re-sends its messages).
    Overloaded,
    /// Could not be sent.
    SendFailed,
}

impl DropReason {
    const ALL: [DropReason; 4] = [
        DropReason::Malformed,
        DropReason::WrongSender,
        DropReason::Overloaded,
        DropReason::SendFailed,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::WrongSender => "wrong_sender",
            DropReason::Overloaded => "overloaded",
            DropReason::SendFailed => "send_failed",
        }
    }
}

/// The node's counters. Shared by the event loop and the HTTP handlers.
#[derive(Debug, Default)]
pub struct Metrics {
    rounds: AtomicU64,
    frames_sent: AtomicU64,
    bytes_sent: AtomicU64,
    frames_received: AtomicU64,
    bytes_received: AtomicU64,
    members_alive: AtomicU64,
    members_known: AtomicU64,
    handshakes_refused: AtomicU64,
    dropped: [AtomicU64; 4],
    http: Mutex<BTreeMap<(String, u16), u64>>,
    core: Mutex<chrysalis_gossip::GossipStats>,
}

/// A snapshot of the replication counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct GossipStats {
    /// Anti-entropy rounds run.
    pub rounds: u64,
    /// Frames sent.
    pub frames_sent: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Frames received and verified.
    pub frames_received: u64,
    /// Bytes received in verified frames.
    pub bytes_received: u64,
    /// Frames dropped, for any reason.
    pub frames_dropped: u64,
    /// Frames dropped because another key than the member known at their
    /// address sent them.
    pub frames_refused: u64,
    /// TLS handshakes refused by the endpoint (unadmitted or wrong key).
    pub handshakes_refused: u64,
    /// Peers heard from recently.
    pub members_alive: u64,
    /// Peers known.
    pub members_known: u64,
    /// SWIM frames sent by the gossip core.
    pub swim_frames_sent: u64,
    /// SWIM frames received by the gossip core.
    pub swim_frames_received: u64,
    /// Signed deltas sent.
    pub deltas_sent: u64,
    /// Deltas that verified and changed a state here.
    pub deltas_applied: u64,
    /// Deltas that verified but brought nothing new.
    pub deltas_redundant: u64,
    /// Deltas dropped for a bad signature.
    pub bad_signatures: u64,
    /// Deltas dropped because their author is not the sending member.
    pub unknown_authors: u64,
    /// Frames the gossip core refused as malformed.
    pub malformed: u64,
    /// Chunks of large deltas sent.
    pub chunks_sent: u64,
    /// Chunks of large deltas received.
    pub chunks_received: u64,
    /// Causal-stability garbage collections run.
    pub gc_runs: u64,
}

impl Metrics {
    /// Counts a round.
    pub fn gossip_round(&self) {
        self.rounds.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a frame sent.
    pub fn frame_sent(&self, bytes: usize) {
        self.frames_sent.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts a verified frame received.
    pub fn frame_received(&self, bytes: usize) {
        self.frames_received.fetch_add(1, Ordering::Relaxed);
        self.bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts a dropped frame.
    pub fn frame_dropped(&self, reason: DropReason) {
        self.dropped[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Frames dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize].load(Ordering::Relaxed)
    }

    /// Copies the gossip core's counters (its round count included).
    pub fn set_core(&self, stats: &chrysalis_gossip::GossipStats) {
        self.rounds.store(stats.rounds, Ordering::Relaxed);
        if let Ok(mut core) = self.core.lock() {
            *core = stats.clone();
        }
    }

    /// Sets the membership gauges.
    pub fn set_members(&self, alive: usize, known: usize) {
        self.members_alive.store(alive as u64, Ordering::Relaxed);
        self.members_known.store(known as u64, Ordering::Relaxed);
    }

    /// Sets the endpoint's count of refused handshakes.
    pub fn set_handshakes_refused(&self, count: u64) {
        self.handshakes_refused.store(count, Ordering::Relaxed);
    }

    /// Counts an HTTP request by route template and status.
    pub fn http_request(&self, route: &str, status: u16) {
        if let Ok(mut map) = self.http.lock() {
            *map.entry((route.to_owned(), status)).or_default() += 1;
        }
    }

    /// The replication counters now.
    pub fn gossip(&self) -> GossipStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let core = self.core.lock().map(|c| c.clone()).unwrap_or_default();
        GossipStats {
            swim_frames_sent: core.swim_frames_sent,
            swim_frames_received: core.swim_frames_received,
            deltas_sent: core.deltas_sent,
            deltas_applied: core.deltas_applied,
            deltas_redundant: core.deltas_redundant,
            bad_signatures: core.bad_signatures,
            unknown_authors: core.unknown_authors,
            malformed: core.malformed,
            chunks_sent: core.chunks_sent,
            chunks_received: core.chunks_received,
            gc_runs: core.gc_runs,
            rounds: get(&self.rounds),
            frames_sent: get(&self.frames_sent),
            bytes_sent: get(&self.bytes_sent),
            frames_received: get(&self.frames_received),
            bytes_received: get(&self.bytes_received),
            frames_dropped: self.dropped.iter().map(get).sum(),
            frames_refused: self.dropped(DropReason::WrongSender),
            handshakes_refused: get(&self.handshakes_refused),
            members_alive: get(&self.members_alive),
            members_known: get(&self.members_known),
        }
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let g = self.gossip();
        let mut out = String::new();
        let mut series = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        series(
            "chrysalis_gossip_rounds_total",
            "counter",
            "Anti-entropy rounds run.",
            g.rounds,
        );
        series(
            "chrysalis_gossip_messages_sent_total",
            "counter",
            "Replication frames sent.",
            g.frames_sent,
        );
        series(
            "chrysalis_gossip_bytes_sent_total",
            "counter",
            "Replication bytes sent.",
            g.bytes_sent,
        );
        series(
            "chrysalis_gossip_messages_received_total",
            "counter",
            "Verified replication frames received.",
            g.frames_received,
        );
        series(
            "chrysalis_gossip_bytes_received_total",
            "counter",
            "Bytes of verified frames received.",
            g.bytes_received,
        );
        series(
            "chrysalis_gossip_deltas_applied_total",
            "counter",
            "Signed deltas from peers that changed a state here.",
            g.deltas_applied,
        );
        series(
            "chrysalis_gossip_deltas_sent_total",
            "counter",
            "Signed deltas sent.",
            g.deltas_sent,
        );
        series(
            "chrysalis_members_alive",
            "gauge",
            "Peers SWIM holds alive or suspect.",
            g.members_alive,
        );
        series(
            "chrysalis_members_known",
            "gauge",
            "Peers known.",
            g.members_known,
        );
        let _ = writeln!(
            out,
            "# HELP chrysalis_net_frames_dropped_total Replication frames dropped, by reason.\n\
             # TYPE chrysalis_net_frames_dropped_total counter"
        );
        for reason in DropReason::ALL {
            let _ = writeln!(
                out,
                "chrysalis_net_frames_dropped_total{{reason=\"{}\"}} {}",
                reason.label(),
                self.dropped(reason)
            );
        }
        let _ = writeln!(
            out,
            "# HELP chrysalis_http_requests_total HTTP requests, by route and status.\n\
             # TYPE chrysalis_http_requests_total counter"
        );
        if let Ok(map) = self.http.lock() {
            for ((route, status), count) in map.iter() {
                let _ = writeln!(
                    out,
                    "chrysalis_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_series() {
        let m = Metrics::default();
        m.gossip_round();
        let core = chrysalis_gossip::GossipStats {
            deltas_applied: 3,
            ..Default::default()
        };
        m.set_core(&core);
        m.frame_dropped(DropReason::WrongSender);
        m.http_request("/v1/agents", 201);
        let text = m.render();
        assert!(text.contains("chrysalis_gossip_rounds_total 0"));
        assert!(text.contains("chrysalis_gossip_deltas_applied_total 3"));
        assert!(text.contains("chrysalis_net_frames_dropped_total{reason=\"wrong_sender\"} 1"));
        assert!(
            text.contains("chrysalis_http_requests_total{route=\"/v1/agents\",status=\"201\"} 1")
        );
        assert_eq!(m.gossip().frames_refused, 1);
    }
}
