//! Endpoint counters: relaxed atomics bumped on the data path, read as a
//! [`NetMetrics`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of an endpoint's counters since it was bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetMetrics {
    /// Frames written to a peer's stream.
    pub frames_sent: u64,
    /// Frames received and handed to [`crate::Endpoint::recv`]'s queue.
    pub frames_received: u64,
    /// Frames dropped for a bad version or channel.
    pub frames_malformed: u64,
    /// Frames dropped for exceeding the size limit.
    pub frames_oversized: u64,
    /// Frames dropped on the sending side: the peer's queue was full or its
    /// connection failed with them queued.
    pub frames_dropped_on_send: u64,
    /// Streams given up on: a bad preface, or cut off in the middle of a frame.
    pub streams_broken: u64,
    /// TLS handshakes this node refused (unadmitted node, wrong pinned
    /// key, not an Ed25519 certificate).
    pub handshakes_refused: u64,
    /// Connections established, either direction.
    pub connections_opened: u64,
}

/// The live counters behind [`NetMetrics`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) frames_sent: AtomicU64,
    pub(crate) frames_received: AtomicU64,
    pub(crate) frames_malformed: AtomicU64,
    pub(crate) frames_oversized: AtomicU64,
    pub(crate) frames_dropped_on_send: AtomicU64,
    pub(crate) streams_broken: AtomicU64,
    pub(crate) handshakes_refused: AtomicU64,
    pub(crate) connections_opened: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> NetMetrics {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NetMetrics {
            frames_sent: get(&self.frames_sent),
            frames_received: get(&self.frames_received),
            frames_malformed: get(&self.frames_malformed),
            frames_oversized: get(&self.frames_oversized),
            frames_dropped_on_send: get(&self.frames_dropped_on_send),
            streams_broken: get(&self.streams_broken),
            handshakes_refused: get(&self.handshakes_refused),
            connections_opened: get(&self.connections_opened),
        }
    }
}
