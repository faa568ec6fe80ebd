//! Version vectors.
//!
//! A [`VectorClock`] maps each node to the number of its events seen. It is
//! stored as two parallel vectors sorted by node id (ids, counters), with no
//! zero entries: no hashing, one binary search per lookup, and a merge of two
//! clocks over the same nodes is a slice comparison plus an element-wise
//! `max`, which runs at memory speed. Clocks are small and standalone, so they
//! keep full ids rather than interning them (interning pays off only where a
//! dot is repeated per element, see [`crate::CausalContext`]). The id list
//! is shared, copy on write, between clocks over the same nodes (clones, and
//! clocks a merge found equal), so merging those is only the element-wise
//! `max` over the counters.

use crate::{Crdt, DeltaCrdt};
use chrysalis_types::NodeId;
use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};
use std::cmp::Ordering;
use std::sync::Arc;

/// How two clocks relate in the causal partial order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClockOrdering {
    /// Every event the left clock saw, the right one saw too, and more.
    Before,
    /// The left clock saw everything the right one did, and more.
    After,
    /// Both saw exactly the same events.
    Equal,
    /// Each saw an event the other did not.
    Concurrent,
}

/// A version vector: per node, how many of its events have been seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct VectorClock {
    /// Raw id bytes, sorted: slices of byte arrays compare with one
    /// `memcmp`. Shared between clocks over the same nodes (clones, and
    /// clocks that merged and found the same ids), so such clocks skip the
    /// comparison: see [`VectorClock::share_ids_with`].
    ids: Arc<Vec<[u8; 32]>>,
    counters: Vec<u64>,
}

/// Below this ratio of sizes, merge by point updates (cost proportional to
/// the smaller clock) rather than by a linear merge.
const POINT_MERGE_RATIO: usize = 16;

impl VectorClock {
    /// The empty clock: no events seen.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many nodes have a non-zero entry.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no event has been seen.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Events seen from `actor` (0 when none).
    pub fn get(&self, actor: &NodeId) -> u64 {
        match self.ids.binary_search(actor.as_bytes()) {
            Ok(i) => self.counters[i],
            Err(_) => 0,
        }
    }

