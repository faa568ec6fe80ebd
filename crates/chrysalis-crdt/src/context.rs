//! The dotted causal context: which events (dots) a replica has seen.
//!
//! Per actor it keeps a contiguous prefix `1..=base` and the inclusive
//! intervals seen beyond it, sorted, disjoint and never adjacent (interval
//! compression): in-order delivery keeps every actor at a single `u64`, and
//! out-of-order delta delivery costs one interval per gap, not one entry per
//! dot. Actors are interned (see [`crate::actor`]), so the dot stores that
//! share this context refer to actors by a `u32` index.

use crate::VectorClock;
use crate::actor::{ActorTable, Dot, LocalDot, NO_ACTOR};
use chrysalis_types::NodeId;
use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};

/// The dots one actor contributed: `1..=base` plus `extra` intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ActorDots {
    base: u64,
    /// Inclusive `(start, end)` intervals, `start > base + 1`, sorted,
    /// disjoint and separated by at least one missing counter.
    extra: Vec<(u64, u64)>,
}

impl ActorDots {
    #[inline]
    fn contains(&self, counter: u64) -> bool {
        counter <= self.base
            || self
                .extra
                .binary_search_by(|&(start, end)| {
                    if end < counter {
                        std::cmp::Ordering::Less
                    } else if start > counter {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Equal
                    }
                })
                .is_ok()
    }

    /// The inclusive intervals of dots, in increasing order.
    fn intervals(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        (self.base > 0)
            .then_some((1, self.base))
            .into_iter()
            .chain(self.extra.iter().copied())
    }

    /// How many dots there are.
    fn count(&self) -> u64 {
        self.intervals().map(|(s, e)| e - s + 1).sum()
    }

    /// How many dots both hold, by one sweep over the two interval lists.
    fn count_common(&self, other: &ActorDots) -> u64 {
        let (mut a, mut b) = (self.intervals().peekable(), other.intervals().peekable());
        let mut common = 0;
        while let (Some(&(s1, e1)), Some(&(s2, e2))) = (a.peek(), b.peek()) {
            let (lo, hi) = (s1.max(s2), e1.min(e2));
            if lo <= hi {
                common += hi - lo + 1;
            }
            if e1 < e2 {
                a.next();
            } else {
                b.next();
            }
        }
        common
    }

    fn max(&self) -> u64 {
        self.extra.last().map_or(self.base, |&(_, end)| end)
    }

    fn is_empty(&self) -> bool {
        self.base == 0 && self.extra.is_empty()
    }

    fn insert(&mut self, counter: u64) {
        self.insert_range(counter, counter);
    }

    fn insert_range(&mut self, start: u64, end: u64) {
        if end <= self.base {
            return;
        }
        if start <= self.base.saturating_add(1) && self.extra.is_empty() {
            self.base = end;
            return;
        }
        let at = self.extra.partition_point(|&(_, e)| e < start);
        self.extra.insert(at, (start, end));
        self.normalize();
    }

    fn union(&mut self, other: &ActorDots) {
        self.base = self.base.max(other.base);
        if other.extra.is_empty() && self.extra.is_empty() {
            return;
        }
        self.extra.extend_from_slice(&other.extra);
        self.extra.sort_unstable();
        self.normalize();
    }

    /// Restores the invariants after intervals were added in any order.
    fn normalize(&mut self) {
        self.extra.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(self.extra.len());
        for &(start, end) in &self.extra {
            if end <= self.base {
                continue;
            }
            if start <= self.base.saturating_add(1) {
                self.base = end;
                continue;
            }
            match out.last_mut() {
                Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
                _ => out.push((start, end)),
            }
        }
        // Intervals kept before `base` grew may now touch it.
        let absorbed = out
            .iter()
            .take_while(|&&(start, _)| start <= self.base.saturating_add(1))
            .count();
        if let Some(&(_, end)) = out[..absorbed].last() {
            self.base = self.base.max(end);
        }
        out.drain(..absorbed);
        self.extra = out;
    }

