//! The node's durable state in one redb database, `<data_dir>/node.redb`.
//!
//! Tables hold bytes the callers encode; the store never needs their types,
//! so it stays free of the CRDT and consensus crates:
//!
//! - agents: [`AgentId`] → canonical `AgentState` bytes (CRDT state);
//! - membership: [`NodeId`] → member record bytes;
//! - identity: the node's identity key, sealed by the caller (the vault);
//!   the store keeps the sealed bytes only;
//! - settings: name → bytes;
//! - a write-ahead log for consensus: `u64` index → entry bytes, with
//!   append, truncate and range reads.
//!
//! Every write is one transaction committed with [`Durability::Immediate`]:
//! when a method returns `Ok`, the write survives a crash or power cut.
//! Batches ([`NodeStore::put_agents`], [`NodeStore::wal_append`]) are one
//! transaction, so they are all-or-nothing and share one fsync (group
//! commit).
//!
//! redb holds an exclusive file lock while the database is open: a second
//! open, from this process or another, fails with [`NodeStoreOpenError::Locked`].
//!
//! Opening verifies the checksum of every page (the whole file is read), so
//! a file damaged or replaced outside redb is refused with
//! [`NodeStoreOpenError::Corrupt`] instead of being trusted; redb itself
//! may panic on damaged pages it has not checked. Damage done to the file
//! *while* it is open is not detected.

use chrysalis_types::{AgentId, NodeId};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use std::ops::Range;
use std::path::{Path, PathBuf};

mod pending;
mod raft;

/// The database file's name inside the data directory.
pub const NODE_DB_FILE: &str = "node.redb";

const AGENTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("agents");
const MEMBERS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("membership");
const IDENTITY: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("identity");
const SETTINGS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("settings");
const WAL: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("consensus_wal");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

/// Rows of a table keyed by `N`-byte ids.
type Rows<const N: usize> = Vec<([u8; N], Vec<u8>)>;

/// The identity table's only row.
const IDENTITY_ROW: &str = "node_key";
/// The meta row holding the index the next WAL entry gets.
const WAL_NEXT_ROW: &str = "wal_next";

/// Why the node store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeStoreOpenError {
    /// The data directory could not be created.
    #[error("could not create data directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Another process (or another handle in this one) has the database open.
    #[error("{} is in use by another process (or already open in this one)", path.display())]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The file is not a readable redb database: damaged, truncated, or
    /// something else entirely.
    #[error("{} is corrupt or not a node database: {source}", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What redb found.
        #[source]
        source: redb::Error,
    },
    /// Any other storage failure (I/O, an incompatible file format version).
    #[error("could not open {}: {source}", path.display())]
    Storage {
        /// The database file.
        path: PathBuf,
        /// What redb reported.
        #[source]
        source: redb::Error,
    },
}

/// Why a read or write on an open node store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeStoreError {
    /// redb failed (I/O, corruption found while reading, a full disk).
    #[error("node store: {0}")]
    Storage(#[from] redb::Error),
    /// A stored key has the wrong length for its table's id type.
    #[error("node store table {table} holds a key of {found} bytes, expected {expected}")]
    BadKey {
        /// The table.
        table: &'static str,
        /// The key length found.
        found: usize,
        /// The id length expected.
        expected: usize,
    },
    /// A WAL truncation would cut below entries already compacted away.
    #[error("consensus WAL index {index} is out of range (next index is {next})")]
    WalIndex {
        /// The index asked for.
        index: u64,
        /// The index the next appended entry gets.
        next: u64,
    },
}

fn storage<E: Into<redb::Error>>(e: E) -> NodeStoreError {
    NodeStoreError::Storage(e.into())
}

/// The node's durable key-value state. See the [module docs](self).
#[derive(Debug)]
pub struct NodeStore {
    db: Database,
    path: PathBuf,
}