    /// The entries in increasing node-id order.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, u64)> + '_ {
        self.ids
            .iter()
            .map(|id| NodeId::new(*id))
            .zip(self.counters.iter().copied())
    }

    /// Records that `actor`'s events up to `counter` have been seen (keeps the
    /// larger of the old and new counter).
    pub fn observe(&mut self, actor: NodeId, counter: u64) {
        if counter == 0 {
            return;
        }
        match self.ids.binary_search(actor.as_bytes()) {
            Ok(i) => self.counters[i] = self.counters[i].max(counter),
            Err(i) => {
                self.ids_mut().insert(i, *actor.as_bytes());
                self.counters.insert(i, counter);
            }
        }
    }

    /// Counts one more event by `actor` and returns the delta: a clock with
    /// that single entry. Saturates at `u64::MAX` events.
    pub fn increment(&mut self, actor: NodeId) -> VectorClock {
        let next = self.get(&actor).saturating_add(1);
        self.observe(actor, next);
        Self {
            ids: Arc::new(vec![*actor.as_bytes()]),
            counters: vec![next],
        }
    }

    /// Where this clock stands relative to `other`.
    pub fn compare(&self, other: &Self) -> ClockOrdering {
        let (mut less, mut greater) = (false, false);
        if self.ids == other.ids {
            for (a, b) in self.counters.iter().zip(&other.counters) {
                less |= a < b;
                greater |= a > b;
            }
        } else {
            let (mut i, mut j) = (0, 0);
            while i < self.ids.len() || j < other.ids.len() {
                let order = match (self.ids.get(i), other.ids.get(j)) {
                    (Some(a), Some(b)) => a.cmp(b),
                    (Some(_), None) => Ordering::Less,
                    _ => Ordering::Greater,
                };
                match order {
                    Ordering::Less => (greater, i) = (true, i + 1),
                    Ordering::Greater => (less, j) = (true, j + 1),
                    Ordering::Equal => {
                        less |= self.counters[i] < other.counters[j];
                        greater |= self.counters[i] > other.counters[j];
                        (i, j) = (i + 1, j + 1);
                    }
                }
            }
        }
        match (less, greater) {
            (false, false) => ClockOrdering::Equal,
            (true, false) => ClockOrdering::Before,
            (false, true) => ClockOrdering::After,
            (true, true) => ClockOrdering::Concurrent,
        }
    }

    /// Whether this clock has seen every event `other` has.
    pub fn dominates(&self, other: &Self) -> bool {
        matches!(
            self.compare(other),
            ClockOrdering::After | ClockOrdering::Equal
        )
    }

    /// The entries of this clock that `other` lacks: what a peer whose clock
    /// is `other` must be sent to catch up.
    pub fn delta_since(&self, other: &Self) -> Self {
        let mut out = Self::new();
        for (id, counter) in self.iter() {
            if counter > other.get(&id) {
                out.ids_mut().push(*id.as_bytes());
                out.counters.push(counter);
            }
        }
        out
    }

    /// The greatest lower bound: per node, the smaller counter. The meet of
    /// every peer's acknowledged clock is the causally stable clock.
    pub fn meet(&self, other: &Self) -> Self {
        let mut out = Self::new();
        for (id, counter) in self.iter() {
            let low = counter.min(other.get(&id));
            if low > 0 {
                out.ids_mut().push(*id.as_bytes());
                out.counters.push(low);
            }
        }
        out
    }

    /// The meet of many clocks (the empty clock when there are none).
    pub fn stable_of<'a>(clocks: impl IntoIterator<Item = &'a VectorClock>) -> Self {
        let mut clocks = clocks.into_iter();
        let Some(first) = clocks.next() else {
            return Self::new();
        };
        clocks.fold(first.clone(), |acc, c| acc.meet(c))
    }

    /// Makes this clock share `other`'s id table when both cover the same
    /// nodes (returns whether they do), so merges between them skip the
    /// comparison of ids: for a clock decoded from a peer, say, against the
    /// local clock it will be merged into.
    pub fn share_ids_with(&mut self, other: &VectorClock) -> bool {
        if Arc::ptr_eq(&self.ids, &other.ids) {
            return true;
        }
        if self.ids != other.ids {
            return false;
        }
        self.ids = Arc::clone(&other.ids);
        true
    }

    fn ids_mut(&mut self) -> &mut Vec<[u8; 32]> {
        Arc::make_mut(&mut self.ids)
    }

    /// Bytes held on the heap (a shared id table counted in full).
    pub fn heap_bytes(&self) -> usize {
        self.ids.capacity() * 32 + self.counters.capacity() * 8
    }

    fn merge_linear(&mut self, other: &Self) {
        let mut ids = Vec::with_capacity(self.ids.len().max(other.ids.len()));
        let mut counters = Vec::with_capacity(ids.capacity());
        let (mut i, mut j) = (0, 0);
        while i < self.ids.len() && j < other.ids.len() {
            match self.ids[i].cmp(&other.ids[j]) {
                Ordering::Less => {
                    ids.push(self.ids[i]);
                    counters.push(self.counters[i]);
                    i += 1;
                }
                Ordering::Greater => {
                    ids.push(other.ids[j]);
                    counters.push(other.counters[j]);
                    j += 1;
                }
                Ordering::Equal => {
                    ids.push(self.ids[i]);
                    counters.push(self.counters[i].max(other.counters[j]));
                    (i, j) = (i + 1, j + 1);
                }
            }
        }
        ids.extend_from_slice(&self.ids[i..]);
        counters.extend_from_slice(&self.counters[i..]);
        ids.extend_from_slice(&other.ids[j..]);
        counters.extend_from_slice(&other.counters[j..]);
        self.ids = Arc::new(ids);
        self.counters = counters;
    }
}

/// Ids compared per step of [`max_if_same_ids`]: small enough that a
/// mismatch stops the work early, large enough to amortise the loop.
const SAME_IDS_CHUNK: usize = 32;

/// Where `ids` equals `other_ids`, raises each counter to the other's and
/// returns true, in one pass that compares a chunk of ids and then takes
/// the maxima of that chunk while it is in cache. On the first chunk that
/// differs it stops and returns false; the chunks before it are already
/// merged, which is what the caller's general merge would do for them.
fn max_if_same_ids(
    ids: &[[u8; 32]],
    counters: &mut [u64],
    other_ids: &[[u8; 32]],
    other_counters: &[u64],
) -> bool {
    if ids.len() != other_ids.len() {
        return false;
    }
    let chunks = ids
        .chunks(SAME_IDS_CHUNK)
        .zip(other_ids.chunks(SAME_IDS_CHUNK))
        .zip(counters.chunks_mut(SAME_IDS_CHUNK))
        .zip(other_counters.chunks(SAME_IDS_CHUNK));
    for (((mine, theirs), counters), other_counters) in chunks {
        if mine != theirs {
            return false;
        }
        max_in_place(counters, other_counters);
    }
    true
}

