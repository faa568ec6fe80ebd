//! Queries over the ledger: by origin, kind, time range, and the ancestors
//! or descendants of a node, paged by an opaque [`Cursor`].
//!
//! The indexes live in memory and are rebuilt from the log when the ledger
//! opens (a few hundred nanoseconds per entry); they hold entry indexes only,
//! never payloads, which stay in storage.

use crate::node::{TraceKind, TraceNode};
use chrysalis_types::{AgentId, Timestamp, TraceId};
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Bound;

/// Hashes a [`TraceId`] by its first eight bytes: ids are SHA-256 outputs,
/// already uniform, so SipHash would only add cost. (Ids are content hashes
/// chosen by whoever builds a node; forcing collisions would need SHA-256
/// prefixes to collide, and costs only lookup speed, never correctness.)
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }
}

/// A map keyed by trace id.
pub(crate) type IdMap<V> = HashMap<TraceId, V, BuildHasherDefault<IdHasher>>;

/// The most entries one page may hold.
pub const MAX_PAGE_LIMIT: usize = 10_000;

/// What to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Query {
    /// Every entry recorded by this agent, in ledger order.
    ByOrigin(AgentId),
    /// Every entry of this kind, in ledger order.
    ByKind(TraceKind),
    /// Every entry with `from <= timestamp < to`, in timestamp order.
    TimeRange {
        /// Inclusive lower bound.
        from: Timestamp,
        /// Exclusive upper bound.
        to: Timestamp,
    },
    /// Every entry this node causally follows, transitively (not itself), in ledger order.
    Ancestors(TraceId),
    /// Every entry that causally follows this node, transitively (not itself), in ledger order.
    Descendants(TraceId),
}

/// Where the next page starts: returned with a page, passed back for the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    timestamp: Timestamp,
    index: u64,
}
chrysalis_types::impl_codec!(Cursor { timestamp, index });

/// One page of results: entries with their ledger index, and the cursor for
/// the next page (`None` when this page is the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// `(ledger index, node)` pairs.
    pub entries: Vec<(u64, TraceNode)>,
    /// Pass this back to get the next page.
    pub next: Option<Cursor>,
}

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The page limit is zero or above [`MAX_PAGE_LIMIT`].
    #[error("page limit {limit} is outside 1..={MAX_PAGE_LIMIT}")]
    BadLimit {
        /// The limit asked for.
        limit: usize,
    },
    /// The node named by an ancestry query is not in the ledger.
    #[error("no entry with id {0}")]
    UnknownId(TraceId),
    /// `from` is after `to`.
    #[error("time range starts at {from} after it ends at {to}")]
    BadRange {
        /// The lower bound.
        from: Timestamp,
        /// The upper bound.
        to: Timestamp,
    },
}

/// The in-memory indexes over committed entries.
#[derive(Debug, Default, Clone)]
pub(crate) struct Index {
    by_id: IdMap<u64>,
    by_origin: HashMap<AgentId, Vec<u64>>,
    by_kind: HashMap<TraceKind, Vec<u64>>,
    by_time: BTreeSet<(Timestamp, u64)>,
    parents: Vec<Box<[u64]>>,
    children: HashMap<u64, Vec<u64>>,
}

impl Index {
    pub(crate) fn len(&self) -> u64 {
        self.parents.len() as u64
    }

    pub(crate) fn position(&self, id: &TraceId) -> Option<u64> {
        self.by_id.get(id).copied()
    }

    /// Adds the entry at the next index. Its parents must already be indexed
    /// and its id must be new: the ledger checks both before committing.
    pub(crate) fn insert(&mut self, node: &TraceNode) {
        let index = self.len();
        let parents: Box<[u64]> = node
            .parents()
            .iter()
            .map(|p| {
                let at = self.by_id.get(p);
                *at.expect("parents are checked before an entry is committed")
            })
            .collect();
        for p in parents.iter() {
            self.children.entry(*p).or_default().push(index);
        }
        let previous = self.by_id.insert(node.id(), index);
        assert!(
            previous.is_none(),
            "duplicate ids are refused before commit"
        );
        self.by_origin.entry(node.origin()).or_default().push(index);
        match self.by_kind.get_mut(node.kind()) {
            Some(list) => list.push(index),
            None => {
                self.by_kind.insert(node.kind().clone(), vec![index]);
            }
        }
        self.by_time.insert((node.timestamp(), index));
        self.parents.push(parents);
    }

