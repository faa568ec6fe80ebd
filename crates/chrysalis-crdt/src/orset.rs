//! The add-wins observed-remove set, on a dot store (the lineage of Riak's
//! ORSWOT and Akka's `ORSet`).
//!
//! Each live element carries the dots of the adds that put it there; the
//! shared [`CausalContext`] remembers every dot seen. A remove drops the
//! element's dots but keeps them in the context, so a replica that still
//! holds them learns of the removal on merge, while a concurrent add (a dot
//! the remover never saw) survives: add wins. Nothing is kept per removed
//! element: memory is one entry per live element plus the compressed
//! context, so there are no tombstones to collect.
//!
//! Layout: a hash map from element to its dots, where a single dot (the
//! common case) is stored inline in 12 bytes and only elements added
//! concurrently on several replicas pay for a boxed list.
//!
//! Removes do not create dots, so a version vector cannot say whether a peer
//! has seen a removal: this set has no `delta_since`. Anti-entropy ships the
//! deltas its mutators return ([`ORSetDelta::join`] groups them) and falls
//! back to full-state merge.

use crate::actor::{Dot, LocalDot, NO_ACTOR, fast_hasher};
use crate::dotstore::Join;
use crate::{CausalContext, Crdt, DeltaCrdt};
use chrysalis_types::NodeId;
use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;

/// What a set element must support: hashing for the live map, an order and
/// an encoding for the canonical form.
pub trait SetElement: Clone + Eq + Hash + Ord + Encode + Decode {}
impl<T: Clone + Eq + Hash + Ord + Encode + Decode> SetElement for T {}

/// The dots of one element: inline when there is one.
#[derive(Debug, Clone)]
enum Dots {
    One(LocalDot),
    #[expect(
        clippy::box_collection,
        reason = "a thin pointer keeps the enum, and so every entry, 8 bytes smaller than Box<[_]>"
    )]
    Many(Box<Vec<LocalDot>>),
}

impl Dots {
    #[inline]
    fn as_slice(&self) -> &[LocalDot] {
        match self {
            Dots::One(d) => std::slice::from_ref(d),
            Dots::Many(v) => v,
        }
    }

    #[inline]
    fn from_slice(dots: &[LocalDot]) -> Option<Self> {
        match dots {
            [] => None,
            [one] => Some(Dots::One(*one)),
            many => Some(Dots::Many(Box::new(many.to_vec()))),
        }
    }
}

/// An add-wins observed-remove set.
#[derive(Debug, Clone)]
pub struct ORSet<T> {
    ctx: CausalContext,
    entries: HashMap<T, Dots, crate::actor::FastHasher>,
}

/// A change to an [`ORSet`]: the elements touched, each with its live dots
/// (none for a removal), and the dots the change has seen.
#[derive(Debug, Clone)]
pub struct ORSetDelta<T> {
    ctx: CausalContext,
    entries: BTreeMap<T, Vec<LocalDot>>,
}

impl<T: SetElement> Default for ORSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: SetElement> ORSet<T> {
    /// The empty set.
    pub fn new() -> Self {
        Self {
            ctx: CausalContext::new(),
            entries: HashMap::with_hasher(fast_hasher()),
        }
    }

