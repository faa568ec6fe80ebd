//! A Merkle DAG: content-addressed causal history (Sanjuán et al.,
//! "Merkle-CRDTs", 2020).
//!
//! Each node holds a value and the hashes of its parents (the heads when it
//! was written); its address is the BLAKE3 hash of that content, so a node
//! names its whole history and cannot be forged. The state is the set of
//! nodes, closed under parents (a node is accepted only once its parents
//! are), and merge is set union. The heads (nodes no other node cites)
//! summarize everything: two replicas with equal heads hold equal DAGs.
//!
//! For anti-entropy, [`MerkleDag::missing_for`] walks back from our heads and
//! stops wherever the other side already has a node: since a node's presence
//! implies all its ancestors', the walk costs time proportional to what is
//! missing, not to the history.
//!
//! History does not have to be kept forever: [`MerkleDag::gc`] drops the
//! nodes every peer has acknowledged holding, down to a floor of cited but
//! collected parents (see `gc.rs`).

mod gc;

use crate::actor::{FastHasher, fast_hasher};
use crate::{Crdt, DeltaCrdt};
use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

/// A node's address: the BLAKE3 hash of its canonical encoding.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash(")?;
        self.0[..4].iter().try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, "…)")
    }
}

impl Encode for Hash {
    fn encode(&self, w: &mut Writer) {
        w.put_raw(&self.0);
    }
}

impl Decode for Hash {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.take_array().map(Hash)
    }
}

/// Why a node was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DagError {
    /// A parent of the node is not in the DAG yet.
    #[error("node {node:?} cites unknown parent {parent:?}")]
    MissingParent {
        /// The node refused.
        node: Hash,
        /// The first parent missing.
        parent: Hash,
    },
    /// The parents were not strictly increasing.
    #[error("a node's parents must be sorted and distinct")]
    UnsortedParents,
}

/// The domain tag hashed before a node's encoding.
const DAG_NODE_DOMAIN: &[u8] = b"chrysalis/v1/dag-node";

/// A node's parents: inline when there is one (a linear history, the
/// common case), so such a node needs no allocation of its own and clones
/// by copy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Parents {
    None,
    One(Hash),
    Many(Box<[Hash]>),
}

impl Parents {
    fn from_vec(parents: Vec<Hash>) -> Self {
        match parents.as_slice() {
            [] => Parents::None,
            [one] => Parents::One(*one),
            _ => Parents::Many(parents.into_boxed_slice()),
        }
    }

    #[inline]
    fn as_slice(&self) -> &[Hash] {
        match self {
            Parents::None => &[],
            Parents::One(h) => std::slice::from_ref(h),
            Parents::Many(many) => many,
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Parents::Many(many) => many.len() * size_of::<Hash>(),
            _ => 0,
        }
    }
}

/// One node: a value and the hashes of its parents, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagNode<V> {
    parents: Parents,
    value: V,
}

impl<V: Encode> DagNode<V> {
    /// A node over `parents` (sorted and deduplicated here).
    pub fn new(mut parents: Vec<Hash>, value: V) -> Self {
        parents.sort_unstable();
        parents.dedup();
        Self {
            parents: Parents::from_vec(parents),
            value,
        }
    }

    /// The node's address: BLAKE3 of a domain tag and the node's canonical
    /// encoding. The parents' part of the encoding is fed to the hasher as
    /// it stands (length prefix, then the hashes), so only the value is
    /// encoded into a buffer.
    pub fn hash(&self) -> Hash {
        let parents = self.parents.as_slice();
        let mut hasher = blake3::Hasher::new();
        hasher.update(DAG_NODE_DOMAIN);
        // The codec's length prefix: a `u32`, little-endian.
        let count = u32::try_from(parents.len()).unwrap_or(u32::MAX);
        hasher.update(&count.to_le_bytes());
        for p in parents {
            hasher.update(&p.0);
        }
        hasher.update(&self.value.encode_body());
        Hash(*hasher.finalize().as_bytes())
    }

    /// The parents' hashes, sorted.
    pub fn parents(&self) -> &[Hash] {
        self.parents.as_slice()
    }

    /// The value.
    pub fn value(&self) -> &V {
        &self.value
    }
}

impl<V: Encode> Encode for DagNode<V> {
    fn encode(&self, w: &mut Writer) {
        w.put(self.parents.as_slice());
        w.put(&self.value);
    }
}

impl<V: Decode> Decode for DagNode<V> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        let parents: Vec<Hash> = r.get()?;
        if parents.windows(2).any(|p| p[0] >= p[1]) {
            return Err(DecodeError::NonCanonical {
                offset,
                reason: "a node's parents must be strictly increasing",
            });
        }
        Ok(Self {
            parents: Parents::from_vec(parents),
            value: r.get()?,
        })
    }
}

