//! [`TraceLedger`]: the append-only, Merkle-proven ledger over a
//! [`LedgerStorage`].
//!
//! Appends are staged, then committed in groups: one storage write and one
//! sync for the whole group, when the [`FsyncPolicy`] says so. An entry is
//! acknowledged (visible to queries, proofs and tree heads) only once its
//! group is durable under that policy. Any storage failure poisons the
//! ledger: what reached the disk is unknown, so it refuses further appends
//! until reopened, when recovery decides from what is really there.
//!
//! A commit records each entry's leaf hash (its id, computed when the node
//! was built) and updates the in-memory query indexes; the Merkle tree's
//! inner nodes are hashed later, in bulk, by [`TraceLedger::settle`] or by
//! the first root, head or proof asked for, so tree hashing never delays an
//! acknowledgement.

use crate::frame::FrameBatch;
use crate::head::SignedTreeHead;
use crate::merkle::{ConsistencyProof, Hash, InclusionProof, MerkleTree, ProofError};
use crate::node::{NodeError, TraceNode};
use crate::query::{Cursor, IdMap, Index, Page, Query, QueryError};
use crate::storage::{LedgerStorage, Recovery, StorageError};
use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_types::{Timestamp, TraceId};
use std::sync::{Mutex, PoisonError};

/// When staged entries are made durable and acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Every [`TraceLedger::submit`] is written and synced at once.
    Always,
    /// Group commit: staged entries are written and synced together when
    /// `max_entries` are waiting, or when [`TraceLedger::poll`] sees the
    /// oldest has waited `max_delay_ms`.
    Batch {
        /// Commit once this many entries are staged.
        max_entries: usize,
        /// Commit once the oldest staged entry is this old.
        max_delay_ms: u64,
    },
    /// Written, never synced: entries are acknowledged as soon as written.
    /// For tests and throwaway ledgers only.
    Never,
}

/// Why a ledger could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The storage failed.
    #[error("ledger storage: {0}")]
    Storage(#[from] StorageError),
    /// A record passed its checksum but is not a valid entry: the log was
    /// written by something else, or tampered with.
    #[error("record {index} is not a valid trace node: {source}")]
    BadRecord {
        /// The record's index.
        index: u64,
        /// Why it was refused.
        #[source]
        source: RecordError,
    },
}

/// Why a recovered record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// It does not decode.
    #[error("{0}")]
    Node(#[from] NodeError),
    /// It repeats an earlier entry.
    #[error("duplicate of entry {earlier}")]
    Duplicate {
        /// Where the entry first appears.
        earlier: u64,
    },
    /// It names a parent that does not precede it.
    #[error("names unknown parent {0}")]
    UnknownParent(TraceId),
}

/// Why an append was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The node is already in the ledger (or staged).
    #[error("entry {id} is already in the ledger at index {index}")]
    Duplicate {
        /// The node's id.
        id: TraceId,
        /// Where it is.
        index: u64,
    },
    /// The node names a parent that is not in the ledger (or staged).
    #[error("parent {0} is not in the ledger")]
    UnknownParent(TraceId),
    /// An earlier storage failure left the ledger's durable state unknown;
    /// reopen it to recover.
    #[error("ledger is poisoned by an earlier storage failure; reopen it")]
    Poisoned,
    /// The storage failed; nothing staged was acknowledged and the ledger is
    /// now poisoned.
    #[error("ledger storage: {0}")]
    Storage(#[from] StorageError),
}