    /// The empty set, with room for `capacity` elements.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            ctx: CausalContext::new(),
            entries: HashMap::with_capacity_and_hasher(capacity, fast_hasher()),
        }
    }

    /// Whether `value` is in the set.
    pub fn contains(&self, value: &T) -> bool {
        self.entries.contains_key(value)
    }

    /// How many elements are in the set.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The elements, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.entries.keys()
    }

    /// The elements in increasing order.
    pub fn sorted(&self) -> Vec<T> {
        let mut out: Vec<T> = self.entries.keys().cloned().collect();
        out.sort_unstable();
        out
    }

    /// The dots seen by this replica.
    pub fn context(&self) -> &CausalContext {
        &self.ctx
    }

    /// The dots currently supporting `value` (several after concurrent adds).
    pub fn dots_of(&self, value: &T) -> Vec<Dot> {
        self.entries.get(value).map_or_else(Vec::new, |dots| {
            dots.as_slice()
                .iter()
                .map(|d| Dot::new(self.ctx.actor_id(d.actor()), d.counter()))
                .collect()
        })
    }

    /// Adds `value` as `actor`; returns the delta. The new add supersedes
    /// every add of `value` this replica has seen.
    pub fn add(&mut self, actor: NodeId, value: T) -> ORSetDelta<T> {
        let dot = self.ctx.next_local(actor);
        let mut delta = ORSetDelta::empty();
        let new_dot = delta.import_dot(&self.ctx, dot);
        if let Some(old) = self.entries.insert(value.clone(), Dots::One(dot)) {
            for d in old.as_slice() {
                delta.import_dot(&self.ctx, *d);
            }
        }
        delta.entries.insert(value, vec![new_dot]);
        delta
    }

    /// Removes `value` (the adds this replica has seen of it); returns the
    /// delta, empty when `value` was absent.
    pub fn remove(&mut self, value: &T) -> ORSetDelta<T> {
        let mut delta = ORSetDelta::empty();
        if let Some(old) = self.entries.remove(value) {
            for d in old.as_slice() {
                delta.import_dot(&self.ctx, *d);
            }
            delta.entries.insert(value.clone(), Vec::new());
        }
        delta
    }

    /// Causal-stability garbage collection: compacts the context below
    /// `stable` (see [`CausalContext::gc`]). Elements keep their dots: a
    /// removal creates no dot, so no version vector can prove it stable.
    pub fn gc(&mut self, stable: &crate::VectorClock) {
        self.ctx.gc(stable);
    }

    /// Bytes held on the heap (estimated from capacities: a hash table of
    /// `capacity * 8 / 7` buckets, rounded up to a power of two, each with
    /// one control byte).
    pub fn heap_bytes(&self) -> usize {
        let buckets = (self.entries.capacity() * 8 / 7).next_power_of_two();
        let boxed: usize = self
            .entries
            .values()
            .map(|d| match d {
                Dots::One(_) => 0,
                Dots::Many(v) => 24 + v.capacity() * size_of::<LocalDot>(),
            })
            .sum();
        buckets * (size_of::<(T, Dots)>() + 1) + boxed + self.ctx.heap_bytes()
    }

    /// The full-state join, in two passes that each probe the other table
    /// only when the answer can matter: our dots the other side never saw
    /// survive without a lookup, and their dots we have already seen add
    /// nothing. Synced elements cost one probe, new elements one insert.
    fn merge_full(&mut self, other: &Self) {
        let to_mine = self.ctx.import_actors(&other.ctx);
        let to_theirs = self.ctx.index_map_to(&other.ctx);
        let join = Join::new(&self.ctx, &other.ctx, &to_mine, Some(&to_theirs));
        let mut theirs = Vec::new();
        let mut out = Vec::new();
        // Pass 1: drop our dots they saw and no longer hold.
        self.entries.retain(|value, dots| {
            if !dots.as_slice().iter().any(|d| join.theirs_seen(*d)) {
                return true;
            }
            theirs.clear();
            if let Some(t) = other.entries.get(value) {
                theirs.extend(t.as_slice().iter().map(|d| join.to_mine(*d)));
            }
            out.clear();
            out.extend(
                dots.as_slice()
                    .iter()
                    .filter(|d| theirs.contains(d) || !join.theirs_seen(**d)),
            );
            match Dots::from_slice(&out) {
                Some(d) => {
                    *dots = d;
                    true
                }
                None => false,
            }
        });
        // Pass 2: add their dots we never saw (one probe per such element).
        // Each new element brings at least one dot we never saw, so that
        // count bounds the growth: room for it up front spares the table a
        // rehash midway.
        let unseen = self.ctx.count_unseen(&other.ctx, &to_mine);
        let additional = usize::try_from(unseen).map_or(other.len(), |n| n.min(other.len()));
        self.entries.reserve(additional);
        for (value, dots) in &other.entries {
            theirs.clear();
            theirs.extend(
                dots.as_slice()
                    .iter()
                    .map(|d| join.to_mine(*d))
                    .filter(|d| !join.mine_seen(*d)),
            );
            let Some(new) = Dots::from_slice(&theirs) else {
                continue;
            };
            match self.entries.entry(value.clone()) {
                Entry::Occupied(mut mine) => {
                    out.clear();
                    out.extend_from_slice(mine.get().as_slice());
                    out.extend_from_slice(&theirs);
                    if let Some(d) = Dots::from_slice(&out) {
                        *mine.get_mut() = d;
                    }
                }
                Entry::Vacant(slot) => {
                    slot.insert(new);
                }
            }
        }
        self.ctx.merge_mapped(&other.ctx, &to_mine);
    }
}

impl<T: SetElement> Crdt for ORSet<T> {
    fn merge(&mut self, other: &Self) {
        self.merge_full(other);
    }
}

impl<T: SetElement> DeltaCrdt for ORSet<T> {
    type Delta = ORSetDelta<T>;
    const KIND: &'static str = "or-set";

