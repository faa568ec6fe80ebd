//! Registers: last-writer-wins and multi-value.

use crate::actor::{Dot, LocalDot, NO_ACTOR, fast_hasher};
use crate::dotstore::Join;
use crate::{CausalContext, Crdt, DeltaCrdt};
use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};
use chrysalis_types::{NodeId, Timestamp};
use std::cmp::Ordering;
use std::collections::HashSet;

/// What orders writes to a [`LWWRegister`]: the writer's hybrid logical
/// time, then its node id. Two writes by different nodes never tie; one
/// node never issues the same timestamp twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteMarker {
    /// When the write happened, on the writer's hybrid logical clock.
    pub at: Timestamp,
    /// Who wrote it.
    pub actor: NodeId,
}

chrysalis_types::impl_codec!(WriteMarker { at, actor });

/// A last-writer-wins register: the write with the greatest
/// [`WriteMarker`] is the value.
///
/// Should a faulty node reuse a marker for two different values, the larger
/// canonical encoding wins, so merge still commutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LWWRegister<V> {
    current: Option<(WriteMarker, V)>,
}

impl<V> Default for LWWRegister<V> {
    fn default() -> Self {
        Self { current: None }
    }
}

impl<V: Clone + Encode> LWWRegister<V> {
    /// An unset register.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current value.
    pub fn get(&self) -> Option<&V> {
        self.current.as_ref().map(|(_, v)| v)
    }

    /// The marker of the current value.
    pub fn marker(&self) -> Option<WriteMarker> {
        self.current.as_ref().map(|(m, _)| *m)
    }

    /// Writes `value` at `at` as `actor`; returns the delta. A write older
    /// than the current value loses, as it would on any other replica.
    pub fn set(&mut self, value: V, at: Timestamp, actor: NodeId) -> LWWRegister<V> {
        let delta = Self {
            current: Some((WriteMarker { at, actor }, value)),
        };
        self.merge(&delta);
        delta
    }

    fn wins(new: &(WriteMarker, V), old: &(WriteMarker, V)) -> bool {
        match new.0.cmp(&old.0) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => new.1.encode_body() > old.1.encode_body(),
        }
    }
}

impl<V: Clone + Encode> Crdt for LWWRegister<V> {
    fn merge(&mut self, other: &Self) {
        if let Some(theirs) = &other.current {
            let take = self
                .current
                .as_ref()
                .is_none_or(|mine| Self::wins(theirs, mine));
            if take {
                self.current = Some(theirs.clone());
            }
        }
    }
}

impl<V: Clone + Encode + Decode> DeltaCrdt for LWWRegister<V> {
    type Delta = LWWRegister<V>;
    const KIND: &'static str = "lww-register";

    fn apply_delta(&mut self, delta: &Self::Delta) {
        self.merge(delta);
    }
}

impl<V: Encode> Encode for LWWRegister<V> {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.current);
    }
}

impl<V: Decode> Decode for LWWRegister<V> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self { current: r.get()? })
    }
}

/// A multi-value register: concurrent writes stay side by side as siblings;
/// a write that has seen them replaces them all.
#[derive(Debug, Clone)]
pub struct MVRegister<V> {
    ctx: CausalContext,
    values: Vec<(LocalDot, V)>,
}

impl<V: Clone + Encode + Decode> Default for MVRegister<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Clone + Encode + Decode> MVRegister<V> {
    /// An unset register.
    pub fn new() -> Self {
        Self {
            ctx: CausalContext::new(),
            values: Vec::new(),
        }
    }

    /// Writes `value` as `actor`, replacing every sibling seen here; returns
    /// the delta.
    pub fn write(&mut self, actor: NodeId, value: V) -> MVRegister<V> {
        let dot = self.ctx.next_local(actor);
        let mut delta = Self::new();
        for (old, _) in &self.values {
            delta.ctx.insert(self.public_dot(*old));
        }
        let delta_dot = LocalDot::new(delta.ctx.intern(actor), dot.counter());
        delta.ctx.insert_local(delta_dot);
        delta.values.push((delta_dot, value.clone()));
        self.values.clear();
        self.values.push((dot, value));
        delta
    }

    /// The siblings with the dots of the writes that made them, in
    /// increasing dot order.
    pub fn siblings(&self) -> Vec<(Dot, &V)> {
        let mut out: Vec<(Dot, &V)> = self
            .values
            .iter()
            .map(|(d, v)| (self.public_dot(*d), v))
            .collect();
        out.sort_unstable_by_key(|a| a.0);
        out
    }

    /// The sibling values, in increasing dot order.
    pub fn values(&self) -> Vec<&V> {
        self.siblings().into_iter().map(|(_, v)| v).collect()
    }

    /// Whether concurrent writes are waiting to be resolved.
    pub fn is_conflicted(&self) -> bool {
        self.values.len() > 1
    }

    /// The dots seen by this replica.
    pub fn context(&self) -> &CausalContext {
        &self.ctx
    }