    /// The same dots minus `holes` (sorted, distinct counters).
    fn without(&self, holes: &[u64]) -> ActorDots {
        let mut kept: Vec<(u64, u64)> = Vec::with_capacity(self.extra.len() + holes.len() + 1);
        let mut h = holes.iter().copied().peekable();
        let prefix = (self.base > 0).then_some((1, self.base));
        for (start, end) in prefix.into_iter().chain(self.extra.iter().copied()) {
            let mut next = Some(start);
            while let (Some(&x), Some(from)) = (h.peek(), next) {
                if x > end {
                    break;
                }
                h.next();
                if x < from {
                    continue;
                }
                if x > from {
                    kept.push((from, x - 1));
                }
                next = x.checked_add(1);
            }
            if let Some(from) = next.filter(|&f| f <= end) {
                kept.push((from, end));
            }
        }
        Self::from_intervals(kept)
    }

    /// The dots above `bound`.
    fn above(&self, bound: u64) -> ActorDots {
        let prefix = (self.base > bound).then_some((bound.saturating_add(1), self.base));
        let kept = prefix
            .into_iter()
            .chain(self.extra.iter().copied())
            .filter(|&(_, end)| end > bound)
            .map(|(start, end)| (start.max(bound.saturating_add(1)), end))
            .collect();
        Self::from_intervals(kept)
    }

    /// From sorted, disjoint, non-adjacent inclusive intervals.
    fn from_intervals(mut intervals: Vec<(u64, u64)>) -> ActorDots {
        let mut out = ActorDots::default();
        if let Some(&(1, end)) = intervals.first() {
            out.base = end;
            intervals.remove(0);
        }
        out.extra = intervals;
        out
    }

    fn fill_to(&mut self, counter: u64) {
        if counter > self.base {
            self.base = counter;
            self.normalize();
        }
    }
}

/// The set of dots a replica has seen, compressed per actor.
#[derive(Debug, Clone, Default)]
pub struct CausalContext {
    actors: ActorTable,
    dots: Vec<ActorDots>,
}

impl CausalContext {
    /// The empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `dot` has been seen.
    pub fn contains(&self, dot: &Dot) -> bool {
        self.actors
            .lookup(&dot.actor)
            .is_some_and(|i| self.dots[i as usize].contains(dot.counter))
    }

    /// Records `dot` as seen.
    pub fn insert(&mut self, dot: Dot) {
        let i = self.intern(dot.actor);
        self.dots[i as usize].insert(dot.counter);
    }

    /// The next fresh dot for `actor` (after every dot of it seen so far),
    /// recorded as seen.
    pub fn next_dot(&mut self, actor: NodeId) -> Dot {
        let local = self.next_local(actor);
        Dot::new(actor, local.counter())
    }

    /// The contiguous prefix seen of each actor, as a version vector: what
    /// this replica acknowledges to its peers.
    pub fn vector(&self) -> VectorClock {
        (0..self.actors.len())
            .map(|i| (self.actors.id(i as u32), self.dots[i].base))
            .collect()
    }

    /// Whether every dot seen is covered by the contiguous prefixes (no gaps
    /// from out-of-order delivery).
    pub fn is_compact(&self) -> bool {
        self.dots.iter().all(|d| d.extra.is_empty())
    }

    /// Every dot seen by either context.
    pub fn merge(&mut self, other: &CausalContext) {
        let map = self.import_actors(other);
        self.merge_mapped(other, &map);
    }

    /// Causal-stability compaction: `stable` holds, per actor, a counter up
    /// to which every peer (this one included) has seen every dot. Those dots
    /// can no longer arrive as news, so the gaps below them are filled and
    /// their intervals dropped.
    pub fn gc(&mut self, stable: &VectorClock) {
        for (id, counter) in stable.iter() {
            if let Some(i) = self.actors.lookup(&id) {
                self.dots[i as usize].fill_to(counter);
            }
        }
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.actors.heap_bytes()
            + self.dots.capacity() * size_of::<ActorDots>()
            + self
                .dots
                .iter()
                .map(|d| d.extra.capacity() * 16)
                .sum::<usize>()
    }