    /// Costs time proportional to the delta, not to the set: only the
    /// elements the delta names can change.
    fn apply_delta(&mut self, delta: &ORSetDelta<T>) {
        let to_mine = self.ctx.import_actors(&delta.ctx);
        let join = Join::new(&self.ctx, &delta.ctx, &to_mine, None);
        let mut theirs = Vec::new();
        let mut out = Vec::new();
        for (value, dots) in &delta.entries {
            theirs.clear();
            theirs.extend(dots.iter().map(|d| join.to_mine(*d)));
            // One probe per named element.
            match self.entries.entry(value.clone()) {
                Entry::Occupied(mut mine) => {
                    join.join_dots(mine.get().as_slice(), &theirs, &mut out);
                    match Dots::from_slice(&out) {
                        Some(d) => *mine.get_mut() = d,
                        None => {
                            mine.remove();
                        }
                    }
                }
                Entry::Vacant(slot) => {
                    join.join_dots(&[], &theirs, &mut out);
                    if let Some(d) = Dots::from_slice(&out) {
                        slot.insert(d);
                    }
                }
            }
        }
        self.ctx.merge_mapped(&delta.ctx, &to_mine);
    }
}

impl<T: SetElement> ORSetDelta<T> {
    fn empty() -> Self {
        Self {
            ctx: CausalContext::new(),
            entries: BTreeMap::new(),
        }
    }

    /// Records a dot of `from` (in `from`'s index space) in this delta's
    /// context and returns it in this delta's index space.
    fn import_dot(&mut self, from: &CausalContext, dot: LocalDot) -> LocalDot {
        let actor = self.ctx.intern(from.actor_id(dot.actor()));
        let local = LocalDot::new(actor, dot.counter());
        self.ctx.insert_local(local);
        local
    }

    /// Whether the delta changes nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The elements this delta adds (live after it is applied on its own).
    pub fn added(&self) -> impl Iterator<Item = &T> + '_ {
        self.entries
            .iter()
            .filter(|(_, d)| !d.is_empty())
            .map(|(v, _)| v)
    }

    /// Folds `other` into this delta, so a group of deltas ships as one.
    /// Applying the joined delta equals applying both.
    pub fn join(&mut self, other: &ORSetDelta<T>) {
        let to_mine = self.ctx.import_actors(&other.ctx);
        let join = Join::new(&self.ctx, &other.ctx, &to_mine, None);
        let mut theirs = Vec::new();
        let mut out = Vec::new();
        let mut changes = Vec::with_capacity(other.entries.len());
        for (value, dots) in &other.entries {
            theirs.clear();
            theirs.extend(dots.iter().map(|d| join.to_mine(*d)));
            let mine = self.entries.get(value).map_or(&[][..], Vec::as_slice);
            join.join_dots(mine, &theirs, &mut out);
            changes.push((value.clone(), out.clone()));
        }
        self.entries.extend(changes);
        self.ctx.merge_mapped(&other.ctx, &to_mine);
    }
}

/// Writes `(element, dots)` entries in canonical form: dots as (position of
/// the actor in the context's canonical order, counter), sorted.
fn encode_entries<'a, T: Encode + 'a>(
    w: &mut Writer,
    position: &[u32],
    entries: impl ExactSizeIterator<Item = (&'a T, &'a [LocalDot])>,
) {
    w.put_len(entries.len());
    for (value, dots) in entries {
        let mut canonical: Vec<(u32, u64)> = dots
            .iter()
            .map(|d| (position[d.actor() as usize], d.counter()))
            .collect();
        canonical.sort_unstable();
        w.put(value);
        w.put(&canonical);
    }
}

/// Reads entries written by [`encode_entries`], checking every invariant.
fn decode_entries<T: SetElement>(
    r: &mut Reader<'_>,
    ctx: &CausalContext,
    allow_empty: bool,
) -> Result<Vec<(T, Vec<LocalDot>)>, DecodeError> {
    let count = r.len("set entries")?;
    let mut out: Vec<(T, Vec<LocalDot>)> = Vec::new();
    let mut seen = HashSet::with_hasher(fast_hasher());
    for _ in 0..count {
        let offset = r.offset();
        let value: T = r.get()?;
        let dots: Vec<(u32, u64)> = r.get()?;
        let invalid = |reason| DecodeError::Invalid {
            what: "set",
            reason,
        };
        if out.last().is_some_and(|(last, _)| *last >= value) {
            return Err(DecodeError::NonCanonical {
                offset,
                reason: "set elements must be strictly increasing",
            });
        }
        if dots.is_empty() && !allow_empty {
            return Err(invalid("a live element needs at least one dot"));
        }
        if dots.windows(2).any(|p| p[0] >= p[1]) {
            return Err(DecodeError::NonCanonical {
                offset,
                reason: "an element's dots must be strictly increasing",
            });
        }
        let mut local = Vec::with_capacity(dots.len());
        for (actor, counter) in dots {
            let dot = LocalDot::new(actor, counter);
            if actor as usize >= ctx.actor_count() || actor == NO_ACTOR || !ctx.contains_local(dot)
            {
                return Err(invalid("a dot is missing from the causal context"));
            }
            if !seen.insert(dot) {
                return Err(invalid("a dot tags two elements"));
            }
            local.push(dot);
        }
        out.push((value, local));
    }
    Ok(out)
}