/// Nodes to ship to a peer, parents before children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagDelta<V> {
    /// The nodes, parents first.
    pub nodes: Vec<DagNode<V>>,
}

impl<V: Encode> Encode for DagDelta<V> {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.nodes);
    }
}

impl<V: Decode> Decode for DagDelta<V> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self { nodes: r.get()? })
    }
}

/// A grow-only, content-addressed DAG of values.
#[derive(Debug, Clone)]
pub struct MerkleDag<V> {
    nodes: HashMap<Hash, DagNode<V>, FastHasher>,
    heads: BTreeSet<Hash>,
    /// Nodes received before their parents: held until the parents arrive.
    /// A local buffer, not part of the state or its encoding.
    orphans: HashMap<Hash, DagNode<V>, FastHasher>,
    /// Parents cited by nodes here that [`MerkleDag::gc`] dropped: the DAG
    /// is closed under parents down to this floor (empty until a gc).
    floor: BTreeSet<Hash>,
}

impl<V: Clone + Encode + Decode> Default for MerkleDag<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Clone + Encode + Decode> MerkleDag<V> {
    /// The empty DAG.
    pub fn new() -> Self {
        Self {
            nodes: HashMap::with_hasher(fast_hasher()),
            heads: BTreeSet::new(),
            orphans: HashMap::with_hasher(fast_hasher()),
            floor: BTreeSet::new(),
        }
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The nodes no other node cites, sorted.
    pub fn heads(&self) -> impl Iterator<Item = &Hash> + '_ {
        self.heads.iter()
    }

    /// Whether the node `hash` is here.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.nodes.contains_key(hash)
    }

    /// The node at `hash`.
    pub fn get(&self, hash: &Hash) -> Option<&DagNode<V>> {
        self.nodes.get(hash)
    }

    /// Parents still awaited by buffered orphans: what to ask peers for.
    pub fn awaited(&self) -> Vec<Hash> {
        let mut out: Vec<Hash> = self
            .orphans
            .values()
            .flat_map(|n| n.parents().iter())
            .filter(|p| !self.nodes.contains_key(p) && !self.orphans.contains_key(p))
            .copied()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Appends `value` over the current heads; returns its hash and the delta.
    pub fn append(&mut self, value: V) -> (Hash, DagDelta<V>) {
        let node = DagNode::new(self.heads.iter().copied().collect(), value);
        let hash = node.hash();
        self.insert_unchecked(hash, node.clone());
        (hash, DagDelta { nodes: vec![node] })
    }

    /// Adds a node whose parents are all present.
    pub fn insert(&mut self, node: DagNode<V>) -> Result<Hash, DagError> {
        if node.parents().windows(2).any(|p| p[0] >= p[1]) {
            return Err(DagError::UnsortedParents);
        }
        let hash = node.hash();
        if self.nodes.contains_key(&hash) {
            return Ok(hash);
        }
        if let Some(parent) = node.parents().iter().find(|p| !self.nodes.contains_key(p)) {
            return Err(DagError::MissingParent {
                node: hash,
                parent: *parent,
            });
        }
        self.insert_unchecked(hash, node);
        Ok(hash)
    }

    fn insert_unchecked(&mut self, hash: Hash, node: DagNode<V>) {
        let Entry::Vacant(slot) = self.nodes.entry(hash) else {
            return;
        };
        for p in node.parents() {
            self.heads.remove(p);
        }
        self.heads.insert(hash);
        slot.insert(node);
    }

    /// The nodes reachable from our heads for which `have` is false, parents
    /// before children. `have` must be closed under parents (true for a node
    /// implies true for its ancestors), as any peer's DAG is; the walk then
    /// stops at the first node the peer has, costing time proportional to
    /// the answer.
    pub fn missing_for(&self, have: impl Fn(&Hash) -> bool) -> Vec<Hash> {
        let mut out = Vec::new();
        let mut visited: HashSet<Hash, FastHasher> = HashSet::with_hasher(fast_hasher());
        let mut stack: Vec<(Hash, bool)> = self.heads.iter().map(|h| (*h, false)).collect();
        while let Some((hash, expanded)) = stack.pop() {
            if expanded {
                out.push(hash);
                continue;
            }
            if have(&hash) || !visited.insert(hash) {
                continue;
            }
            // Below the floor (collected here) there is nothing to send.
            if let Some(node) = self.nodes.get(&hash) {
                stack.push((hash, true));
                // A parent already visited is skipped when popped.
                stack.extend(node.parents().iter().map(|p| (*p, false)));
            }
        }
        out
    }

    /// What `other` is missing of ours, parents first.
    pub fn missing_in(&self, other: &MerkleDag<V>) -> Vec<Hash> {
        self.missing_for(|h| other.contains(h))
    }

    /// The nodes at `hashes` (unknown ones skipped), as a delta.
    pub fn delta_for(&self, hashes: &[Hash]) -> DagDelta<V> {
        DagDelta {
            nodes: hashes
                .iter()
                .filter_map(|h| self.nodes.get(h).cloned())
                .collect(),
        }
    }

    /// Bytes held on the heap by the node table (estimated), not counting
    /// values' own heap data.
    pub fn heap_bytes(&self) -> usize {
        let buckets = (self.nodes.capacity() * 8 / 7).next_power_of_two();
        buckets * (size_of::<(Hash, DagNode<V>)>() + 1)
            + self
                .nodes
                .values()
                .map(|n| n.parents.heap_bytes())
                .sum::<usize>()
            + (self.heads.len() + self.floor.len()) * 48
    }

    /// Moves every buffered orphan whose parents have arrived into the DAG.
    pub fn adopt_orphans(&mut self) {
        loop {
            let ready: Vec<Hash> = self
                .orphans
                .iter()
                .filter(|(_, n)| n.parents().iter().all(|p| self.nodes.contains_key(p)))
                .map(|(h, _)| *h)
                .collect();
            if ready.is_empty() {
                return;
            }
            for hash in ready {
                if let Some(node) = self.orphans.remove(&hash) {
                    self.insert_unchecked(hash, node);
                }
            }
        }
    }
}

