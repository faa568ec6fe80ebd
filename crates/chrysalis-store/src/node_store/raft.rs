//! Tables of the crash-fault-tolerant (raft) consensus engine, in the
//! node's own database. Like the rest of the store they hold bytes the
//! caller encodes (`chrysalis-raft` owns the record formats), so the store
//! knows nothing of openraft:
//!
//! - `raft_log`: log index → entry bytes;
//! - `raft_meta`: name → bytes (the vote, the committed and last purged log
//!   ids, the state machine's applied state, the current snapshot);
//! - `raft_blocks`: block height → block record bytes, the application
//!   entries as the state machine applied them, kept after the log is purged.
//!
//! Writes raft must see durable before it goes on (the vote, appended
//! entries, truncation, purging) commit with [`Durability::Immediate`].
//! [`NodeStore::raft_apply`] and [`NodeStore::put_raft_meta_unflushed`]
//! commit with [`Durability::None`]: the state
//! machine may roll back to an earlier applied state after a crash (redb
//! commits stay atomic) and raft re-applies the committed entries from the
//! durable log.

use super::{NodeStore, NodeStoreError, remove_range, storage};
use redb::{Durability, ReadableTable, TableDefinition, TableError};
use std::ops::Range;

const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("raft_log");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("raft_meta");
const BLOCKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("raft_blocks");

/// Rows keyed by index or height.
type Indexed = Vec<(u64, Vec<u8>)>;

