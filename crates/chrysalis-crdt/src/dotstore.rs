//! The join of dot stores, shared by the set, the multi-value register and
//! the skill map.
//!
//! A dot store pairs a [`CausalContext`] (every dot seen) with live dots
//! (each tagging a value). Joining two stores keeps a live dot when both
//! sides hold it, or when one side holds it and the other has never seen it;
//! a dot one side has seen but no longer holds was removed there, and stays
//! removed (Almeida, Shoker, Baquero, "Delta State Replicated Data Types",
//! 2018, §6). This is what makes the set add-wins without tombstones.

use crate::CausalContext;
use crate::actor::LocalDot;

/// Everything a join needs to compare dots of two stores, in our index space.
pub(crate) struct Join<'a> {
    mine: &'a CausalContext,
    theirs: &'a CausalContext,
    /// Their actor indexes to ours.
    to_mine: &'a [u32],
    /// Our actor indexes to theirs, when precomputed (full-state joins);
    /// otherwise looked up per dot (delta joins, to stay proportional to
    /// the delta).
    to_theirs: Option<&'a [u32]>,
}

impl<'a> Join<'a> {
    pub(crate) fn new(
        mine: &'a CausalContext,
        theirs: &'a CausalContext,
        to_mine: &'a [u32],
        to_theirs: Option<&'a [u32]>,
    ) -> Self {
        Self {
            mine,
            theirs,
            to_mine,
            to_theirs,
        }
    }

    /// One of their dots, in our index space.
    #[inline]
    pub(crate) fn to_mine(&self, dot: LocalDot) -> LocalDot {
        dot.remap(self.to_mine)
    }

    /// Whether we had seen `dot` (ours) before this join.
    #[inline]
    pub(crate) fn mine_seen(&self, dot: LocalDot) -> bool {
        self.mine.contains_local(dot)
    }

    /// Whether they have seen `dot` (in our index space).
    #[inline]
    pub(crate) fn theirs_seen(&self, dot: LocalDot) -> bool {
        match self.to_theirs {
            Some(map) => CausalContext::other_contains(self.theirs, map, dot),
            None => self
                .theirs
                .actor_index(&self.mine.actor_id(dot.actor()))
                .is_some_and(|j| self.theirs.contains_local(LocalDot::new(j, dot.counter()))),
        }
    }

    /// Joins the dots of one key: `mine` in our space, `theirs` already
    /// translated to our space. Writes the result to `out`.
    pub(crate) fn join_dots(
        &self,
        mine: &[LocalDot],
        theirs: &[LocalDot],
        out: &mut Vec<LocalDot>,
    ) {
        out.clear();
        out.extend(
            mine.iter()
                .copied()
                .filter(|d| theirs.contains(d) || !self.theirs_seen(*d)),
        );
        out.extend(theirs.iter().copied().filter(|t| !self.mine_seen(*t)));
    }

    /// Joins the dot-tagged values of one key (a multi-value register):
    /// `theirs` is in their index space.
    pub(crate) fn join_values<V: Clone>(
        &self,
        mine: &mut Vec<(LocalDot, V)>,
        theirs: &[(LocalDot, V)],
    ) {
        mine.retain(|(d, _)| {
            theirs.iter().any(|(t, _)| self.to_mine(*t) == *d) || !self.theirs_seen(*d)
        });
        for (t, v) in theirs {
            let t = self.to_mine(*t);
            if !self.mine_seen(t) {
                mine.push((t, v.clone()));
            }
        }
    }
}