impl<V: Clone + Encode + Decode> Crdt for MerkleDag<V> {
    /// Walks back from `other`'s heads and copies each node not here,
    /// stopping at nodes already here. A node is inserted when first
    /// reached, with one probe of this table that both checks and claims
    /// its slot, so the DAG being merged into is itself the walk's visited
    /// set, and each received node costs two table operations (that probe
    /// and a lookup in `other`) and a copy. Heads are settled once at the
    /// end. Hashes are not recomputed: `other`'s were checked when its nodes
    /// entered it.
    fn merge(&mut self, other: &Self) {
        // Orphans are a local buffer, not state: adopting them here would
        // make the result depend on which side held them. They are adopted
        // by the next `apply_delta` or `adopt_orphans`.
        // Their heads we lack will be heads here (none of our nodes can cite
        // a node we lacked); their heads we hold may be cited here already.
        let new_heads: Vec<Hash> = other
            .heads
            .iter()
            .filter(|h| !self.nodes.contains_key(*h))
            .copied()
            .collect();
        let mut stack = new_heads.clone();
        let mut inserted = false;
        while let Some(hash) = stack.pop() {
            let Entry::Vacant(slot) = self.nodes.entry(hash) else {
                continue;
            };
            let Some(node) = other.nodes.get(&hash) else {
                continue;
            };
            stack.extend_from_slice(node.parents());
            slot.insert(node.clone());
            inserted = true;
        }
        if inserted {
            self.settle_heads_after_merge(other, new_heads);
        }
    }
}

impl<V> MerkleDag<V> {
    /// After copying every node of `other` missing here: our heads that
    /// `other` holds as an inner node are now cited by a node copied in, and
    /// `other`'s heads that were missing here are heads.
    fn settle_heads_after_merge(&mut self, other: &Self, new_heads: Vec<Hash>) {
        self.heads
            .retain(|h| !other.nodes.contains_key(h) || other.heads.contains(h));
        self.heads.extend(new_heads);
    }
}

impl<V: Clone + Encode + Decode> DeltaCrdt for MerkleDag<V> {
    type Delta = DagDelta<V>;
    const KIND: &'static str = "merkle-dag";

    /// Nodes whose parents are missing wait as orphans (see
    /// [`MerkleDag::awaited`]) and join as soon as their parents do.
    fn apply_delta(&mut self, delta: &DagDelta<V>) {
        let mut orphaned = false;
        for node in &delta.nodes {
            let hash = node.hash();
            if node.parents().iter().all(|p| self.nodes.contains_key(p)) {
                self.insert_unchecked(hash, node.clone());
            } else if !self.nodes.contains_key(&hash) {
                self.orphans.insert(hash, node.clone());
                orphaned = true;
            }
        }
        if orphaned || !self.orphans.is_empty() {
            self.adopt_orphans();
        }
    }
}