    // ---- crate-internal, index-based API used by the dot stores ----

    pub(crate) fn intern(&mut self, actor: NodeId) -> u32 {
        let i = self.actors.intern(actor);
        if i as usize == self.dots.len() {
            self.dots.push(ActorDots::default());
        }
        i
    }

    pub(crate) fn actor_index(&self, actor: &NodeId) -> Option<u32> {
        self.actors.lookup(actor)
    }

    pub(crate) fn actor_id(&self, index: u32) -> NodeId {
        self.actors.id(index)
    }

    pub(crate) fn actor_count(&self) -> usize {
        self.actors.len()
    }

    #[inline]
    pub(crate) fn contains_local(&self, dot: LocalDot) -> bool {
        self.dots[dot.actor() as usize].contains(dot.counter())
    }

    pub(crate) fn insert_local(&mut self, dot: LocalDot) {
        self.dots[dot.actor() as usize].insert(dot.counter());
    }

    /// A fresh dot for `actor`, recorded as seen.
    pub(crate) fn next_local(&mut self, actor: NodeId) -> LocalDot {
        let i = self.intern(actor);
        let counter = self.dots[i as usize].max().saturating_add(1);
        self.dots[i as usize].insert(counter);
        LocalDot::new(i, counter)
    }

    /// Interns `other`'s actors here; returns the map from `other`'s indexes
    /// to ours.
    pub(crate) fn import_actors(&mut self, other: &CausalContext) -> Vec<u32> {
        (0..other.actors.len())
            .map(|i| self.intern(other.actors.id(i as u32)))
            .collect()
    }

    /// The map from our indexes to `other`'s ([`NO_ACTOR`] where unknown).
    pub(crate) fn index_map_to(&self, other: &CausalContext) -> Vec<u32> {
        (0..self.actors.len())
            .map(|i| {
                other
                    .actors
                    .lookup(&self.actors.id(i as u32))
                    .unwrap_or(NO_ACTOR)
            })
            .collect()
    }

    /// Whether `other` saw `dot`, where `dot` uses our indexes and `to_other`
    /// is [`CausalContext::index_map_to`] `other`.
    #[inline]
    pub(crate) fn other_contains(other: &CausalContext, to_other: &[u32], dot: LocalDot) -> bool {
        let j = to_other[dot.actor() as usize];
        j != NO_ACTOR && other.dots[j as usize].contains(dot.counter())
    }

    /// Per actor index, the counter `seen` acknowledges for that actor.
    pub(crate) fn bounds_in(&self, seen: &VectorClock) -> Vec<u64> {
        (0..self.actors.len())
            .map(|i| seen.get(&self.actors.id(i as u32)))
            .collect()
    }

    /// A copy of this context (same actor indexes) without the dots
    /// `holes`, which must be dots of this context.
    pub(crate) fn without_local(&self, holes: &[LocalDot]) -> CausalContext {
        let mut by_actor: Vec<Vec<u64>> = vec![Vec::new(); self.dots.len()];
        for d in holes {
            by_actor[d.actor() as usize].push(d.counter());
        }
        let dots = self
            .dots
            .iter()
            .zip(&mut by_actor)
            .map(|(dots, holes)| {
                if holes.is_empty() {
                    return dots.clone();
                }
                holes.sort_unstable();
                holes.dedup();
                dots.without(holes)
            })
            .collect();
        CausalContext {
            actors: self.actors.clone(),
            dots,
        }
    }

    /// The dots of this context that `seen` does not cover.
    pub fn above(&self, seen: &VectorClock) -> CausalContext {
        let bounds = self.bounds_in(seen);
        CausalContext {
            actors: self.actors.clone(),
            dots: self
                .dots
                .iter()
                .zip(bounds)
                .map(|(dots, bound)| dots.above(bound))
                .collect(),
        }
    }

    /// How many dots `other` holds that this context does not; `to_mine`
    /// maps `other`'s actor indexes to ours (every actor imported).
    pub(crate) fn count_unseen(&self, other: &CausalContext, to_mine: &[u32]) -> u64 {
        other
            .dots
            .iter()
            .zip(to_mine)
            .map(|(theirs, &i)| theirs.count() - theirs.count_common(&self.dots[i as usize]))
            .sum()
    }