/// Reads `table`, treating a table never created (a database that never
/// ran raft) as empty.
fn open_or_empty<K: redb::Key + 'static, V: redb::Value + 'static>(
    tx: &redb::ReadTransaction,
    def: TableDefinition<'_, K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, NodeStoreError> {
    match tx.open_table(def) {
        Ok(table) => Ok(Some(table)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(storage(e)),
    }
}

fn rows(
    table: &impl ReadableTable<u64, &'static [u8]>,
    range: Range<u64>,
    limit: usize,
) -> Result<Indexed, NodeStoreError> {
    let mut out = Vec::new();
    for row in table.range(range).map_err(storage)? {
        if out.len() >= limit {
            break;
        }
        let (key, value) = row.map_err(storage)?;
        out.push((key.value(), value.value().to_vec()));
    }
    Ok(out)
}

impl NodeStore {
    /// Commits `f` in one write transaction with `durability`.
    fn raft_write<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, NodeStoreError>,
    ) -> Result<T, NodeStoreError> {
        let mut tx = self.db.begin_write().map_err(storage)?;
        tx.set_durability(durability).map_err(storage)?;
        let out = f(&tx)?;
        tx.commit().map_err(storage)?;
        Ok(out)
    }

    /// A raft metadata record, if stored.
    pub fn raft_meta(&self, name: &str) -> Result<Option<Vec<u8>>, NodeStoreError> {
        self.read(|tx| {
            let Some(table) = open_or_empty(tx, META)? else {
                return Ok(None);
            };
            let value = table.get(name).map_err(storage)?;
            Ok(value.map(|v| v.value().to_vec()))
        })
    }

    /// Stores a raft metadata record (the vote, the committed log id, the
    /// current snapshot), durably.
    pub fn put_raft_meta(&self, name: &str, value: &[u8]) -> Result<(), NodeStoreError> {
        self.raft_write(Durability::Immediate, |tx| {
            let mut table = tx.open_table(META).map_err(storage)?;
            table.insert(name, value).map_err(storage)?;
            Ok(())
        })
    }

    /// Stores a raft metadata record that may roll back after a crash
    /// (the committed log id: raft learns it again from the leader), in an
    /// atomic transaction that is not flushed.
    pub fn put_raft_meta_unflushed(&self, name: &str, value: &[u8]) -> Result<(), NodeStoreError> {
        self.raft_write(Durability::None, |tx| {
            let mut table = tx.open_table(META).map_err(storage)?;
            table.insert(name, value).map_err(storage)?;
            Ok(())
        })
    }

    /// Stores log entries at their indices (replacing any there) in one
    /// durable transaction: after `Ok`, all are on disk.
    pub fn raft_append(&self, entries: &[(u64, Vec<u8>)]) -> Result<(), NodeStoreError> {
        self.raft_write(Durability::Immediate, |tx| {
            let mut log = tx.open_table(LOG).map_err(storage)?;
            for (index, bytes) in entries {
                log.insert(*index, bytes.as_slice()).map_err(storage)?;
            }
            Ok(())
        })
    }

    /// Up to `limit` log entries with indices in `range`, in order.
    pub fn raft_entries(&self, range: Range<u64>, limit: usize) -> Result<Indexed, NodeStoreError> {
        self.read(|tx| match open_or_empty(tx, LOG)? {
            Some(log) => rows(&log, range, limit),
            None => Ok(Vec::new()),
        })
    }

    /// The last log entry, if any.
    pub fn raft_last_entry(&self) -> Result<Option<(u64, Vec<u8>)>, NodeStoreError> {
        self.read(|tx| {
            let Some(log) = open_or_empty(tx, LOG)? else {
                return Ok(None);
            };
            let last = log.last().map_err(storage)?;
            Ok(last.map(|(k, v)| (k.value(), v.value().to_vec())))
        })
    }

    /// Deletes every log entry at `from` or later (conflicting entries a
    /// new leader overwrites), durably.
    pub fn raft_truncate(&self, from: u64) -> Result<(), NodeStoreError> {
        self.raft_write(Durability::Immediate, |tx| {
            let mut log = tx.open_table(LOG).map_err(storage)?;
            remove_range(&mut log, from..u64::MAX)?;
            log.remove(u64::MAX).map_err(storage)?;
            Ok(())
        })
    }

    /// Deletes every log entry up to and including `upto` and records
    /// `purged` (the encoded last purged log id) under `purged_name`, in
    /// one durable transaction.
    pub fn raft_purge(
        &self,
        upto: u64,
        purged_name: &str,
        purged: &[u8],
    ) -> Result<(), NodeStoreError> {
        self.raft_write(Durability::Immediate, |tx| {
            let mut log = tx.open_table(LOG).map_err(storage)?;
            remove_range(&mut log, 0..upto.saturating_add(1))?;
            let mut meta = tx.open_table(META).map_err(storage)?;
            meta.insert(purged_name, purged).map_err(storage)?;
            Ok(())
        })
    }

    /// Records applied entries: new blocks by height and the state
    /// machine's applied state under `state_name`, in one transaction that
    /// is atomic but not flushed (see the module docs of `node_store/raft.rs`).
    pub fn raft_apply(
        &self,
        blocks: &[(u64, Vec<u8>)],
        state_name: &str,
        state: &[u8],
    ) -> Result<(), NodeStoreError> {
        self.raft_write(Durability::None, |tx| {
            let mut table = tx.open_table(BLOCKS).map_err(storage)?;
            for (height, bytes) in blocks {
                table.insert(*height, bytes.as_slice()).map_err(storage)?;
            }
            let mut meta = tx.open_table(META).map_err(storage)?;
            meta.insert(state_name, state).map_err(storage)?;
            Ok(())
        })
    }

    /// Replaces the applied state after a snapshot was installed: blocks
    /// at `from_height` or later are deleted (the snapshot's state covers
    /// them), and the state and snapshot records are stored, durably.
    pub fn raft_install(
        &self,
        from_height: u64,
        records: &[(&str, &[u8])],
    ) -> Result<(), NodeStoreError> {
        self.raft_write(Durability::Immediate, |tx| {
            let mut table = tx.open_table(BLOCKS).map_err(storage)?;
            remove_range(&mut table, from_height..u64::MAX)?;
            let mut meta = tx.open_table(META).map_err(storage)?;
            for (name, value) in records {
                meta.insert(*name, *value).map_err(storage)?;
            }
            Ok(())
        })
    }

    /// Up to `limit` block records from height `from` on, in order.
    pub fn raft_blocks(&self, from: u64, limit: usize) -> Result<Indexed, NodeStoreError> {
        self.read(|tx| match open_or_empty(tx, BLOCKS)? {
            Some(table) => rows(&table, from..u64::MAX, limit),
            None => Ok(Vec::new()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(range: Range<u64>) -> Vec<(u64, Vec<u8>)> {
        range.map(|i| (i, vec![i as u8; 3])).collect()
    }

    #[test]
    fn a_database_without_raft_tables_reads_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = NodeStore::open(dir.path()).unwrap();
        assert_eq!(store.raft_meta("vote").unwrap(), None);
        assert!(store.raft_entries(0..10, 10).unwrap().is_empty());
        assert_eq!(store.raft_last_entry().unwrap(), None);
        assert!(store.raft_blocks(1, 10).unwrap().is_empty());
    }

    #[test]
    fn log_survives_reopening_and_truncates_and_purges() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = NodeStore::open(dir.path()).unwrap();
            store.raft_append(&entries(1..8)).unwrap();
            store.put_raft_meta("vote", b"v1").unwrap();
        }
        let store = NodeStore::open(dir.path()).unwrap();
        assert_eq!(store.raft_entries(0..100, 100).unwrap(), entries(1..8));
        assert_eq!(store.raft_entries(0..100, 2).unwrap(), entries(1..3));
        assert_eq!(
            store.raft_meta("vote").unwrap().as_deref(),
            Some(&b"v1"[..])
        );
        store.put_raft_meta_unflushed("committed", b"c7").unwrap();
        let committed = store.raft_meta("committed").unwrap();
        assert_eq!(committed.as_deref(), Some(&b"c7"[..]));
        store.raft_truncate(5).unwrap();
        assert_eq!(store.raft_last_entry().unwrap(), Some((4, vec![4; 3])));
        store.raft_purge(2, "purged", b"p2").unwrap();
        assert_eq!(store.raft_entries(0..100, 100).unwrap(), entries(3..5));
        assert_eq!(
            store.raft_meta("purged").unwrap().as_deref(),
            Some(&b"p2"[..])
        );
        // Appending over a truncated tail replaces it.
        store.raft_append(&[(5, b"new".to_vec())]).unwrap();
        assert_eq!(store.raft_last_entry().unwrap(), Some((5, b"new".to_vec())));
    }

    #[test]
    fn applied_blocks_are_kept_and_an_install_replaces_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let store = NodeStore::open(dir.path()).unwrap();
        store.raft_apply(&entries(1..4), "state", b"s3").unwrap();
        assert_eq!(store.raft_blocks(2, 10).unwrap(), entries(2..4));
        assert_eq!(
            store.raft_meta("state").unwrap().as_deref(),
            Some(&b"s3"[..])
        );
        store
            .raft_install(2, &[("state", b"s9"), ("snapshot", b"x")])
            .unwrap();
        assert_eq!(store.raft_blocks(0, 10).unwrap(), entries(1..2));
        assert_eq!(
            store.raft_meta("state").unwrap().as_deref(),
            Some(&b"s9"[..])
        );
    }
}
