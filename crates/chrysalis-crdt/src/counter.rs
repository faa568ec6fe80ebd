//! Grow-only and positive-negative counters.
//!
//! A [`GCounter`] is a version vector read as per-node counts: its merge is
//! the vector-clock merge (element-wise max over a sorted, dense layout), and
//! its delta is the single entry a node just raised.

use crate::{Crdt, DeltaCrdt, VectorClock};
use chrysalis_types::NodeId;
use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};

/// Why a counter refused an update.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CounterError {
    /// The node's count would pass `u64::MAX`.
    #[error("counter overflow for {actor}: {current} + {by} exceeds u64::MAX")]
    Overflow {
        /// The node whose count would overflow.
        actor: NodeId,
        /// Its current count.
        current: u64,
        /// The increment asked for.
        by: u64,
    },
}

/// A grow-only counter: per node, how much it has added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GCounter {
    counts: VectorClock,
}

impl GCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `by` on behalf of `actor`; returns the delta to ship.
    pub fn increment(&mut self, actor: NodeId, by: u64) -> Result<GCounter, CounterError> {
        let current = self.counts.get(&actor);
        let next = current
            .checked_add(by)
            .ok_or(CounterError::Overflow { actor, current, by })?;
        self.counts.observe(actor, next);
        Ok(Self {
            counts: [(actor, next)].into_iter().collect(),
        })
    }

    /// The total of every node's count.
    pub fn value(&self) -> u128 {
        self.counts.iter().map(|(_, c)| u128::from(c)).sum()
    }

    /// `actor`'s own count.
    pub fn count_of(&self, actor: &NodeId) -> u64 {
        self.counts.get(actor)
    }

    /// The per-node counts, as a version vector.
    pub fn counts(&self) -> &VectorClock {
        &self.counts
    }

    /// The entries a peer whose counts are `seen` lacks.
    pub fn delta_since(&self, seen: &VectorClock) -> GCounter {
        Self {
            counts: self.counts.delta_since(seen),
        }
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.counts.heap_bytes()
    }
}

impl FromIterator<(NodeId, u64)> for GCounter {
    fn from_iter<I: IntoIterator<Item = (NodeId, u64)>>(iter: I) -> Self {
        Self {
            counts: iter.into_iter().collect(),
        }
    }
}

impl Crdt for GCounter {
    fn merge(&mut self, other: &Self) {
        self.counts.merge(&other.counts);
    }
}

impl DeltaCrdt for GCounter {
    type Delta = GCounter;
    const KIND: &'static str = "g-counter";

    fn apply_delta(&mut self, delta: &Self::Delta) {
        self.merge(delta);
    }
}

impl Encode for GCounter {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.counts);
    }
}

impl Decode for GCounter {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self { counts: r.get()? })
    }
}

/// A counter that goes up and down: two grow-only counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PNCounter {
    up: GCounter,
    down: GCounter,
}

impl PNCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `by` on behalf of `actor`; returns the delta.
    pub fn increment(&mut self, actor: NodeId, by: u64) -> Result<PNCounter, CounterError> {
        Ok(Self {
            up: self.up.increment(actor, by)?,
            down: GCounter::new(),
        })
    }

    /// Subtracts `by` on behalf of `actor`; returns the delta.
    pub fn decrement(&mut self, actor: NodeId, by: u64) -> Result<PNCounter, CounterError> {
        Ok(Self {
            up: GCounter::new(),
            down: self.down.increment(actor, by)?,
        })
    }

    /// Additions minus subtractions.
    pub fn value(&self) -> i128 {
        // Each total is at most 2^64 entries of at most 2^64, far inside i128
        // for any encodable state; saturate rather than wrap regardless.
        let up = i128::try_from(self.up.value()).unwrap_or(i128::MAX);
        let down = i128::try_from(self.down.value()).unwrap_or(i128::MAX);
        up.saturating_sub(down)
    }

    /// The entries a peer that has seen `up`/`down` lacks.
    pub fn delta_since(&self, up: &VectorClock, down: &VectorClock) -> PNCounter {
        Self {
            up: self.up.delta_since(up),
            down: self.down.delta_since(down),
        }
    }

    /// The additions.
    pub fn increments(&self) -> &GCounter {
        &self.up
    }

    /// The subtractions.
    pub fn decrements(&self) -> &GCounter {
        &self.down
    }
}

impl Crdt for PNCounter {
    fn merge(&mut self, other: &Self) {
        self.up.merge(&other.up);
        self.down.merge(&other.down);
    }
}

impl DeltaCrdt for PNCounter {
    type Delta = PNCounter;
    const KIND: &'static str = "pn-counter";

    fn apply_delta(&mut self, delta: &Self::Delta) {
        self.merge(delta);
    }
}

impl Encode for PNCounter {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.up);
        w.put(&self.down);
    }
}

impl Decode for PNCounter {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            up: r.get()?,
            down: r.get()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(b: u8) -> NodeId {
        NodeId::new([b; 32])
    }

    #[test]
    fn counts_and_merges() {
        let mut a = PNCounter::new();
        let mut b = PNCounter::new();
        let d1 = a.increment(node(1), 5).unwrap();
        let d2 = b.decrement(node(2), 7).unwrap();
        a.apply_delta(&d2);
        b.apply_delta(&d1);
        assert_eq!(a, b);
        assert_eq!(a.value(), -2);
        assert_eq!(a.increments().count_of(&node(1)), 5);
    }

    #[test]
    fn overflow_is_an_error() {
        let mut c = GCounter::new();
        c.increment(node(1), u64::MAX).unwrap();
        assert_eq!(
            c.increment(node(1), 1),
            Err(CounterError::Overflow {
                actor: node(1),
                current: u64::MAX,
                by: 1
            })
        );
        assert_eq!(c.value(), u128::from(u64::MAX));
    }

    #[test]
    fn delta_since_ships_only_news() {
        let mut c = GCounter::new();
        c.increment(node(1), 3).unwrap();
        c.increment(node(2), 4).unwrap();
        let seen: VectorClock = [(node(1), 3)].into_iter().collect();
        let d = c.delta_since(&seen);
        assert_eq!(d.value(), 4);
    }
}