    /// The ledger indexes matching `query`, after `after`, at most `limit`,
    /// and the cursor for more.
    pub(crate) fn select(
        &self,
        query: &Query,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<(Vec<u64>, Option<Cursor>), QueryError> {
        if limit == 0 || limit > MAX_PAGE_LIMIT {
            return Err(QueryError::BadLimit { limit });
        }
        let mut hits: Vec<(Timestamp, u64)> = Vec::with_capacity(limit + 1);
        let start = after.map(|c| c.index);
        match query {
            Query::ByOrigin(origin) => {
                let list = self.by_origin.get(origin).map_or(&[][..], Vec::as_slice);
                page_sorted(list, start, limit, &mut hits);
            }
            Query::ByKind(kind) => {
                let list = self.by_kind.get(kind).map_or(&[][..], Vec::as_slice);
                page_sorted(list, start, limit, &mut hits);
            }
            Query::TimeRange { from, to } => {
                if from > to {
                    return Err(QueryError::BadRange {
                        from: *from,
                        to: *to,
                    });
                }
                let lower = match after {
                    Some(c) => Bound::Excluded((c.timestamp, c.index)),
                    None => Bound::Included((*from, 0)),
                };
                let upper = Bound::Excluded((*to, 0));
                hits.extend(self.by_time.range((lower, upper)).take(limit + 1));
            }
            Query::Ancestors(id) => {
                let set = self.closure(id, |i| self.parents[i as usize].to_vec())?;
                page_set(&set, start, limit, &mut hits);
            }
            Query::Descendants(id) => {
                let set =
                    self.closure(id, |i| self.children.get(&i).cloned().unwrap_or_default())?;
                page_set(&set, start, limit, &mut hits);
            }
        }
        let next = if hits.len() > limit {
            hits.truncate(limit);
            hits.last().map(|(timestamp, index)| Cursor {
                timestamp: *timestamp,
                index: *index,
            })
        } else {
            None
        };
        Ok((hits.into_iter().map(|(_, i)| i).collect(), next))
    }

    /// Every entry reachable from `id` by `step`, not counting `id` itself.
    fn closure(
        &self,
        id: &TraceId,
        step: impl Fn(u64) -> Vec<u64>,
    ) -> Result<BTreeSet<u64>, QueryError> {
        let root = self.position(id).ok_or(QueryError::UnknownId(*id))?;
        let mut seen = BTreeSet::new();
        let mut frontier = vec![root];
        while let Some(at) = frontier.pop() {
            for next in step(at) {
                if seen.insert(next) {
                    frontier.push(next);
                }
            }
        }
        Ok(seen)
    }
}

/// Up to `limit + 1` entries of an ascending list strictly after `start`.
fn page_sorted(list: &[u64], start: Option<u64>, limit: usize, out: &mut Vec<(Timestamp, u64)>) {
    let from = start.map_or(0, |s| list.partition_point(|i| *i <= s));
    out.extend(
        list[from..]
            .iter()
            .take(limit + 1)
            .map(|i| (Timestamp::ZERO, *i)),
    );
}

fn page_set(
    set: &BTreeSet<u64>,
    start: Option<u64>,
    limit: usize,
    out: &mut Vec<(Timestamp, u64)>,
) {
    let lower = start.map_or(Bound::Unbounded, Bound::Excluded);
    out.extend(
        set.range((lower, Bound::Unbounded))
            .take(limit + 1)
            .map(|i| (Timestamp::ZERO, *i)),
    );
}