impl NodeStore {
    /// Opens (creating if needed) `<data_dir>/node.redb`, creating
    /// `data_dir` too. Recovers from an unclean shutdown on the way.
    pub fn open(data_dir: &Path) -> Result<Self, NodeStoreOpenError> {
        std::fs::create_dir_all(data_dir).map_err(|source| NodeStoreOpenError::CreateDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(NODE_DB_FILE);
        // Every page's checksum is verified at open: a file damaged outside
        // redb is refused with a typed error where a plain open may panic.
        let db = Database::builder()
            .set_check_integrity_on_open(true)
            .create(&path)
            .map_err(|e| open_error(&path, e.into()))?;
        let store = Self { db, path };
        store
            .create_tables()
            .map_err(|e| open_error(&store.path, e))?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes every table exist, so reads never meet a missing table.
    fn create_tables(&self) -> Result<(), redb::Error> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        tx.open_table(AGENTS)?;
        tx.open_table(MEMBERS)?;
        tx.open_table(IDENTITY)?;
        tx.open_table(SETTINGS)?;
        tx.open_table(WAL)?;
        tx.open_table(META)?;
        tx.commit()?;
        Ok(())
    }

    /// Runs `f` in one write transaction and commits it durably.
    fn write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, NodeStoreError>,
    ) -> Result<T, NodeStoreError> {
        let mut tx = self.db.begin_write().map_err(storage)?;
        tx.set_durability(Durability::Immediate).map_err(storage)?;
        let out = f(&tx)?;
        tx.commit().map_err(storage)?;
        Ok(out)
    }