/// `a[i] = max(a[i], b[i])`, written without branches or `max` (a compare
/// and a subtract with the borrow as a mask), which the compiler turns into
/// vector code on the baseline x86-64 target where a `u64` `max` stays
/// scalar.
#[inline]
fn max_in_place(a: &mut [u64], b: &[u64]) {
    for (a, &b) in a.iter_mut().zip(b) {
        let (diff, borrow) = a.overflowing_sub(b);
        *a = a.wrapping_sub(diff & 0u64.wrapping_sub(u64::from(borrow)));
    }
}

impl Crdt for VectorClock {
    fn merge(&mut self, other: &Self) {
        if Arc::ptr_eq(&self.ids, &other.ids) {
            // One id table: a pure element-wise max.
            max_in_place(&mut self.counters, &other.counters);
            return;
        }
        if max_if_same_ids(&self.ids, &mut self.counters, &other.ids, &other.counters) {
            // Same nodes: share the table, so the next merge between these
            // two skips the comparison.
            self.ids = Arc::clone(&other.ids);
            return;
        }
        if other.len().saturating_mul(POINT_MERGE_RATIO) <= self.len() {
            for (id, counter) in other.iter() {
                self.observe(id, counter);
            }
        } else {
            self.merge_linear(other);
        }
    }
}

impl DeltaCrdt for VectorClock {
    type Delta = VectorClock;
    const KIND: &'static str = "vector-clock";

    fn apply_delta(&mut self, delta: &Self::Delta) {
        self.merge(delta);
    }
}

impl PartialOrd for VectorClock {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.compare(other) {
            ClockOrdering::Before => Some(Ordering::Less),
            ClockOrdering::After => Some(Ordering::Greater),
            ClockOrdering::Equal => Some(Ordering::Equal),
            ClockOrdering::Concurrent => None,
        }
    }
}

impl FromIterator<(NodeId, u64)> for VectorClock {
    /// Sorts once (O(n log n)); a repeated node keeps its largest counter.
    fn from_iter<I: IntoIterator<Item = (NodeId, u64)>>(iter: I) -> Self {
        let mut pairs: Vec<([u8; 32], u64)> = iter
            .into_iter()
            .filter(|(_, c)| *c > 0)
            .map(|(id, c)| (*id.as_bytes(), c))
            .collect();
        pairs.sort_unstable();
        let mut out = Self {
            ids: Arc::new(Vec::with_capacity(pairs.len())),
            counters: Vec::with_capacity(pairs.len()),
        };
        for (id, counter) in pairs {
            if out.ids.last() == Some(&id) {
                if let Some(last) = out.counters.last_mut() {
                    *last = counter;
                }
            } else {
                out.ids_mut().push(id);
                out.counters.push(counter);
            }
        }
        out
    }
}

impl Encode for VectorClock {
    fn encode(&self, w: &mut Writer) {
        w.put_len(self.ids.len());
        for (id, counter) in self.iter() {
            w.put(&id);
            w.put(&counter);
        }
    }
}