    fn public_dot(&self, dot: LocalDot) -> Dot {
        Dot::new(self.ctx.actor_id(dot.actor()), dot.counter())
    }
}

impl<V: Clone + Encode + Decode> Crdt for MVRegister<V> {
    fn merge(&mut self, other: &Self) {
        let to_mine = self.ctx.import_actors(&other.ctx);
        let join = Join::new(&self.ctx, &other.ctx, &to_mine, None);
        join.join_values(&mut self.values, &other.values);
        self.ctx.merge_mapped(&other.ctx, &to_mine);
    }
}

impl<V: Clone + Encode + Decode> DeltaCrdt for MVRegister<V> {
    type Delta = MVRegister<V>;
    const KIND: &'static str = "mv-register";

    fn apply_delta(&mut self, delta: &Self::Delta) {
        self.merge(delta);
    }
}

/// Writes dot-tagged values in canonical order (by actor position, counter).
pub(crate) fn encode_tagged<V: Encode>(w: &mut Writer, position: &[u32], values: &[(LocalDot, V)]) {
    let mut sorted: Vec<((u32, u64), &V)> = values
        .iter()
        .map(|(d, v)| ((position[d.actor() as usize], d.counter()), v))
        .collect();
    sorted.sort_unstable_by_key(|(d, _)| *d);
    w.put_len(sorted.len());
    for (dot, v) in sorted {
        w.put(&dot);
        w.put(v);
    }
}

/// Reads values written by [`encode_tagged`]; `seen` catches a dot reused
/// across keys of one store.
pub(crate) fn decode_tagged<V: Decode>(
    r: &mut Reader<'_>,
    ctx: &CausalContext,
    seen: &mut HashSet<LocalDot, crate::actor::FastHasher>,
) -> Result<Vec<(LocalDot, V)>, DecodeError> {
    let count = r.len("register values")?;
    let mut out = Vec::with_capacity(count.min(r.remaining()));
    let mut last: Option<(u32, u64)> = None;
    for _ in 0..count {
        let offset = r.offset();
        let (actor, counter): (u32, u64) = r.get()?;
        if last.is_some_and(|l| l >= (actor, counter)) {
            return Err(DecodeError::NonCanonical {
                offset,
                reason: "register dots must be strictly increasing",
            });
        }
        last = Some((actor, counter));
        let dot = LocalDot::new(actor, counter);
        if actor as usize >= ctx.actor_count() || actor == NO_ACTOR || !ctx.contains_local(dot) {
            return Err(DecodeError::Invalid {
                what: "register",
                reason: "a dot is missing from the causal context",
            });
        }
        if !seen.insert(dot) {
            return Err(DecodeError::Invalid {
                what: "register",
                reason: "a dot tags two values",
            });
        }
        out.push((dot, r.get()?));
    }
    Ok(out)
}

impl<V: Encode> Encode for MVRegister<V> {
    fn encode(&self, w: &mut Writer) {
        let position = self.ctx.encode_canonical(w);
        encode_tagged(w, &position, &self.values);
    }
}

impl<V: Decode> Decode for MVRegister<V> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ctx: CausalContext = r.get()?;
        let mut seen = HashSet::with_hasher(fast_hasher());
        let values = decode_tagged(r, &ctx, &mut seen)?;
        Ok(Self { ctx, values })
    }
}

impl<V: Encode> PartialEq for MVRegister<V> {
    fn eq(&self, other: &Self) -> bool {
        self.encode_body() == other.encode_body()
    }
}

impl<V: Encode> Eq for MVRegister<V> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(b: u8) -> NodeId {
        NodeId::new([b; 32])
    }

    #[test]
    fn lww_orders_by_time_then_actor() {
        let mut a = LWWRegister::new();
        let mut b = LWWRegister::new();
        let t = Timestamp::new(10, 0);
        let da = a.set("a".to_string(), t, node(1));
        let db = b.set("b".to_string(), t, node(2));
        a.merge(&db);
        b.merge(&da);
        assert_eq!(a, b);
        assert_eq!(a.get().map(String::as_str), Some("b"));
        let stale = a.set("old".to_string(), Timestamp::new(9, 0), node(9));
        assert_eq!(a.get().map(String::as_str), Some("b"));
        assert_eq!(stale.get().map(String::as_str), Some("old"));
    }

    #[test]
    fn mv_keeps_concurrent_writes_and_collapses_on_a_later_one() {
        let mut a = MVRegister::new();
        let mut b = MVRegister::new();
        let da = a.write(node(1), 1u64);
        let db = b.write(node(2), 2u64);
        a.apply_delta(&db);
        b.apply_delta(&da);
        assert_eq!(a, b);
        assert_eq!(a.values(), vec![&1, &2]);
        assert!(a.is_conflicted());
        let d = a.write(node(1), 3);
        b.apply_delta(&d);
        assert_eq!(b.values(), vec![&3]);
        assert_eq!(MVRegister::<u64>::from_bytes(&b.to_bytes()).unwrap(), b);
    }
}
