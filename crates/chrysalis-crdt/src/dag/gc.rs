//! Collecting the history every peer holds.
//!
//! A DAG grows with every append, and merge is union, so without help its
//! history is kept forever. Once every peer has acknowledged its heads, the
//! nodes all of them hold are settled: no peer will send them, and no node
//! yet to be written can cite them (a new node cites its writer's heads,
//! and every writer's heads are at or above what it acknowledged).
//! [`MerkleDag::gc`] drops the settled nodes that only settled nodes cite,
//! keeping the frontier of the settled part, whose cited parents become the
//! DAG's floor.

use super::{Hash, MerkleDag};
use crate::actor::{FastHasher, fast_hasher};
use chrysalis_types::codec::{Decode, Encode};
use std::collections::{HashMap, HashSet};

impl<V: Clone + Encode + Decode> MerkleDag<V> {
    /// Drops the history every peer holds; returns how many nodes went.
    ///
    /// `acknowledged` holds, for **every** peer that may send this replica
    /// nodes (this one included or not), heads that peer has acknowledged
    /// holding. A node is *settled* when it is an ancestor-or-self of some
    /// acknowledged head of each peer. A settled node is dropped when at
    /// least one node cites it and every node citing it is settled: what
    /// remains is every unsettled node, the frontier of the settled part,
    /// and the settled nodes an unsettled node cites (a peer that lacks the
    /// unsettled node needs its parents to accept it, so no peer drops
    /// them either).
    ///
    /// Every acknowledged head must be known here (held, or on the floor):
    /// a peer's nodes written before its acknowledgement are in its
    /// acknowledged history, and one written after cites heads at or above
    /// it, so knowing that history means knowing every node that could
    /// still cite a settled one. If a head is unknown, nothing is collected.
    ///
    /// Heads, and every node a peer could still be missing, are unchanged;
    /// merges and deltas with peers that acknowledged their heads give the
    /// same heads as without the collection.
    pub fn gc<'a>(&mut self, acknowledged: impl IntoIterator<Item = &'a [Hash]>) -> usize {
        let settled = self.settled(acknowledged);
        if settled.is_empty() {
            return 0;
        }
        let mut cited_by_settled: HashSet<Hash, FastHasher> = HashSet::with_hasher(fast_hasher());
        let mut cited_by_unsettled: HashSet<Hash, FastHasher> = HashSet::with_hasher(fast_hasher());
        for (hash, node) in &self.nodes {
            let into = if settled.contains(hash) {
                &mut cited_by_settled
            } else {
                &mut cited_by_unsettled
            };
            into.extend(node.parents().iter().copied());
        }
        let before = self.nodes.len();
        self.nodes.retain(|hash, _| {
            !(settled.contains(hash)
                && cited_by_settled.contains(hash)
                && !cited_by_unsettled.contains(hash))
        });
        self.floor = self
            .nodes
            .values()
            .flat_map(|n| n.parents().iter())
            .filter(|p| !self.nodes.contains_key(p))
            .copied()
            .collect();
        self.nodes.shrink_to_fit();
        before - self.nodes.len()
    }

    /// The nodes here that every peer's acknowledged heads reach.
    fn settled<'a>(
        &self,
        acknowledged: impl IntoIterator<Item = &'a [Hash]>,
    ) -> HashSet<Hash, FastHasher> {
        let mut reached_by: HashMap<Hash, usize, FastHasher> = HashMap::with_hasher(fast_hasher());
        let mut peers = 0;
        for heads in acknowledged {
            peers += 1;
            let mut seen: HashSet<Hash, FastHasher> = HashSet::with_hasher(fast_hasher());
            if heads
                .iter()
                .any(|h| !self.nodes.contains_key(h) && !self.floor.contains(h))
            {
                return HashSet::with_hasher(fast_hasher());
            }
            let mut stack: Vec<Hash> = heads.to_vec();
            while let Some(hash) = stack.pop() {
                let Some(node) = self.nodes.get(&hash) else {
                    continue;
                };
                if seen.insert(hash) {
                    *reached_by.entry(hash).or_default() += 1;
                    stack.extend_from_slice(node.parents());
                }
            }
        }
        reached_by
            .into_iter()
            .filter(|&(_, n)| peers > 0 && n == peers)
            .map(|(h, _)| h)
            .collect()
    }

    /// Parents cited here whose nodes were collected.
    pub fn floor(&self) -> impl Iterator<Item = &Hash> + '_ {
        self.floor.iter()
    }
}
