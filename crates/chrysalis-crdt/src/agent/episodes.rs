//! Episode memory: what an agent lived through, with causal links.
//!
//! A grow-only map from [`EpisodeId`] to [`Episode`], so an episode heard of
//! twice is stored once. Each episode also carries the dot of the node that
//! recorded it, so a peer's version vector says exactly which episodes it
//! lacks ([`EpisodeMemory::delta_since`]). Iteration follows the causal
//! links: an episode comes after the episodes it cites.

use crate::actor::Dot;
use crate::{CausalContext, VectorClock};
use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};
use chrysalis_types::{EpisodeId, Timestamp};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// The longest episode summary accepted, in bytes.
pub const MAX_SUMMARY_BYTES: usize = 64 << 10;

/// One remembered episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    /// Its id, random and fixed at creation.
    pub id: EpisodeId,
    /// When it happened, on the recorder's hybrid logical clock.
    pub at: Timestamp,
    /// The episodes that led to it, sorted.
    pub causes: Vec<EpisodeId>,
    /// What happened.
    pub summary: String,
}

impl Episode {
    /// An episode with no causes.
    pub fn new(id: EpisodeId, at: Timestamp, summary: impl Into<String>) -> Self {
        Self {
            id,
            at,
            causes: Vec::new(),
            summary: summary.into(),
        }
    }

    /// The same episode, also caused by `cause`.
    pub fn caused_by(mut self, cause: EpisodeId) -> Self {
        if let Err(i) = self.causes.binary_search(&cause) {
            self.causes.insert(i, cause);
        }
        self
    }
}

impl Encode for Episode {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.id);
        w.put(&self.at);
        w.put(&self.causes);
        w.put(&self.summary);
    }
}

impl Decode for Episode {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        let episode = Self {
            id: r.get()?,
            at: r.get()?,
            causes: r.get()?,
            summary: r.get()?,
        };
        if episode.causes.windows(2).any(|p| p[0] >= p[1]) {
            return Err(DecodeError::NonCanonical {
                offset,
                reason: "episode causes must be strictly increasing",
            });
        }
        if episode.summary.len() > MAX_SUMMARY_BYTES || episode.causes.contains(&episode.id) {
            return Err(DecodeError::Invalid {
                what: "episode",
                reason: "summary too long, or the episode cites itself",
            });
        }
        Ok(episode)
    }
}

/// Episodes, replicated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpisodeMemory {
    ctx: CausalContext,
    episodes: BTreeMap<EpisodeId, (Dot, Episode)>,
}

impl EpisodeMemory {
    /// No episodes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the episode `id` is known.
    pub fn contains(&self, id: &EpisodeId) -> bool {
        self.episodes.contains_key(id)
    }

    /// The episode `id`.
    pub fn get(&self, id: &EpisodeId) -> Option<&Episode> {
        self.episodes.get(id).map(|(_, e)| e)
    }

    /// How many episodes.
    pub fn len(&self) -> usize {
        self.episodes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.episodes.is_empty()
    }

    /// Records `episode` as `actor` (a no-op for an id already known);
    /// returns the delta. Causes are checked by the caller.
    pub(crate) fn record(&mut self, actor: chrysalis_types::NodeId, episode: Episode) -> Self {
        let mut delta = Self::new();
        if self.episodes.contains_key(&episode.id) {
            return delta;
        }
        let dot = self.ctx.next_dot(actor);
        delta.ctx.insert(dot);
        delta.episodes.insert(episode.id, (dot, episode.clone()));
        self.episodes.insert(episode.id, (dot, episode));
        delta
    }

    /// The episodes a peer that acknowledged `seen` lacks, with every dot
    /// seen here that `seen` does not cover as the context (that includes
    /// the dots of records that lost to another record of the same id, so
    /// the peer's context ends as the join's).
    pub fn delta_since(&self, seen: &VectorClock) -> Self {
        let mut delta = Self {
            ctx: self.ctx.above(seen),
            episodes: BTreeMap::new(),
        };
        for (id, (dot, episode)) in &self.episodes {
            if dot.counter > seen.get(&dot.actor) {
                delta.episodes.insert(*id, (*dot, episode.clone()));
            }
        }
        delta
    }