impl<T: SetElement> Encode for ORSet<T> {
    fn encode(&self, w: &mut Writer) {
        let position = self.ctx.encode_canonical(w);
        let mut sorted: Vec<(&T, &Dots)> = self.entries.iter().collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        encode_entries(
            w,
            &position,
            sorted.into_iter().map(|(v, d)| (v, d.as_slice())),
        );
    }
}

impl<T: SetElement> Decode for ORSet<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ctx: CausalContext = r.get()?;
        let entries = decode_entries::<T>(r, &ctx, false)?;
        let mut set = Self::with_capacity(entries.len());
        for (value, dots) in entries {
            if let Some(d) = Dots::from_slice(&dots) {
                set.entries.insert(value, d);
            }
        }
        set.ctx = ctx;
        Ok(set)
    }
}

impl<T: SetElement> Encode for ORSetDelta<T> {
    fn encode(&self, w: &mut Writer) {
        let position = self.ctx.encode_canonical(w);
        encode_entries(
            w,
            &position,
            self.entries.iter().map(|(v, d)| (v, d.as_slice())),
        );
    }
}

impl<T: SetElement> Decode for ORSetDelta<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ctx: CausalContext = r.get()?;
        let entries = decode_entries::<T>(r, &ctx, true)?;
        Ok(Self {
            ctx,
            entries: entries.into_iter().collect(),
        })
    }
}

impl<T: SetElement> PartialEq for ORSet<T> {
    /// Equal when the same elements are live with the same dots and the same
    /// dots were seen, whatever the interning order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.encode_body() == other.encode_body()
    }
}

impl<T: SetElement> Eq for ORSet<T> {}

impl<T: SetElement> PartialEq for ORSetDelta<T> {
    fn eq(&self, other: &Self) -> bool {
        self.encode_body() == other.encode_body()
    }
}

impl<T: SetElement> Eq for ORSetDelta<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(b: u8) -> NodeId {
        NodeId::new([b; 32])
    }

    #[test]
    fn add_wins_over_a_concurrent_remove() {
        let mut a = ORSet::<u64>::new();
        let mut b = ORSet::<u64>::new();
        let add = a.add(node(1), 7);
        b.apply_delta(&add);
        // Concurrently: b removes 7, a re-adds it.
        let rm = b.remove(&7);
        let readd = a.add(node(1), 7);
        a.apply_delta(&rm);
        b.apply_delta(&readd);
        assert!(a.contains(&7) && b.contains(&7));
        assert_eq!(a, b);
    }

    #[test]
    fn observed_remove_removes_everywhere() {
        let mut a = ORSet::<u64>::new();
        let mut b = ORSet::<u64>::new();
        a.add(node(1), 1);
        a.add(node(1), 2);
        b.merge(&a);
        b.remove(&1);
        a.merge(&b);
        assert_eq!(a.sorted(), vec![2]);
        assert_eq!(a, b);
    }

    #[test]
    fn concurrent_adds_keep_both_dots_until_superseded() {
        let mut a = ORSet::<u64>::new();
        let mut b = ORSet::<u64>::new();
        a.add(node(1), 5);
        b.add(node(2), 5);
        a.merge(&b);
        assert_eq!(a.dots_of(&5).len(), 2);
        a.add(node(1), 5);
        assert_eq!(a.dots_of(&5), vec![Dot::new(node(1), 2)]);
        let decoded = ORSet::<u64>::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!(decoded, a);
    }

    #[test]
    fn forged_states_are_refused() {
        let mut a = ORSet::<u64>::new();
        a.add(node(1), 5);
        let mut bytes = a.to_bytes();
        // The last 8 bytes are the dot's counter: point it outside the context.
        let n = bytes.len();
        bytes[n - 8] = 9;
        assert!(matches!(
            ORSet::<u64>::from_bytes(&bytes),
            Err(DecodeError::Invalid { .. })
        ));
    }
}
