//! Where the node keeps agent states: a small trait, so the event loop does
//! not care whether states live in memory (tests) or on disk.
//!
//! - [`NodeStore`] (chrysalis-store, redb at `<data_dir>/node.redb`): what
//!   `chrysalis up` uses. A batch of states is one durable transaction
//!   (group commit): after `Ok` all are stored, after a crash none or all.
//! - [`DirStore`] writes one file per agent under a directory, each
//!   replaced atomically (temp file, fsync, rename, fsync directory).
//!
//! Either way a state the node acknowledged survives `kill -9`, and a torn
//! write leaves the previous state in place.

use chrysalis_store::atomic::{AtomicWriteError, write_atomic};
pub use chrysalis_store::node_store::NodeStore;
use chrysalis_store::node_store::{NodeStoreError, NodeStoreOpenError};
use chrysalis_types::AgentId;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The largest agent state file read back, in bytes.
pub const MAX_STATE_FILE_BYTES: u64 = 16 << 20;

/// Why the agent-state store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file operation failed.
    #[error("could not {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A state could not be written; the previous one is intact.
    #[error(transparent)]
    Write(#[from] AtomicWriteError),
    /// The node database failed.
    #[error(transparent)]
    Database(#[from] NodeStoreError),
    /// The node database could not be opened.
    #[error(transparent)]
    OpenDatabase(#[from] NodeStoreOpenError),
    /// A file in the store is not an agent state file.
    #[error("{} is not an agent state file", path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
    },
}

/// Durable agent states, as encoded bytes.
pub trait StateStore: Send + 'static {
    /// Every stored state.
    fn load_all(&self) -> Result<Vec<(AgentId, Vec<u8>)>, StoreError>;
    /// Stores `bytes` as the state of `agent`, durably, before returning.
    fn put(&mut self, agent: AgentId, bytes: &[u8]) -> Result<(), StoreError>;

    /// Stores several states durably before returning (one transaction
    /// where the backend has them).
    fn put_many(&mut self, batch: &[(AgentId, Vec<u8>)]) -> Result<(), StoreError> {
        for (agent, bytes) in batch {
            self.put(*agent, bytes)?;
        }
        Ok(())
    }

    /// A small named value kept across restarts (such as the SWIM
    /// incarnation); `None` when never set or when the backend keeps none.
    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let _ = name;
        Ok(None)
    }

    /// Stores a named value durably (a no-op where the backend keeps none).
    fn put_setting(&mut self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let _ = (name, value);
        Ok(())
    }
}

/// The node database (shared with consensus, `crate::consensus::NodeDisk`).
impl StateStore for std::sync::Arc<NodeStore> {
    fn load_all(&self) -> Result<Vec<(AgentId, Vec<u8>)>, StoreError> {
        Ok(self.agents()?)
    }

    fn put(&mut self, agent: AgentId, bytes: &[u8]) -> Result<(), StoreError> {
        Ok(self.put_agent(agent, bytes)?)
    }

    fn put_many(&mut self, batch: &[(AgentId, Vec<u8>)]) -> Result<(), StoreError> {
        let rows: Vec<(AgentId, &[u8])> = batch.iter().map(|(a, b)| (*a, b.as_slice())).collect();
        Ok(self.put_agents(&rows)?)
    }

    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(NodeStore::setting(self, name)?)
    }

    fn put_setting(&mut self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        Ok(NodeStore::put_setting(self, name, value)?)
    }
}

/// States in memory: for tests and benchmarks of everything above the disk.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    states: BTreeMap<AgentId, Vec<u8>>,
    settings: BTreeMap<String, Vec<u8>>,
}

impl StateStore for MemoryStore {
    fn load_all(&self) -> Result<Vec<(AgentId, Vec<u8>)>, StoreError> {
        Ok(self.states.iter().map(|(k, v)| (*k, v.clone())).collect())
    }

    fn put(&mut self, agent: AgentId, bytes: &[u8]) -> Result<(), StoreError> {
        self.states.insert(agent, bytes.to_vec());
        Ok(())
    }

    fn setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.settings.get(name).cloned())
    }

    fn put_setting(&mut self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.settings.insert(name.to_owned(), value.to_vec());
        Ok(())
    }
}

/// One atomically replaced file per agent under a directory.
#[derive(Debug, Clone)]
pub struct DirStore {
    dir: PathBuf,
}

impl DirStore {
    /// A store under `dir` (created if missing).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            op: "create",
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
    }

    fn path_of(&self, agent: AgentId) -> PathBuf {
        self.dir.join(format!("{agent}.state"))
    }

    fn read_one(path: &Path) -> Result<Option<(AgentId, Vec<u8>)>, StoreError> {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Ok(None);
        };
        let Some(stem) = name.strip_suffix(".state") else {
            // Temp files of interrupted writes and anything else: not ours.
            return Ok(None);
        };
        let agent: AgentId = stem.parse().map_err(|_| StoreError::Foreign {
            path: path.to_path_buf(),
        })?;
        let io = |op| {
            move |source| StoreError::Io {
                op,
                path: path.to_path_buf(),
                source,
            }
        };
        let len = std::fs::metadata(path).map_err(io("stat"))?.len();
        if len > MAX_STATE_FILE_BYTES {
            return Err(StoreError::Foreign {
                path: path.to_path_buf(),
            });
        }
        let bytes = std::fs::read(path).map_err(io("read"))?;
        Ok(Some((agent, bytes)))
    }
}

impl StateStore for DirStore {
    fn load_all(&self) -> Result<Vec<(AgentId, Vec<u8>)>, StoreError> {
        let io = |op| {
            move |source| StoreError::Io {
                op,
                path: self.dir.clone(),
                source,
            }
        };
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io("list"))? {
            let entry = entry.map_err(io("list"))?;
            if let Some(found) = Self::read_one(&entry.path())? {
                out.push(found);
            }
        }
        out.sort_by_key(|(id, _)| *id);
        Ok(out)
    }

    fn put(&mut self, agent: AgentId, bytes: &[u8]) -> Result<(), StoreError> {
        Ok(write_atomic(&self.path_of(agent), bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_store_round_trips_and_skips_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = DirStore::open(dir.path().join("agents")).unwrap();
        let a = AgentId::new([1; 16]);
        store.put(a, b"one").unwrap();
        store.put(a, b"two").unwrap();
        std::fs::write(dir.path().join("agents/x.chrysalis-tmp-1"), b"torn").unwrap();
        let reopened = DirStore::open(dir.path().join("agents")).unwrap();
        assert_eq!(reopened.load_all().unwrap(), vec![(a, b"two".to_vec())]);
    }

    #[test]
    fn node_store_keeps_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = std::sync::Arc::new(NodeStore::open(dir.path()).unwrap());
        let (a, b) = (AgentId::new([1; 16]), AgentId::new([2; 16]));
        store
            .put_many(&[(a, b"a".to_vec()), (b, b"b".to_vec())])
            .unwrap();
        drop(store);
        let store = std::sync::Arc::new(NodeStore::open(dir.path()).unwrap());
        assert_eq!(
            store.load_all().unwrap(),
            vec![(a, b"a".to_vec()), (b, b"b".to_vec())]
        );
    }

    #[test]
    fn a_foreign_state_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nope.state"), b"x").unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        assert!(matches!(store.load_all(), Err(StoreError::Foreign { .. })));
    }
}