    /// The version vector to acknowledge to peers.
    pub fn vector(&self) -> VectorClock {
        self.ctx.vector()
    }

    /// Causal-stability compaction of the context (see [`CausalContext::gc`]).
    pub fn gc(&mut self, stable: &VectorClock) {
        self.ctx.gc(stable);
    }

    /// Episodes in causal order: every episode after the known episodes it
    /// cites; among episodes free to go next, earliest (timestamp, id)
    /// first. Causes not (yet) known are ignored; a cycle, which only forged
    /// ids could make, is broken by (timestamp, id) order rather than
    /// dropping episodes.
    pub fn causal_order(&self) -> Vec<&Episode> {
        let mut waiting: BTreeMap<EpisodeId, usize> = BTreeMap::new();
        let mut children: BTreeMap<EpisodeId, Vec<EpisodeId>> = BTreeMap::new();
        let mut ready = BinaryHeap::new();
        for (id, (_, e)) in &self.episodes {
            let known: Vec<_> = e.causes.iter().filter(|c| self.contains(c)).collect();
            for c in &known {
                children.entry(**c).or_default().push(*id);
            }
            if known.is_empty() {
                ready.push(Reverse((e.at, *id)));
            } else {
                waiting.insert(*id, known.len());
            }
        }
        let mut out = Vec::with_capacity(self.episodes.len());
        loop {
            while let Some(Reverse((_, id))) = ready.pop() {
                out.push(&self.episodes[&id].1);
                for child in children.get(&id).into_iter().flatten() {
                    if let Some(n) = waiting.get_mut(child) {
                        *n -= 1;
                        if *n == 0 {
                            waiting.remove(child);
                            ready.push(Reverse((self.episodes[child].1.at, *child)));
                        }
                    }
                }
            }
            // Only a cycle leaves episodes waiting: release the earliest.
            let Some(next) = waiting
                .keys()
                .min_by_key(|id| (self.episodes[*id].1.at, **id))
                .copied()
            else {
                break;
            };
            waiting.remove(&next);
            ready.push(Reverse((self.episodes[&next].1.at, next)));
        }
        out
    }

    /// Joins `other`: the union of episodes. Should two nodes have recorded
    /// the same id, the record with the greater (dot, encoding) is kept on
    /// every replica.
    pub(crate) fn join(&mut self, other: &Self) {
        for (id, theirs) in &other.episodes {
            match self.episodes.get_mut(id) {
                None => {
                    self.episodes.insert(*id, theirs.clone());
                }
                Some(mine) => {
                    if (theirs.0, theirs.1.encode_body()) > (mine.0, mine.1.encode_body()) {
                        *mine = theirs.clone();
                    }
                }
            }
        }
        self.ctx.merge(&other.ctx);
    }
}

impl Encode for EpisodeMemory {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.ctx);
        w.put_len(self.episodes.len());
        for (dot, episode) in self.episodes.values() {
            w.put(dot);
            w.put(episode);
        }
    }
}

impl Decode for EpisodeMemory {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ctx: CausalContext = r.get()?;
        let count = r.len("episodes")?;
        let mut episodes = BTreeMap::new();
        for _ in 0..count {
            let offset = r.offset();
            let dot: Dot = r.get()?;
            let episode: Episode = r.get()?;
            if episodes
                .last_key_value()
                .is_some_and(|(last, _)| *last >= episode.id)
            {
                return Err(DecodeError::NonCanonical {
                    offset,
                    reason: "episodes must be sorted by id",
                });
            }
            if !ctx.contains(&dot) {
                return Err(DecodeError::Invalid {
                    what: "episode memory",
                    reason: "an episode's dot is missing from the causal context",
                });
            }
            episodes.insert(episode.id, (dot, episode));
        }
        Ok(Self { ctx, episodes })
    }
}