impl<V: Encode> Encode for MerkleDag<V> {
    /// The nodes sorted by hash, then the floor; heads are derived, orphans
    /// are not state.
    fn encode(&self, w: &mut Writer) {
        let mut hashes: Vec<&Hash> = self.nodes.keys().collect();
        hashes.sort_unstable();
        w.put_len(hashes.len());
        for h in hashes {
            w.put(&self.nodes[h]);
        }
        w.put(&self.floor);
    }
}

impl<V: Clone + Encode + Decode> Decode for MerkleDag<V> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = r.len("merkle dag")?;
        let mut nodes: Vec<(Hash, DagNode<V>)> = Vec::with_capacity(count.min(r.remaining()));
        for _ in 0..count {
            let offset = r.offset();
            let node: DagNode<V> = r.get()?;
            let hash = node.hash();
            if nodes.last().is_some_and(|(last, _)| *last >= hash) {
                return Err(DecodeError::NonCanonical {
                    offset,
                    reason: "dag nodes must be sorted by hash",
                });
            }
            nodes.push((hash, node));
        }
        let floor: Vec<Hash> = r.get()?;
        if floor.windows(2).any(|p| p[0] >= p[1]) {
            return Err(DecodeError::NonCanonical {
                offset: r.offset(),
                reason: "a dag's floor must be strictly increasing",
            });
        }
        let mut dag = Self::new();
        let present: HashSet<Hash, FastHasher> = nodes.iter().map(|(h, _)| *h).collect();
        let mut cited: HashSet<Hash, FastHasher> = HashSet::with_hasher(fast_hasher());
        let mut below: BTreeSet<Hash> = BTreeSet::new();
        for (_, node) in &nodes {
            for p in node.parents() {
                if !present.contains(p) {
                    below.insert(*p);
                }
                cited.insert(*p);
            }
        }
        // Closed under parents down to the floor, and the floor is exactly
        // the parents cited but absent.
        if below.len() != floor.len() || !below.iter().eq(floor.iter()) {
            return Err(DecodeError::Invalid {
                what: "merkle dag",
                reason: "a node cites a parent that is neither in the dag nor on its floor",
            });
        }
        dag.heads = present.difference(&cited).copied().collect();
        dag.nodes = nodes.into_iter().collect();
        dag.floor = below;
        Ok(dag)
    }
}

impl<V: Encode> PartialEq for MerkleDag<V> {
    /// Equal when they hold the same nodes (so a collected DAG differs from
    /// one that still holds its history; compare heads for the value).
    fn eq(&self, other: &Self) -> bool {
        self.nodes.len() == other.nodes.len()
            && self.nodes.keys().all(|h| other.nodes.contains_key(h))
    }
}

impl<V: Encode> Eq for MerkleDag<V> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverged_dags_find_what_each_lacks_and_converge() {
        let mut a = MerkleDag::<u64>::new();
        for i in 0..10 {
            a.append(i);
        }
        let mut b = a.clone();
        let (_, d1) = a.append(100);
        a.append(101);
        b.append(200);
        assert_eq!(a.missing_in(&b).len(), 2);
        assert_eq!(b.missing_in(&a).len(), 1);
        let mut b2 = b.clone();
        b2.apply_delta(&a.delta_for(&a.missing_in(&b)));
        b.merge(&a);
        assert_eq!(b, b2);
        a.merge(&b);
        assert_eq!(a, b);
        assert_eq!(a.heads().count(), 2);
        assert!(b.contains(&d1.nodes[0].hash()));
        assert_eq!(MerkleDag::<u64>::from_bytes(&a.to_bytes()).unwrap(), a);
    }

    #[test]
    fn node_addresses_are_blake3_of_domain_and_encoding() {
        let node = DagNode::new(vec![Hash([3; 32]), Hash([1; 32])], 42u64);
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"chrysalis/v1/dag-node");
        hasher.update(&node.encode_body());
        assert_eq!(node.hash(), Hash(*hasher.finalize().as_bytes()));
    }

    #[test]
    fn orphans_wait_for_their_parents() {
        let mut a = MerkleDag::<u64>::new();
        let (_, d1) = a.append(1);
        let (_, d2) = a.append(2);
        let mut b = MerkleDag::<u64>::new();
        b.apply_delta(&d2);
        assert!(b.is_empty());
        assert_eq!(b.awaited(), vec![d1.nodes[0].hash()]);
        b.apply_delta(&d1);
        assert_eq!(a, b);
        assert!(b.awaited().is_empty());
        let orphan = d2.nodes[0].clone();
        assert!(matches!(
            MerkleDag::<u64>::new().insert(orphan),
            Err(DagError::MissingParent { .. })
        ));
    }
}
