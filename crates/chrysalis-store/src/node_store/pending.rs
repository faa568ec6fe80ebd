//! The consensus transactions a node acknowledged but has not yet seen
//! decided, one row per transaction (`consensus_pending`: 32-byte key →
//! transaction bytes), so admitting a batch and settling a decided block
//! each write only the rows they touch.

use super::{NodeStore, NodeStoreError, SETTINGS, storage};
use redb::{ReadableTable, TableDefinition};

const PENDING: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("consensus_pending");

impl NodeStore {
    /// Adds acknowledged transactions (key, bytes), durably, in one write.
    pub fn pending_put(&self, rows: &[([u8; 32], &[u8])]) -> Result<(), NodeStoreError> {
        self.write(|tx| {
            let mut table = tx.open_table(PENDING).map_err(storage)?;
            for (key, value) in rows {
                table.insert(key.as_slice(), *value).map_err(storage)?;
            }
            Ok(())
        })
    }

    /// Every acknowledged transaction not yet settled, in key order.
    pub fn pending_all(&self) -> Result<Vec<Vec<u8>>, NodeStoreError> {
        self.read(|tx| {
            let table = match tx.open_table(PENDING) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(storage(e)),
            };
            let mut out = Vec::new();
            for row in table.iter().map_err(storage)? {
                let (_, value) = row.map_err(storage)?;
                out.push(value.value().to_vec());
            }
            Ok(out)
        })
    }

    /// Stores `settings` (a decided block, the state after it) and removes
    /// the pending rows they settle, in one durable write: after a crash
    /// either all of it happened or none did.
    pub fn put_settings_settling(
        &self,
        settings: &[(&str, &[u8])],
        settled: &[[u8; 32]],
    ) -> Result<(), NodeStoreError> {
        self.write(|tx| {
            let mut table = tx.open_table(SETTINGS).map_err(storage)?;
            for (name, value) in settings {
                table.insert(*name, *value).map_err(storage)?;
            }
            if !settled.is_empty() {
                let mut pending = tx.open_table(PENDING).map_err(storage)?;
                for key in settled {
                    pending.remove(key.as_slice()).map_err(storage)?;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_rows_survive_reopening_and_a_decision_settles_them() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = NodeStore::open(dir.path()).unwrap();
            assert!(store.pending_all().unwrap().is_empty());
            store
                .pending_put(&[([1; 32], b"one"), ([2; 32], b"two"), ([3; 32], b"three")])
                .unwrap();
        }
        let store = NodeStore::open(dir.path()).unwrap();
        assert_eq!(
            store.pending_all().unwrap(),
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
        store
            .put_settings_settling(
                &[("block/1", b"decided"), ("state", b"after")],
                &[[1; 32], [3; 32], [9; 32]],
            )
            .unwrap();
        assert_eq!(store.pending_all().unwrap(), vec![b"two".to_vec()]);
        assert_eq!(store.setting("block/1").unwrap().unwrap(), b"decided");
        assert_eq!(store.setting("state").unwrap().unwrap(), b"after");
    }
}