    /// Runs `f` in one read transaction.
    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, NodeStoreError>,
    ) -> Result<T, NodeStoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        f(&tx)
    }

    fn get(
        &self,
        def: TableDefinition<'_, &[u8], &[u8]>,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, NodeStoreError> {
        self.read(|tx| {
            let table = tx.open_table(def).map_err(storage)?;
            let value = table.get(key).map_err(storage)?;
            Ok(value.map(|v| v.value().to_vec()))
        })
    }

    fn put_many(
        &self,
        def: TableDefinition<'_, &[u8], &[u8]>,
        rows: &mut dyn Iterator<Item = (&[u8], &[u8])>,
    ) -> Result<(), NodeStoreError> {
        self.write(|tx| {
            let mut table = tx.open_table(def).map_err(storage)?;
            for (key, value) in rows {
                table.insert(key, value).map_err(storage)?;
            }
            Ok(())
        })
    }

    fn remove(
        &self,
        def: TableDefinition<'_, &[u8], &[u8]>,
        key: &[u8],
    ) -> Result<bool, NodeStoreError> {
        self.write(|tx| {
            let mut table = tx.open_table(def).map_err(storage)?;
            let removed = table.remove(key).map_err(storage)?;
            Ok(removed.is_some())
        })
    }

    /// Every row of a table keyed by `N`-byte ids, in key order.
    fn all<const N: usize>(
        &self,
        def: TableDefinition<'static, &[u8], &[u8]>,
        table_name: &'static str,
    ) -> Result<Rows<N>, NodeStoreError> {
        self.read(|tx| {
            let table = tx.open_table(def).map_err(storage)?;
            let mut rows = Vec::with_capacity(table.len().map_err(storage)? as usize);
            for row in table.iter().map_err(storage)? {
                let (key, value) = row.map_err(storage)?;
                let key = key.value();
                let id = <[u8; N]>::try_from(key).map_err(|_| NodeStoreError::BadKey {
                    table: table_name,
                    found: key.len(),
                    expected: N,
                })?;
                rows.push((id, value.value().to_vec()));
            }
            Ok(rows)
        })
    }

    /// Stores one agent's CRDT state, durably.
    pub fn put_agent(&self, id: AgentId, state: &[u8]) -> Result<(), NodeStoreError> {
        self.put_agents(&[(id, state)])
    }

    /// Stores many agents' states in one durable transaction (group commit):
    /// after `Ok`, all are stored; after a crash before it, none or all are.
    pub fn put_agents(&self, batch: &[(AgentId, &[u8])]) -> Result<(), NodeStoreError> {
        let mut rows = batch.iter().map(|(id, state)| (&id.as_bytes()[..], *state));
        self.put_many(AGENTS, &mut rows)
    }

    /// One agent's stored state, if any.
    pub fn agent(&self, id: AgentId) -> Result<Option<Vec<u8>>, NodeStoreError> {
        self.get(AGENTS, id.as_bytes())
    }

    /// Every stored agent state, by agent id.
    pub fn agents(&self) -> Result<Vec<(AgentId, Vec<u8>)>, NodeStoreError> {
        let rows = self.all::<{ AgentId::LEN }>(AGENTS, "agents")?;
        Ok(rows
            .into_iter()
            .map(|(k, v)| (AgentId::new(k), v))
            .collect())
    }

    /// Deletes an agent's state; `true` if there was one.
    pub fn remove_agent(&self, id: AgentId) -> Result<bool, NodeStoreError> {
        self.remove(AGENTS, id.as_bytes())
    }

    /// Stores a member record, durably.
    pub fn put_member(&self, id: NodeId, record: &[u8]) -> Result<(), NodeStoreError> {
        let mut rows = std::iter::once((&id.as_bytes()[..], record));
        self.put_many(MEMBERS, &mut rows)
    }

    /// One member's record, if any.
    pub fn member(&self, id: NodeId) -> Result<Option<Vec<u8>>, NodeStoreError> {
        self.get(MEMBERS, id.as_bytes())
    }

    /// Every member record, by node id.
    pub fn members(&self) -> Result<Vec<(NodeId, Vec<u8>)>, NodeStoreError> {
        let rows = self.all::<{ NodeId::LEN }>(MEMBERS, "membership")?;
        Ok(rows.into_iter().map(|(k, v)| (NodeId::new(k), v)).collect())
    }

    /// Deletes a member record; `true` if there was one.
    pub fn remove_member(&self, id: NodeId) -> Result<bool, NodeStoreError> {
        self.remove(MEMBERS, id.as_bytes())
    }

    /// Stores the node's sealed identity key (sealed by the caller; the
    /// store never sees the secret), replacing any previous one.
    pub fn put_sealed_identity(&self, sealed: &[u8]) -> Result<(), NodeStoreError> {
        self.write(|tx| {
            let mut table = tx.open_table(IDENTITY).map_err(storage)?;
            table.insert(IDENTITY_ROW, sealed).map_err(storage)?;
            Ok(())
        })
    }

    /// The sealed identity key, if one was stored.
    pub fn sealed_identity(&self) -> Result<Option<Vec<u8>>, NodeStoreError> {
        self.read(|tx| {
            let table = tx.open_table(IDENTITY).map_err(storage)?;
            let value = table.get(IDENTITY_ROW).map_err(storage)?;
            Ok(value.map(|v| v.value().to_vec()))
        })
    }

    /// Stores a setting, durably.
    pub fn put_setting(&self, name: &str, value: &[u8]) -> Result<(), NodeStoreError> {
        self.write(|tx| {
            let mut table = tx.open_table(SETTINGS).map_err(storage)?;
            table.insert(name, value).map_err(storage)?;
            Ok(())
        })
    }

    /// A setting's value, if set.
    pub fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, NodeStoreError> {
        self.read(|tx| {
            let table = tx.open_table(SETTINGS).map_err(storage)?;
            let value = table.get(name).map_err(storage)?;
            Ok(value.map(|v| v.value().to_vec()))
        })
    }

    /// Deletes a setting; `true` if it was set.
    pub fn remove_setting(&self, name: &str) -> Result<bool, NodeStoreError> {
        self.write(|tx| {
            let mut table = tx.open_table(SETTINGS).map_err(storage)?;
            let removed = table.remove(name).map_err(storage)?;
            Ok(removed.is_some())
        })
    }
}

