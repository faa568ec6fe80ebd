//! Where the node keeps agent states: a small trait, so the event loop does
//! not care whether states live in memory (tests) or on disk.
//!
//! - [`NodeStore`] (chrysalis-store, redb at `<data_dir>/node.redb`): what
//!   `chrysalis up` uses. A batch of states is one durable transaction
//!   (group commit): after `Ok` all are stored, after a crash none or all,
//!   so a state the node acknowledged survives `kill -9`.
//! - [`MemoryStore`]: for tests and benchmarks of everything above the disk.

pub use chrysalis_store::node_store::NodeStore;
use chrysalis_store::node_store::{NodeStoreError, NodeStoreOpenError};
use chrysalis_types::AgentId;
use std::collections::BTreeMap;

/// Why the agent-state store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The node database failed.
    #[error(transparent)]
    Database(#[from] NodeStoreError),
    /// The node database could not be opened.
    #[error(transparent)]
    OpenDatabase(#[from] NodeStoreOpenError),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
