//! openraft's log storage in the node's redb database
//! (`chrysalis_store::node_store`'s raft tables): entries by index, the
//! vote, the committed and last purged log ids.
//!
//! The vote and appended entries are durable (`Durability::Immediate`
//! in the store) before openraft hears of them: the vote before
//! `save_vote` returns, entries before the flush callback is called. The
//! committed log id is written without a flush: after a crash it may be
//! older than it was, and raft learns the newer one from the leader.

use crate::types::{
    Entry, LogId, RaftNodeId, RecordError, StorageError, TypeConfig, decode, encode,
};
use chrysalis_store::node_store::{NodeStore, NodeStoreError};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader, StorageIOError, Vote};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const PURGED: &str = "purged";

/// Why the raft log could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogStoreError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] NodeStoreError),
    /// A stored record does not decode.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The entry stored at an index claims another index.
    #[error("raft log entry at index {stored} says it is index {claimed}")]
    Misplaced {
        /// Where it is stored.
        stored: u64,
        /// The index in its log id.
        claimed: u64,
    },
}

fn read_err(e: impl Into<LogStoreError>) -> StorageError {
    StorageIOError::read_logs(&e.into()).into()
}

fn write_err(e: impl Into<LogStoreError>) -> StorageError {
    StorageIOError::write_logs(&e.into()).into()
}

/// The raft log of one node. Clones share the database (the log reader
/// openraft asks for is a clone).
#[derive(Debug, Clone)]
pub struct LogStore {
    store: Arc<NodeStore>,
}

impl LogStore {
    /// The raft log kept in `store`.
    pub fn new(store: Arc<NodeStore>) -> Self {
        Self { store }
    }

    /// Decoded entries with indices in `range`, in order, checking that each
    /// is stored where its log id says.
    pub fn entries(&self, range: std::ops::Range<u64>) -> Result<Vec<Entry>, LogStoreError> {
        let rows = self.store.raft_entries(range, usize::MAX)?;
        let mut out = Vec::with_capacity(rows.len());
        for (index, bytes) in rows {
            let entry: Entry = decode("log entry", &bytes)?;
            if entry.log_id.index != index {
                return Err(LogStoreError::Misplaced {
                    stored: index,
                    claimed: entry.log_id.index,
                });
            }
            out.push(entry);
        }
        Ok(out)
    }

    fn meta<T: for<'de> serde::Deserialize<'de>>(
        &self,
        name: &'static str,
    ) -> Result<Option<T>, LogStoreError> {
        match self.store.raft_meta(name)? {
            Some(bytes) => Ok(Some(decode(name, &bytes)?)),
            None => Ok(None),
        }
    }

    fn last_log_id(&self) -> Result<Option<LogId>, LogStoreError> {
        match self.store.raft_last_entry()? {
            Some((index, bytes)) => {
                let entry: Entry = decode("log entry", &bytes)?;
                if entry.log_id.index != index {
                    return Err(LogStoreError::Misplaced {
                        stored: index,
                        claimed: entry.log_id.index,
                    });
                }
                Ok(Some(entry.log_id))
            }
            None => Ok(None),
        }
    }