/// Sorts a redb failure at open into locked, corrupt, or other.
fn open_error(path: &Path, e: redb::Error) -> NodeStoreOpenError {
    let path = path.to_path_buf();
    match e {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
            NodeStoreOpenError::Locked { path }
        }
        redb::Error::Io(ref io) if io.kind() == std::io::ErrorKind::WouldBlock => {
            NodeStoreOpenError::Locked { path }
        }
        redb::Error::Corrupted(_) => NodeStoreOpenError::Corrupt { path, source: e },
        redb::Error::Io(ref io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
            ) =>
        {
            NodeStoreOpenError::Corrupt { path, source: e }
        }
        source => NodeStoreOpenError::Storage { path, source },
    }
}

/// The consensus write-ahead log: entries at consecutive `u64` indices.
impl NodeStore {
    /// The index the next appended entry gets (0 for a new log).
    pub fn wal_next_index(&self) -> Result<u64, NodeStoreError> {
        self.read(|tx| {
            let meta = tx.open_table(META).map_err(storage)?;
            let next = meta.get(WAL_NEXT_ROW).map_err(storage)?;
            Ok(next.map_or(0, |v| v.value()))
        })
    }

    /// Appends entries at the next indices in one durable transaction and
    /// returns the indices they got.
    pub fn wal_append(&self, entries: &[&[u8]]) -> Result<Range<u64>, NodeStoreError> {
        self.write(|tx| {
            let mut meta = tx.open_table(META).map_err(storage)?;
            let first = meta
                .get(WAL_NEXT_ROW)
                .map_err(storage)?
                .map_or(0, |v| v.value());
            let mut wal = tx.open_table(WAL).map_err(storage)?;
            let mut next = first;
            for entry in entries {
                wal.insert(next, *entry).map_err(storage)?;
                next += 1;
            }
            meta.insert(WAL_NEXT_ROW, next).map_err(storage)?;
            Ok(first..next)
        })
    }

    /// Entries with indices in `range`, in order (missing ones, compacted
    /// away or never written, are skipped).
    pub fn wal_read(&self, range: Range<u64>) -> Result<Vec<(u64, Vec<u8>)>, NodeStoreError> {
        self.read(|tx| {
            let wal = tx.open_table(WAL).map_err(storage)?;
            let mut out = Vec::new();
            for row in wal.range(range).map_err(storage)? {
                let (index, value) = row.map_err(storage)?;
                out.push((index.value(), value.value().to_vec()));
            }
            Ok(out)
        })
    }

    /// Deletes every entry at `from` or later, durably; the next append
    /// gets index `from`. Fails if `from` is past the end of the log.
    pub fn wal_truncate(&self, from: u64) -> Result<(), NodeStoreError> {
        self.write(|tx| {
            let mut meta = tx.open_table(META).map_err(storage)?;
            let next = meta
                .get(WAL_NEXT_ROW)
                .map_err(storage)?
                .map_or(0, |v| v.value());
            if from > next {
                return Err(NodeStoreError::WalIndex { index: from, next });
            }
            let mut wal = tx.open_table(WAL).map_err(storage)?;
            remove_range(&mut wal, from..next)?;
            meta.insert(WAL_NEXT_ROW, from).map_err(storage)?;
            Ok(())
        })
    }

    /// Deletes every entry before `before` (after a snapshot), durably.
    /// Indices of later entries do not change.
    pub fn wal_compact(&self, before: u64) -> Result<(), NodeStoreError> {
        self.write(|tx| {
            let mut wal = tx.open_table(WAL).map_err(storage)?;
            remove_range(&mut wal, 0..before)
        })
    }
}