    pub(crate) fn merge_mapped(&mut self, other: &CausalContext, map: &[u32]) {
        for (j, dots) in other.dots.iter().enumerate() {
            self.dots[map[j] as usize].union(dots);
        }
    }

    /// The canonical order of actors: our indexes sorted by node id, only
    /// actors with at least one dot. Returns (sorted indexes, position of
    /// each of our indexes in that order or [`NO_ACTOR`]).
    pub(crate) fn canonical_order(&self) -> (Vec<u32>, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.actors.len() as u32)
            .filter(|&i| !self.dots[i as usize].is_empty())
            .collect();
        order.sort_unstable_by_key(|&i| self.actors.id(i));
        let mut position = vec![NO_ACTOR; self.actors.len()];
        for (p, &i) in order.iter().enumerate() {
            position[i as usize] = p as u32;
        }
        (order, position)
    }

    /// Writes the context in canonical order; returns the position map (see
    /// [`CausalContext::canonical_order`]) for encoding dots.
    pub(crate) fn encode_canonical(&self, w: &mut Writer) -> Vec<u32> {
        let (order, position) = self.canonical_order();
        w.put_len(order.len());
        for &i in &order {
            let dots = &self.dots[i as usize];
            w.put(&self.actors.id(i));
            w.put(&dots.base);
            w.put(&dots.extra);
        }
        position
    }
}

impl PartialEq for CausalContext {
    /// Equal when the same dots were seen, whatever the interning order.
    fn eq(&self, other: &Self) -> bool {
        self.encode_body() == other.encode_body()
    }
}

impl Eq for CausalContext {}

impl Encode for CausalContext {
    fn encode(&self, w: &mut Writer) {
        self.encode_canonical(w);
    }
}

impl Decode for CausalContext {
    /// Actor indexes after decoding equal positions in the canonical order.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = r.len("causal context")?;
        let mut out = Self::new();
        let mut last: Option<NodeId> = None;
        for _ in 0..count {
            let offset = r.offset();
            let id: NodeId = r.get()?;
            let base: u64 = r.get()?;
            let extra: Vec<(u64, u64)> = r.get()?;
            if last.is_some_and(|l| l >= id) {
                return Err(DecodeError::NonCanonical {
                    offset,
                    reason: "causal context actors must be strictly increasing",
                });
            }
            last = Some(id);
            let dots = ActorDots { base, extra };
            check_actor_dots(&dots, offset)?;
            out.intern(id);
            *out.dots.last_mut().ok_or(DecodeError::Invalid {
                what: "causal context",
                reason: "actor not interned",
            })? = dots;
        }
        Ok(out)
    }
}