impl Decode for VectorClock {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = r.len("vector clock")?;
        let mut out = Self::new();
        for _ in 0..count {
            let offset = r.offset();
            let id: NodeId = r.get()?;
            let counter: u64 = r.get()?;
            if out.ids.last().is_some_and(|last| last >= id.as_bytes()) {
                return Err(DecodeError::NonCanonical {
                    offset,
                    reason: "vector clock ids must be strictly increasing",
                });
            }
            if counter == 0 {
                return Err(DecodeError::NonCanonical {
                    offset,
                    reason: "vector clocks omit zero entries",
                });
            }
            out.ids_mut().push(*id.as_bytes());
            out.counters.push(counter);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(b: u8) -> NodeId {
        NodeId::new([b; 32])
    }

    #[test]
    fn orders_clocks() {
        let a: VectorClock = [(node(1), 2), (node(2), 1)].into_iter().collect();
        let b: VectorClock = [(node(1), 2), (node(2), 3)].into_iter().collect();
        let c: VectorClock = [(node(3), 1)].into_iter().collect();
        assert_eq!(a.compare(&b), ClockOrdering::Before);
        assert_eq!(b.compare(&a), ClockOrdering::After);
        assert_eq!(a.compare(&a.clone()), ClockOrdering::Equal);
        assert_eq!(a.compare(&c), ClockOrdering::Concurrent);
        assert_eq!(VectorClock::new().compare(&c), ClockOrdering::Before);
        assert!(b.dominates(&a));
        assert_eq!(a.partial_cmp(&c), None);
        let unsorted: VectorClock = [(node(2), 1), (node(1), 3), (node(2), 4), (node(3), 0)]
            .into_iter()
            .collect();
        assert_eq!(unsorted.get(&node(2)), 4);
        assert_eq!(unsorted.len(), 2);
        assert_eq!(unsorted.iter().next(), Some((node(1), 3)));
    }

    #[test]
    fn merges_by_points_and_linearly() {
        let big: VectorClock = (0..40u8).map(|i| (node(i), u64::from(i) + 1)).collect();
        let mut small: VectorClock = [(node(200), 5), (node(3), 9)].into_iter().collect();
        let mut by_points = big.clone();
        by_points.merge(&small);
        small.merge(&big);
        assert_eq!(by_points, small);
        assert_eq!(by_points.get(&node(3)), 9);
        assert_eq!(by_points.get(&node(200)), 5);
        assert_eq!(by_points.len(), 41);
    }

    #[test]
    fn same_id_fast_path_handles_extremes_and_late_mismatches() {
        let mut a = vec![0, u64::MAX, 5, 7, u64::MAX - 1];
        max_in_place(&mut a, &[u64::MAX, 0, 6, 7, u64::MAX]);
        assert_eq!(a, vec![u64::MAX, u64::MAX, 6, 7, u64::MAX]);
        // Ids equal in the first chunks, different at position 70.
        let x: VectorClock = (0..100u8)
            .map(|i| (node(i), u64::from(i) % 7 + 1))
            .collect();
        let y: VectorClock = (0..100u8)
            .map(|i| (node(if i == 70 { 200 } else { i }), u64::from(i) % 5 + 1))
            .collect();
        let mut merged = x.clone();
        merged.merge(&y);
        let mut expected = std::collections::BTreeMap::new();
        for (id, c) in x.iter().chain(y.iter()) {
            let e = expected.entry(id).or_insert(0);
            *e = (*e).max(c);
        }
        assert_eq!(
            merged.iter().collect::<Vec<_>>(),
            expected.into_iter().collect::<Vec<_>>()
        );
    }

    #[test]
    fn shared_id_tables_copy_on_write() {
        let a: VectorClock = (0..10u8).map(|i| (node(i), 1)).collect();
        let mut b: VectorClock = (0..10u8).map(|i| (node(i), 2)).collect();
        assert!(b.share_ids_with(&a));
        let mut merged = a.clone();
        merged.merge(&b);
        assert!(merged.iter().all(|(_, c)| c == 2));
        // A new node in one clock leaves the other's table alone.
        b.observe(node(50), 7);
        assert_eq!(a.len(), 10);
        assert_eq!(b.len(), 11);
        merged.merge(&b);
        assert_eq!(merged.get(&node(50)), 7);
        let c: VectorClock = [(node(1), 1)].into_iter().collect();
        assert!(!b.clone().share_ids_with(&c));
    }

    #[test]
    fn delta_since_and_meet() {
        let a: VectorClock = [(node(1), 5), (node(2), 1)].into_iter().collect();
        let b: VectorClock = [(node(1), 3), (node(2), 4)].into_iter().collect();
        let d = a.delta_since(&b);
        assert_eq!(d.iter().collect::<Vec<_>>(), vec![(node(1), 5)]);
        let mut caught_up = b.clone();
        caught_up.apply_delta(&d);
        assert!(caught_up.dominates(&a));
        let m = VectorClock::stable_of([&a, &b]);
        assert_eq!(m.get(&node(1)), 3);
        assert_eq!(m.get(&node(2)), 1);
    }

    #[test]
    fn non_canonical_bytes_are_refused() {
        let a: VectorClock = [(node(1), 5), (node(2), 1)].into_iter().collect();
        let mut bytes = a.to_bytes();
        assert_eq!(VectorClock::from_bytes(&bytes).unwrap(), a);
        // Swap the two entries: ids no longer increase.
        let (x, y) = (5..45, 45..85);
        let first = bytes[x.clone()].to_vec();
        let second = bytes[y.clone()].to_vec();
        bytes[x].copy_from_slice(&second);
        bytes[y].copy_from_slice(&first);
        assert!(matches!(
            VectorClock::from_bytes(&bytes),
            Err(DecodeError::NonCanonical { .. })
        ));
    }
}