fn remove_range(
    wal: &mut redb::Table<'_, u64, &[u8]>,
    range: Range<u64>,
) -> Result<(), NodeStoreError> {
    let keys = {
        let mut keys = Vec::new();
        for row in wal.range(range).map_err(storage)? {
            keys.push(row.map_err(storage)?.0.value());
        }
        keys
    };
    for key in keys {
        wal.remove(key).map_err(storage)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, NodeStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = NodeStore::open(&dir.path().join("data")).unwrap();
        (dir, store)
    }

    #[test]
    fn agents_round_trip_and_batch() {
        let (_dir, store) = store();
        let a = AgentId::new([1; 16]);
        let b = AgentId::new([2; 16]);
        assert_eq!(store.agent(a).unwrap(), None);
        store.put_agents(&[(b, b"bee"), (a, b"ay")]).unwrap();
        assert_eq!(store.agent(a).unwrap().as_deref(), Some(&b"ay"[..]));
        let all = store.agents().unwrap();
        assert_eq!(all, vec![(a, b"ay".to_vec()), (b, b"bee".to_vec())]);
        assert!(store.remove_agent(a).unwrap());
        assert!(!store.remove_agent(a).unwrap());
        assert_eq!(store.agents().unwrap().len(), 1);
    }

    #[test]
    fn members_identity_settings() {
        let (_dir, store) = store();
        let n = NodeId::new([9; 32]);
        store.put_member(n, b"alive").unwrap();
        assert_eq!(store.members().unwrap(), vec![(n, b"alive".to_vec())]);
        assert_eq!(store.member(n).unwrap().as_deref(), Some(&b"alive"[..]));
        assert!(store.remove_member(n).unwrap());
        assert_eq!(store.sealed_identity().unwrap(), None);
        store.put_sealed_identity(b"sealed-1").unwrap();
        store.put_sealed_identity(b"sealed-2").unwrap();
        assert_eq!(
            store.sealed_identity().unwrap().as_deref(),
            Some(&b"sealed-2"[..])
        );
        store.put_setting("listen", b"127.0.0.1:0").unwrap();
        assert_eq!(
            store.setting("listen").unwrap().as_deref(),
            Some(&b"127.0.0.1:0"[..])
        );
        assert!(store.remove_setting("listen").unwrap());
        assert_eq!(store.setting("listen").unwrap(), None);
    }

    #[test]
    fn wal_append_truncate_compact() {
        let (_dir, store) = store();
        assert_eq!(store.wal_next_index().unwrap(), 0);
        assert_eq!(store.wal_append(&[b"a", b"b", b"c"]).unwrap(), 0..3);
        assert_eq!(store.wal_append(&[b"d"]).unwrap(), 3..4);
        let read = store.wal_read(1..3).unwrap();
        assert_eq!(read, vec![(1, b"b".to_vec()), (2, b"c".to_vec())]);
        store.wal_truncate(2).unwrap();
        assert_eq!(store.wal_next_index().unwrap(), 2);
        assert_eq!(store.wal_read(0..10).unwrap().len(), 2);
        assert!(matches!(
            store.wal_truncate(5),
            Err(NodeStoreError::WalIndex { index: 5, next: 2 })
        ));
        assert_eq!(store.wal_append(&[b"x"]).unwrap(), 2..3);
        store.wal_compact(2).unwrap();
        assert_eq!(store.wal_read(0..10).unwrap(), vec![(2, b"x".to_vec())]);
        // Compaction keeps the numbering, even when it empties the log.
        store.wal_compact(10).unwrap();
        assert_eq!(store.wal_append(&[b"y"]).unwrap(), 3..4);
    }

    #[test]
    fn second_open_is_locked() {
        let (dir, _store) = store();
        let err = NodeStore::open(&dir.path().join("data")).unwrap_err();
        assert!(
            matches!(err, NodeStoreOpenError::Locked { .. }),
            "got {err:?}"
        );
    }

    #[test]
    fn data_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = NodeStore::open(dir.path()).unwrap();
            store.put_agent(AgentId::new([3; 16]), b"state").unwrap();
            store.wal_append(&[b"w"]).unwrap();
        }
        let store = NodeStore::open(dir.path()).unwrap();
        assert_eq!(store.agents().unwrap().len(), 1);
        assert_eq!(store.wal_next_index().unwrap(), 1);
    }
}