fn check_actor_dots(dots: &ActorDots, offset: usize) -> Result<(), DecodeError> {
    let non_canonical = |reason| Err(DecodeError::NonCanonical { offset, reason });
    if dots.is_empty() {
        return non_canonical("causal context omits actors with no dots");
    }
    let mut floor = dots.base.saturating_add(1);
    for &(start, end) in &dots.extra {
        if start <= floor || end < start || dots.base == u64::MAX {
            return non_canonical("intervals must be sorted, disjoint and not adjacent");
        }
        floor = end.saturating_add(1);
        if end == u64::MAX {
            floor = u64::MAX;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn node(b: u8) -> NodeId {
        NodeId::new([b; 32])
    }

    #[test]
    fn compresses_in_order_and_out_of_order_delivery() {
        let mut ctx = CausalContext::new();
        for c in [1, 2, 3, 5, 7, 6] {
            ctx.insert(Dot::new(node(1), c));
        }
        assert!(ctx.contains(&Dot::new(node(1), 3)));
        assert!(!ctx.contains(&Dot::new(node(1), 4)));
        assert!(ctx.contains(&Dot::new(node(1), 7)));
        assert!(!ctx.is_compact());
        ctx.insert(Dot::new(node(1), 4));
        assert!(ctx.is_compact());
        assert_eq!(ctx.vector().get(&node(1)), 7);
        assert_eq!(ctx.next_dot(node(1)), Dot::new(node(1), 8));
    }

    #[test]
    fn gc_fills_stable_gaps() {
        let mut ctx = CausalContext::new();
        ctx.insert(Dot::new(node(1), 1));
        ctx.insert(Dot::new(node(1), 4));
        ctx.insert(Dot::new(node(1), 9));
        let stable: VectorClock = [(node(1), 5)].into_iter().collect();
        ctx.gc(&stable);
        assert_eq!(ctx.vector().get(&node(1)), 5);
        assert!(ctx.contains(&Dot::new(node(1), 9)));
        assert!(!ctx.contains(&Dot::new(node(1), 8)));
    }

    #[test]
    fn bad_intervals_are_refused() {
        let mut w = Writer::new();
        w.put_len(1);
        w.put(&node(1));
        w.put(&2u64);
        w.put(&vec![(3u64, 4u64)]); // adjacent to the base: not canonical
        assert!(CausalContext::from_body(w.as_bytes()).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn without_removes_exactly_the_holes(
            dots in proptest::collection::vec(1u64..40, 0..40),
            holes in proptest::collection::vec(0usize..40, 0..10),
        ) {
            let mut ctx = CausalContext::new();
            for &c in &dots { ctx.insert(Dot::new(node(1), c)); }
            let holes: Vec<LocalDot> = holes
                .iter()
                .filter_map(|&i| dots.get(i))
                .map(|&c| LocalDot::new(0, c))
                .collect();
            let cut = ctx.without_local(&holes);
            for c in 1..42u64 {
                let expect = dots.contains(&c) && !holes.iter().any(|h| h.counter() == c);
                prop_assert_eq!(cut.contains(&Dot::new(node(1), c)), expect);
            }
            let seen: VectorClock = [(node(1), holes.len() as u64 * 3)].into_iter().collect();
            let high = ctx.above(&seen);
            for c in 1..42u64 {
                let expect = dots.contains(&c) && c > seen.get(&node(1));
                prop_assert_eq!(high.contains(&Dot::new(node(1), c)), expect);
            }
            let bytes = high.to_bytes();
            prop_assert_eq!(CausalContext::from_bytes(&bytes).unwrap().to_bytes(), bytes);
            // Canonical after the cut: it round-trips byte for byte.
            let bytes = cut.to_bytes();
            prop_assert_eq!(CausalContext::from_bytes(&bytes).unwrap().to_bytes(), bytes);
        }

        #[test]
        fn behaves_like_a_set_of_dots(
            a in proptest::collection::vec((0u8..3, 1u64..40), 0..40),
            b in proptest::collection::vec((0u8..3, 1u64..40), 0..40),
        ) {
            let build = |dots: &[(u8, u64)]| {
                let mut ctx = CausalContext::new();
                for &(n, c) in dots { ctx.insert(Dot::new(node(n), c)); }
                ctx
            };
            let mut x = build(&a);
            let y = build(&b);
            x.merge(&y);
            let model: BTreeSet<_> = a.iter().chain(&b).copied().collect();
            for n in 0..3u8 {
                for c in 1..42u64 {
                    prop_assert_eq!(x.contains(&Dot::new(node(n), c)), model.contains(&(n, c)));
                }
            }
            let decoded = CausalContext::from_bytes(&x.to_bytes()).unwrap();
            prop_assert_eq!(&decoded, &x);
            let mut z = build(&b);
            z.merge(&build(&a));
            prop_assert_eq!(z, x);
            let (mut xa, yb) = (build(&a), build(&b));
            let map = xa.import_actors(&yb);
            let sa: BTreeSet<_> = a.iter().copied().collect();
            let unseen = b.iter().collect::<BTreeSet<_>>().into_iter().filter(|d| !sa.contains(d)).count();
            prop_assert_eq!(xa.count_unseen(&yb, &map), unseen as u64);
        }
    }
}