/// Why a read, query or proof failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// No acknowledged entry at this index.
    #[error("no entry at index {index} (the ledger holds {len})")]
    NoSuchEntry {
        /// The index asked for.
        index: u64,
        /// Entries acknowledged.
        len: u64,
    },
    /// The stored record does not match the tree: storage was altered.
    #[error("stored record {index} does not match its leaf hash")]
    Mismatch {
        /// The record's index.
        index: u64,
    },
    /// The stored record does not decode.
    #[error("stored record {index}: {source}")]
    BadRecord {
        /// The record's index.
        index: u64,
        /// Why.
        #[source]
        source: NodeError,
    },
    /// A proof could not be made.
    #[error("{0}")]
    Proof(#[from] ProofError),
    /// The query was refused.
    #[error("{0}")]
    Query(#[from] QueryError),
    /// The storage failed.
    #[error("ledger storage: {0}")]
    Storage(#[from] StorageError),
}

/// The append-only trace ledger.
#[derive(Debug)]
pub struct TraceLedger<S: LedgerStorage> {
    storage: S,
    policy: FsyncPolicy,
    /// Settled lazily: commits add leaves only, the first read after them
    /// hashes the inner nodes (see [`TraceLedger::settle`]).
    tree: Mutex<MerkleTree>,
    index: Index,
    batch: FrameBatch,
    staged: Vec<TraceNode>,
    staged_ids: IdMap<u64>,
    staged_since_ms: Option<u64>,
    poisoned: bool,
}

impl<S: LedgerStorage> TraceLedger<S> {
    /// Opens the ledger over `storage`: replays every durable record,
    /// dropping a torn or corrupt tail, rebuilds the tree and the indexes,
    /// and reports what recovery found.
    pub fn open(mut storage: S, policy: FsyncPolicy) -> Result<(Self, Recovery), OpenError> {
        let mut tree = MerkleTree::new();
        let mut index = Index::default();
        let mut refused: Option<(u64, RecordError)> = None;
        let mut visit = |bytes: &[u8]| match check_record(&index, bytes) {
            Ok(node) => {
                tree.push_deferred(node.leaf_hash());
                index.insert(&node);
                true
            }
            Err(e) => {
                refused = Some((index.len(), e));
                false
            }
        };
        let recovered = storage.recover(&mut visit);
        if let Some((at, source)) = refused {
            return Err(OpenError::BadRecord { index: at, source });
        }
        let recovered = recovered?;
        assert_eq!(recovered.records, tree.len(), "every record was replayed");
        tree.settle();
        let ledger = Self {
            storage,
            policy,
            tree: Mutex::new(tree),
            index,
            batch: FrameBatch::new(),
            staged: Vec::new(),
            staged_ids: IdMap::default(),
            staged_since_ms: None,
            poisoned: false,
        };
        Ok((ledger, recovered))
    }

    /// Acknowledged entries.
    pub fn len(&self) -> u64 {
        self.index.len()
    }

    /// Whether no entry is acknowledged.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries staged and not yet acknowledged.
    pub fn staged_len(&self) -> usize {
        self.staged.len()
    }

    /// Whether a storage failure has poisoned the ledger.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// The storage underneath.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Gives the storage back (staged entries are dropped, unacknowledged).
    pub fn into_storage(self) -> S {
        self.storage
    }

    /// Stages `node` and returns the index it will have. `now_ms` is the
    /// caller's clock, for [`FsyncPolicy::Batch`]'s delay. Under
    /// [`FsyncPolicy::Always`] (or a full batch) this also commits; see
    /// [`TraceLedger::len`] for what is acknowledged.
    pub fn submit(&mut self, node: TraceNode, now_ms: u64) -> Result<u64, AppendError> {
        if self.poisoned {
            return Err(AppendError::Poisoned);
        }
        let id = node.id();
        if let Some(index) = self
            .index
            .position(&id)
            .or(self.staged_ids.get(&id).copied())
        {
            return Err(AppendError::Duplicate { id, index });
        }
        if let Some(p) = node
            .parents()
            .iter()
            .find(|p| self.index.position(p).is_none() && !self.staged_ids.contains_key(p))
        {
            return Err(AppendError::UnknownParent(*p));
        }
        let at = self.len() + self.staged.len() as u64;
        self.batch.push(node.encoding());
        self.staged_ids.insert(id, at);
        self.staged.push(node);
        self.staged_since_ms.get_or_insert(now_ms);
        let due = match self.policy {
            FsyncPolicy::Always | FsyncPolicy::Never => true,
            FsyncPolicy::Batch { max_entries, .. } => self.staged.len() >= max_entries,
        };
        if due {
            self.flush()?;
        }
        Ok(at)
    }

    /// The driver's tick: commits staged entries if the policy's delay has
    /// passed by `now_ms`, then settles the Merkle tree. Returns the number
    /// of acknowledged entries.
    pub fn poll(&mut self, now_ms: u64) -> Result<u64, AppendError> {
        if let (FsyncPolicy::Batch { max_delay_ms, .. }, Some(since)) =
            (self.policy, self.staged_since_ms)
            && now_ms.saturating_sub(since) >= max_delay_ms
        {
            self.flush()?;
        }
        self.settle();
        Ok(self.len())
    }

    /// Hashes the Merkle tree's inner nodes for every entry committed since
    /// the last settle. Commits record only leaf hashes (the entries' ids),
    /// keeping tree hashing off the acknowledgement path; the first root,
    /// head or proof asked for afterwards settles the tree itself, so calling
    /// this is optional: a driver does it between bursts (as
    /// [`TraceLedger::poll`] does) so that readers never wait for it.
    pub fn settle(&mut self) {
        self.tree
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .settle();
    }

    /// Commits every staged entry now: one write, one sync (unless the
    /// policy is [`FsyncPolicy::Never`]). Returns the number of
    /// acknowledged entries. On failure nothing staged is acknowledged and
    /// the ledger is poisoned.
    pub fn flush(&mut self) -> Result<u64, AppendError> {
        if self.poisoned {
            return Err(AppendError::Poisoned);
        }
        if self.staged.is_empty() {
            return Ok(self.len());
        }
        let result = self
            .storage
            .write(&self.batch)
            .and_then(|()| match self.policy {
                FsyncPolicy::Never => Ok(()),
                _ => self.storage.sync(),
            });
        if let Err(e) = result {
            self.poisoned = true;
            self.clear_staged();
            return Err(e.into());
        }
        // The tree only records the leaves here; hashing its inner nodes is
        // left to `settle`, off the acknowledgement path.
        for node in std::mem::take(&mut self.staged) {
            self.tree
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .push_deferred(node.leaf_hash());
            self.index.insert(&node);
        }
        self.clear_staged();
        Ok(self.len())
    }

    fn clear_staged(&mut self) {
        self.batch.clear();
        self.staged.clear();
        self.staged_ids.clear();
        self.staged_since_ms = None;
    }

    /// Appends one node and commits it (with anything already staged).
    /// Returns its index once durable.
    pub fn append(&mut self, node: TraceNode) -> Result<u64, AppendError> {
        let at = self.submit(node, 0)?;
        self.flush()?;
        Ok(at)
    }

    /// Appends many nodes as one group commit: one write, one sync. Returns
    /// the index range they occupy once durable. If a node is refused,
    /// none of them is staged.
    pub fn append_batch(
        &mut self,
        nodes: impl IntoIterator<Item = TraceNode>,
    ) -> Result<std::ops::Range<u64>, AppendError> {
        self.flush()?;
        let start = self.len();
        let saved = self.policy;
        // Stage everything before committing once, whatever the policy.
        self.policy = FsyncPolicy::Batch {
            max_entries: usize::MAX,
            max_delay_ms: u64::MAX,
        };
        let staged: Result<(), AppendError> = nodes
            .into_iter()
            .try_for_each(|n| self.submit(n, 0).map(drop));
        self.policy = saved;
        if let Err(e) = staged {
            self.clear_staged();
            return Err(e);
        }
        let end = self.flush()?;
        Ok(start..end)
    }

    /// The Merkle root over every acknowledged entry.
    pub fn root(&self) -> Hash {
        self.with_tree(MerkleTree::root)
    }

    /// The root the ledger had at `size` entries.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        self.with_tree(|t| t.root_at(size))
    }

    /// A copy of the Merkle tree over acknowledged entries, settled.
    pub fn tree(&self) -> MerkleTree {
        self.with_tree(MerkleTree::clone)
    }

    /// Runs `f` on the tree after settling it.
    fn with_tree<R>(&self, f: impl FnOnce(&MerkleTree) -> R) -> R {
        let mut tree = self.tree.lock().unwrap_or_else(PoisonError::into_inner);
        tree.settle();
        f(&tree)
    }

    /// Signs the current size and root at `timestamp`.
    pub fn sign_head(&self, key: &SigningKey, timestamp: Timestamp) -> SignedTreeHead {
        SignedTreeHead::sign(key, self.len(), self.root(), timestamp)
    }

    /// Proof that entry `index` is in the ledger as it was at `size` entries.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<InclusionProof, ProofError> {
        self.with_tree(|t| t.inclusion_proof(index, size))
    }

    /// Proof that the ledger at `old` entries is a prefix of it at `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<ConsistencyProof, ProofError> {
        self.with_tree(|t| t.consistency_proof(old, new))
    }

    /// The index of the acknowledged entry with this id.
    pub fn position(&self, id: &TraceId) -> Option<u64> {
        self.index.position(id)
    }

    /// The leaf hash of entry `index` (no settling needed).
    fn leaf(&self, index: u64) -> Option<Hash> {
        let tree = self.tree.lock().unwrap_or_else(PoisonError::into_inner);
        tree.leaf(index)
    }

    /// Reads entry `index` back from storage and checks it against the tree.
    pub fn get(&self, index: u64) -> Result<TraceNode, ReadError> {
        let leaf = self.leaf(index).ok_or(ReadError::NoSuchEntry {
            index,
            len: self.len(),
        })?;
        let mut bytes = Vec::new();
        self.storage.read(index, &mut bytes)?;
        let node = TraceNode::from_encoding(&bytes)
            .map_err(|source| ReadError::BadRecord { index, source })?;
        if node.leaf_hash() != leaf {
            return Err(ReadError::Mismatch { index });
        }
        Ok(node)
    }

    /// The acknowledged entry with this id, with its index.
    pub fn get_by_id(&self, id: &TraceId) -> Result<Option<(u64, TraceNode)>, ReadError> {
        match self.position(id) {
            None => Ok(None),
            Some(index) => Ok(Some((index, self.get(index)?))),
        }
    }

    /// One page of the entries matching `query`, starting after `after`
    /// (`None` for the first page), at most `limit` of them.
    pub fn query(
        &self,
        query: &Query,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, ReadError> {
        let (indexes, next) = self.index.select(query, after, limit)?;
        let entries = indexes
            .into_iter()
            .map(|i| self.get(i).map(|node| (i, node)))
            .collect::<Result<_, _>>()?;
        Ok(Page { entries, next })
    }
}

/// Decodes a recovered record and checks it extends the ledger.
fn check_record(index: &Index, bytes: &[u8]) -> Result<TraceNode, RecordError> {
    let node = TraceNode::from_encoding(bytes)?;
    if let Some(earlier) = index.position(&node.id()) {
        return Err(RecordError::Duplicate { earlier });
    }
    if let Some(p) = node.parents().iter().find(|p| index.position(p).is_none()) {
        return Err(RecordError::UnknownParent(*p));
    }
    Ok(node)
}

#[cfg(test)]
mod tests;