    /// The durable state openraft starts from.
    pub fn log_state(&self) -> Result<LogState<TypeConfig>, LogStoreError> {
        let purged: Option<LogId> = self.meta(PURGED)?;
        let last = self.last_log_id()?.or(purged);
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    /// The stored vote.
    pub fn vote(&self) -> Result<Option<Vote<RaftNodeId>>, LogStoreError> {
        self.meta(VOTE)
    }
}

fn bounds(range: &impl RangeBounds<u64>) -> std::ops::Range<u64> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => u64::MAX,
    };
    start..end
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.entries(bounds(&range)).map_err(read_err)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        self.log_state().map_err(read_err)
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<RaftNodeId>) -> Result<(), StorageError> {
        self.store
            .put_raft_meta(VOTE, &encode(vote))
            .map_err(|e| StorageIOError::write_vote(&LogStoreError::from(e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<RaftNodeId>>, StorageError> {
        self.vote()
            .map_err(|e| StorageIOError::read_vote(&e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.store
            .put_raft_meta_unflushed(COMMITTED, &encode(&committed))
            .map_err(write_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let committed: Option<Option<LogId>> = self.meta(COMMITTED).map_err(read_err)?;
        Ok(committed.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let rows: Vec<(u64, Vec<u8>)> = entries
            .into_iter()
            .map(|e| (e.log_id.index, encode(&e)))
            .collect();
        let store = self.store.clone();
        // The fsync runs off the async workers; openraft waits for it.
        let written = tokio::task::spawn_blocking(move || store.raft_append(&rows))
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        match written {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(write_err(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.store.raft_truncate(log_id.index).map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.store
            .raft_purge(log_id.index, PURGED, &encode(&log_id))
            .map_err(write_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Batch;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(term: u64, index: u64) -> Entry {
        Entry {
            log_id: openraft::LogId::new(CommittedLeaderId::new(term, 0), index),
            payload: EntryPayload::Normal(Batch::anonymous(vec![index.to_be_bytes().to_vec()])),
        }
    }

    fn put(store: &NodeStore, entries: &[Entry]) {
        let rows: Vec<_> = entries
            .iter()
            .map(|e| (e.log_id.index, encode(e)))
            .collect();
        store.raft_append(&rows).unwrap();
    }

    #[tokio::test]
    async fn log_and_vote_survive_reopening_truncation_and_purge() {
        let dir = tempfile::tempdir().unwrap();
        let all: Vec<Entry> = (1..=6).map(|i| entry(1, i)).collect();
        {
            let store = Arc::new(NodeStore::open(dir.path()).unwrap());
            put(&store, &all);
            let mut log = LogStore::new(store);
            log.save_vote(&Vote::new(1, 2)).await.unwrap();
            log.save_committed(Some(all[3].log_id)).await.unwrap();
        }
        let mut log = LogStore::new(Arc::new(NodeStore::open(dir.path()).unwrap()));
        assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(1, 2)));
        assert_eq!(log.read_committed().await.unwrap(), Some(all[3].log_id));
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(all[5].log_id));
        let got = log.try_get_log_entries(2..=4).await.unwrap();
        assert_eq!(
            got.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        log.truncate(all[4].log_id).await.unwrap();
        assert_eq!(
            log.get_log_state().await.unwrap().last_log_id,
            Some(all[3].log_id)
        );
        log.purge(all[1].log_id).await.unwrap();
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(all[1].log_id));
        let left = log.try_get_log_entries(..).await.unwrap();
        assert_eq!(
            left.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
            [3, 4]
        );
        // Everything purged: the last log id is the purged one.
        log.purge(all[3].log_id).await.unwrap();
        assert_eq!(
            log.get_log_state().await.unwrap().last_log_id,
            Some(all[3].log_id)
        );
    }

    #[tokio::test]
    async fn a_corrupt_or_misplaced_record_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(NodeStore::open(dir.path()).unwrap());
        let mut log = LogStore::new(store.clone());
        store.raft_append(&[(1, b"not json".to_vec())]).unwrap();
        let err = log.entries(0..10).unwrap_err();
        assert!(matches!(err, LogStoreError::Record(_)), "{err}");
        assert!(log.try_get_log_entries(0..10).await.is_err());
        assert!(log.get_log_state().await.is_err());
        store.raft_append(&[(1, encode(&entry(1, 9)))]).unwrap();
        let err = log.entries(0..10).unwrap_err();
        assert!(
            matches!(
                err,
                LogStoreError::Misplaced {
                    stored: 1,
                    claimed: 9
                }
            ),
            "{err}"
        );
        store.put_raft_meta(VOTE, b"\xff").unwrap();
        assert!(log.read_vote().await.is_err());
    }
}
