//! Dots and the actor interning table.
//!
//! Replicas are nodes, so a dot names its writer by [`NodeId`] (32 bytes) in
//! the public API. Inside dot stores a dot is written hundreds of thousands
//! of times, so the stores intern node ids to `u32` indexes in an
//! [`ActorTable`] owned by their causal context, and keep a packed 12-byte
//! [`LocalDot`]. Indexes are a private, per-replica detail: two replicas that
//! hold equal states may number their actors differently, and the canonical
//! encoding never shows the numbering (it writes actors sorted by id and
//! refers to them by position in that sorted list).

use chrysalis_types::NodeId;
use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};
use std::collections::HashMap;

/// The hasher used by every hashed structure in this crate: fast, and
/// deterministic for a given seed (no hidden randomness in an L1 crate).
pub(crate) type FastHasher = foldhash::fast::FixedState;

/// The default seed for [`FastHasher`].
pub(crate) const DEFAULT_HASH_SEED: u64 = 0x6368_7279_7361_6c69;

/// A fresh hasher state with the default seed.
pub(crate) fn fast_hasher() -> FastHasher {
    FastHasher::with_seed(DEFAULT_HASH_SEED)
}

/// One event of one replica: the `counter`-th event written by `actor`.
/// Counters start at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dot {
    /// The node that wrote the event.
    pub actor: NodeId,
    /// Its sequence number among that node's events, from 1.
    pub counter: u64,
}

impl Dot {
    /// A dot from its parts.
    pub const fn new(actor: NodeId, counter: u64) -> Self {
        Self { actor, counter }
    }
}

impl Encode for Dot {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.actor);
        w.put(&self.counter);
    }
}

impl Decode for Dot {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let dot = Self::new(r.get()?, r.get()?);
        if dot.counter == 0 {
            return Err(DecodeError::Invalid {
                what: "dot",
                reason: "counters start at 1",
            });
        }
        Ok(dot)
    }
}

/// A dot whose actor is an index into an [`ActorTable`]: 12 bytes, 4-byte
/// aligned, so a dot store entry stays small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct LocalDot {
    actor: u32,
    counter_lo: u32,
    counter_hi: u32,
}

impl LocalDot {
    #[inline]
    pub(crate) fn new(actor: u32, counter: u64) -> Self {
        Self {
            actor,
            counter_lo: counter as u32,
            counter_hi: (counter >> 32) as u32,
        }
    }

    #[inline]
    pub(crate) fn actor(self) -> u32 {
        self.actor
    }

    #[inline]
    pub(crate) fn counter(self) -> u64 {
        u64::from(self.counter_hi) << 32 | u64::from(self.counter_lo)
    }

    /// The same dot with its actor index translated through `map`.
    #[inline]
    pub(crate) fn remap(self, map: &[u32]) -> Self {
        Self::new(map[self.actor as usize], self.counter())
    }
}

/// Interns node ids to dense `u32` indexes, in order of first appearance.
#[derive(Debug, Clone)]
pub(crate) struct ActorTable {
    ids: Vec<NodeId>,
    index: HashMap<NodeId, u32, FastHasher>,
}

impl Default for ActorTable {
    fn default() -> Self {
        Self {
            ids: Vec::new(),
            index: HashMap::with_hasher(fast_hasher()),
        }
    }
}

impl ActorTable {
    /// The index of `id`, adding it if it is new.
    ///
    /// # Panics
    /// Past `u32::MAX - 1` distinct actors, which no encodable state reaches.
    pub(crate) fn intern(&mut self, id: NodeId) -> u32 {
        if let Some(&i) = self.index.get(&id) {
            return i;
        }
        let i = u32::try_from(self.ids.len())
            .ok()
            .filter(|&i| i != NO_ACTOR)
            .expect("fewer than u32::MAX actors");
        self.ids.push(id);
        self.index.insert(id, i);
        i
    }

    /// The index of `id`, if it is known.
    pub(crate) fn lookup(&self, id: &NodeId) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The id at `index`.
    pub(crate) fn id(&self, index: u32) -> NodeId {
        self.ids[index as usize]
    }

    /// How many actors are interned.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Bytes held on the heap (an estimate from capacities).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.ids.capacity() * size_of::<NodeId>()
            + self.index.capacity() * (size_of::<(NodeId, u32)>() + 1)
    }
}

/// Marks "no such actor" in index maps.
pub(crate) const NO_ACTOR: u32 = u32::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_dots_pack_full_counters() {
        for counter in [1, u64::from(u32::MAX), u64::from(u32::MAX) + 1, u64::MAX] {
            let dot = LocalDot::new(7, counter);
            assert_eq!(dot.counter(), counter);
            assert_eq!(dot.actor(), 7);
        }
        assert_eq!(size_of::<LocalDot>(), 12);
    }

    #[test]
    fn interning_is_stable() {
        let mut table = ActorTable::default();
        let a = NodeId::new([1; 32]);
        let b = NodeId::new([2; 32]);
        assert_eq!(table.intern(b), 0);
        assert_eq!(table.intern(a), 1);
        assert_eq!(table.intern(b), 0);
        assert_eq!(table.lookup(&a), Some(1));
        assert_eq!(table.id(1), a);
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn zero_counter_dots_are_refused() {
        let mut w = Writer::new();
        w.put(&NodeId::new([3; 32]));
        w.put(&0u64);
        assert!(Dot::from_body(w.as_bytes()).is_err());
    }
}
