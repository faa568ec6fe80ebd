//! Where consensus keeps what must survive `kill -9`: the engine's
//! write-ahead log (so a restarted validator never signs a vote that
//! conflicts with one it sent before the crash) and the decided blocks
//! with their commit certificates (so a restarted node serves its log and
//! answers peers that are behind).
//!
//! [`NodeDisk`] keeps both in the node's redb database (the WAL table, and
//! one setting per decided height); [`MemDisk`] keeps them in memory, for
//! tests and benchmarks of everything above the disk.

use crate::store::NodeStore;
use chrysalis_consensus::{
    Block, CommitCert, Decision, Height, Message, Snapshot, Tx, TxKey, WalEntry,
};
use chrysalis_store::node_store::NodeStoreError;
use chrysalis_types::codec::{Decode, DecodeError, Encode};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The setting that held the acknowledged, not yet decided transactions
/// as one record, before they got a table of their own; read once and
/// moved into the table.
const LEGACY_PENDING: &str = "consensus/pending";

/// Transactions as `count, (len, bytes)*`, lengths as u32 little-endian
/// (the legacy pending record).
#[cfg(test)]
fn encode_txs(txs: &[Tx]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + txs.iter().map(|t| 4 + t.0.len()).sum::<usize>());
    out.extend_from_slice(&(txs.len() as u32).to_le_bytes());
    for tx in txs {
        out.extend_from_slice(&(tx.0.len() as u32).to_le_bytes());
        out.extend_from_slice(&tx.0);
    }
    out
}

fn decode_txs(mut bytes: &[u8]) -> Result<Vec<Tx>, DiskError> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], DiskError> {
        if bytes.len() < n {
            return Err(DiskError::BadPending);
        }
        let (head, rest) = bytes.split_at(n);
        *bytes = rest;
        Ok(head)
    }
    let u32_at = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let count = u32_at(take(&mut bytes, 4)?);
    let mut txs = Vec::with_capacity(count.min(bytes.len() / 4));
    for _ in 0..count {
        let len = u32_at(take(&mut bytes, 4)?);
        txs.push(Tx(take(&mut bytes, len)?.to_vec()));
    }
    if !bytes.is_empty() {
        return Err(DiskError::BadPending);
    }
    Ok(txs)
}

/// The setting holding the state machine's snapshot after the last decided
/// height: `height (u64 big-endian) ‖ state`.
const STATE: &str = "consensus/state";

fn encode_state(s: &Snapshot) -> Vec<u8> {
    let mut out = s.height.0.to_be_bytes().to_vec();
    out.extend_from_slice(&s.state);
    out
}

fn decode_state(bytes: &[u8]) -> Result<Snapshot, DiskError> {
    let (height, state) = bytes.split_first_chunk::<8>().ok_or(DiskError::BadState)?;
    Ok(Snapshot {
        height: Height(u64::from_be_bytes(*height)),
        state: state.to_vec(),
    })
}

fn block_key(height: Height) -> String {
    format!("consensus/block/{:020}", height.0)
}

/// Why the consensus disk failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiskError {
    /// The node database failed.
    #[error(transparent)]
    Database(#[from] NodeStoreError),
    /// A stored WAL entry or block does not decode: the database is damaged.
    #[error("stored consensus record is corrupt: {0}")]
    Corrupt(#[from] DecodeError),
    /// A stored decided block is not a commit record.
    #[error("stored decided block at height {0} is not a commit record")]
    NotACommit(u64),
    /// The stored pending transactions do not decode.
    #[error("stored pending transactions are corrupt")]
    BadPending,
    /// The stored state record is shorter than its height.
    #[error("stored consensus state record is corrupt")]
    BadState,
}

/// Durable consensus state. Every method returns only once its write is
/// durable.
pub trait ConsensusDisk: Send + 'static {
    /// Appends WAL entries in order, in one durable write. A
    /// [`WalEntry::Height`] starts a new height: entries before it are no
    /// longer needed.
    fn wal_append(&mut self, entries: &[WalEntry]) -> Result<(), DiskError>;
    /// The entries from the last [`WalEntry::Height`] on.
    fn wal_entries(&self) -> Result<Vec<WalEntry>, DiskError>;
    /// Stores a decided block and its certificate, and makes it the last;
    /// in the same write, `state` (the state machine after applying it)
    /// becomes the stored state, and the pending transactions keyed
    /// `settled` (those the block carries) stop being pending.
    fn put_decision(
        &mut self,
        decision: &Decision,
        state: &Snapshot,
        settled: &[TxKey],
    ) -> Result<(), DiskError>;
    /// The state machine after the last decision, if stored (a database
    /// written before states were stored has none: replay the blocks).
    fn state(&self) -> Result<Option<Snapshot>, DiskError>;
    /// The decided block at `height`, if stored.
    fn decision(&self, height: Height) -> Result<Option<Decision>, DiskError>;
    /// The last decided height (0 when none).
    fn last_height(&self) -> Result<Height, DiskError>;
    /// Adds acknowledged transactions, not yet decided.
    fn add_pending(&mut self, txs: &[(TxKey, Tx)]) -> Result<(), DiskError>;
    /// The acknowledged transactions not yet decided.
    fn pending(&self) -> Result<Vec<Tx>, DiskError>;
}

/// The entries from the last height marker on.
fn from_last_height(entries: Vec<WalEntry>) -> Vec<WalEntry> {
    let start = entries
        .iter()
        .rposition(|e| matches!(e, WalEntry::Height(_)))
        .unwrap_or(0);
    entries.into_iter().skip(start).collect()
}

fn encode_decision(d: &Decision) -> Vec<u8> {
    Message::Commit(d.block.clone(), d.cert.clone()).to_bytes()
}

fn decode_decision(height: Height, bytes: &[u8]) -> Result<Decision, DiskError> {
    match Message::from_bytes(bytes)? {
        Message::Commit(block, cert) => Ok(Decision { block, cert }),
        _ => Err(DiskError::NotACommit(height.0)),
    }
}

/// The consensus disk in the node's redb database.
#[derive(Debug, Clone)]
pub struct NodeDisk {
    store: Arc<NodeStore>,
}

impl NodeDisk {
    /// Keeps consensus state in `store`.
    pub fn new(store: Arc<NodeStore>) -> Self {
        Self { store }
    }
}

impl ConsensusDisk for NodeDisk {
    fn wal_append(&mut self, entries: &[WalEntry]) -> Result<(), DiskError> {
        let bytes: Vec<Vec<u8>> = entries.iter().map(Encode::to_bytes).collect();
        let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        let range = self.store.wal_append(&refs)?;
        // Entries before the newest height marker are garbage: reclaim them
        // (after the append is durable, so a crash in between loses nothing).
        if let Some(pos) = entries
            .iter()
            .rposition(|e| matches!(e, WalEntry::Height(_)))
        {
            self.store.wal_compact(range.start + pos as u64)?;
        }
        Ok(())
    }

    fn wal_entries(&self) -> Result<Vec<WalEntry>, DiskError> {
        let next = self.store.wal_next_index()?;
        let mut out = Vec::new();
        for (_, bytes) in self.store.wal_read(0..next)? {
            out.push(WalEntry::from_bytes(&bytes)?);
        }
        Ok(from_last_height(out))
    }

    fn put_decision(
        &mut self,
        decision: &Decision,
        state: &Snapshot,
        settled: &[TxKey],
    ) -> Result<(), DiskError> {
        let height = decision.block.height;
        // One durable write: heights are stored in order, so the last one
        // is found by searching for the first missing height.
        let block = encode_decision(decision);
        let state = encode_state(state);
        self.store
            .put_settings_settling(&[(&block_key(height), &block), (STATE, &state)], settled)?;
        Ok(())
    }

    fn state(&self) -> Result<Option<Snapshot>, DiskError> {
        self.store
            .setting(STATE)?
            .map(|bytes| decode_state(&bytes))
            .transpose()
    }

    fn decision(&self, height: Height) -> Result<Option<Decision>, DiskError> {
        match self.store.setting(&block_key(height))? {
            Some(bytes) => Ok(Some(decode_decision(height, &bytes)?)),
            None => Ok(None),
        }
    }

    fn last_height(&self) -> Result<Height, DiskError> {
        let stored = |h: u64| -> Result<bool, DiskError> {
            Ok(self.store.setting(&block_key(Height(h)))?.is_some())
        };
        // Heights 1..=last are stored, none above: gallop, then bisect.
        let (mut low, mut high) = (0u64, 1u64);
        while stored(high)? {
            low = high;
            high = high.saturating_mul(2);
        }
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            if stored(mid)? {
                low = mid;
            } else {
                high = mid;
            }
        }
        Ok(Height(low))
    }

    fn add_pending(&mut self, txs: &[(TxKey, Tx)]) -> Result<(), DiskError> {
        let rows: Vec<(TxKey, &[u8])> = txs.iter().map(|(k, t)| (*k, t.0.as_slice())).collect();
        Ok(self.store.pending_put(&rows)?)
    }

    fn pending(&self) -> Result<Vec<Tx>, DiskError> {
        if let Some(bytes) = self.store.setting(LEGACY_PENDING)? {
            // Moved row by row (idempotent), then the record is dropped.
            let legacy = decode_txs(&bytes)?;
            let rows: Vec<(TxKey, &[u8])> =
                legacy.iter().map(|t| (t.key(), t.0.as_slice())).collect();
            self.store.pending_put(&rows)?;
            self.store.remove_setting(LEGACY_PENDING)?;
        }
        Ok(self.store.pending_all()?.into_iter().map(Tx).collect())
    }
}

/// Consensus state in memory (lost on restart): tests and benchmarks.
#[derive(Debug, Default, Clone)]
pub struct MemDisk {
    wal: Vec<WalEntry>,
    blocks: BTreeMap<Height, (Block, CommitCert)>,
    pending: BTreeMap<TxKey, Tx>,
    state: Option<Snapshot>,
}

impl ConsensusDisk for MemDisk {
    fn wal_append(&mut self, entries: &[WalEntry]) -> Result<(), DiskError> {
        self.wal.extend_from_slice(entries);
        self.wal = from_last_height(std::mem::take(&mut self.wal));
        Ok(())
    }

    fn wal_entries(&self) -> Result<Vec<WalEntry>, DiskError> {
        Ok(self.wal.clone())
    }

    fn put_decision(
        &mut self,
        d: &Decision,
        state: &Snapshot,
        settled: &[TxKey],
    ) -> Result<(), DiskError> {
        self.blocks
            .insert(d.block.height, (d.block.clone(), d.cert.clone()));
        self.state = Some(state.clone());
        for key in settled {
            self.pending.remove(key);
        }
        Ok(())
    }

    fn state(&self) -> Result<Option<Snapshot>, DiskError> {
        Ok(self.state.clone())
    }

    fn decision(&self, height: Height) -> Result<Option<Decision>, DiskError> {
        Ok(self.blocks.get(&height).map(|(block, cert)| Decision {
            block: block.clone(),
            cert: cert.clone(),
        }))
    }

    fn last_height(&self) -> Result<Height, DiskError> {
        Ok(self.blocks.keys().next_back().copied().unwrap_or(Height(0)))
    }

    fn add_pending(&mut self, txs: &[(TxKey, Tx)]) -> Result<(), DiskError> {
        self.pending.extend(txs.iter().cloned());
        Ok(())
    }

    fn pending(&self) -> Result<Vec<Tx>, DiskError> {
        Ok(self.pending.values().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrysalis_consensus::{BlockHash, Round, SignedVote, ValidatorIndex, Vote, VoteKind};

    fn vote(round: u32) -> WalEntry {
        let key = chrysalis_consensus::SigningKey::from([7u8; 32]);
        WalEntry::Vote(
            Vote {
                kind: VoteKind::Prevote,
                height: Height(2),
                round: Round(round),
                value: Some(BlockHash([1; 32])),
                validator: ValidatorIndex(0),
            }
            .sign(&key),
        )
    }

    fn decision(h: u64) -> Decision {
        Decision {
            block: Block {
                height: Height(h),
                proposer: ValidatorIndex(0),
                txs: vec![chrysalis_consensus::Tx(vec![1, 2, 3])],
            },
            cert: CommitCert {
                height: Height(h),
                round: Round(0),
                block_hash: BlockHash([0; 32]),
                precommits: Vec::<SignedVote>::new(),
            },
        }
    }

    fn state(h: u64) -> Snapshot {
        Snapshot {
            height: Height(h),
            state: vec![h as u8; 40],
        }
    }

    #[test]
    fn wal_and_blocks_survive_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut disk = NodeDisk::new(Arc::new(NodeStore::open(dir.path()).unwrap()));
            disk.wal_append(&[WalEntry::Height(Height(1)), vote(0)])
                .unwrap();
            disk.wal_append(&[WalEntry::Height(Height(2))]).unwrap();
            disk.wal_append(&[vote(0), vote(1)]).unwrap();
            disk.put_decision(&decision(1), &state(1), &[]).unwrap();
        }
        let disk = NodeDisk::new(Arc::new(NodeStore::open(dir.path()).unwrap()));
        assert_eq!(
            disk.wal_entries().unwrap(),
            vec![WalEntry::Height(Height(2)), vote(0), vote(1)]
        );
        assert_eq!(disk.last_height().unwrap(), Height(1));
        assert_eq!(disk.decision(Height(1)).unwrap(), Some(decision(1)));
        assert_eq!(disk.state().unwrap(), Some(state(1)));
        assert_eq!(disk.decision(Height(2)).unwrap(), None);
        let mut disk = disk;
        for h in 2..=37 {
            disk.put_decision(&decision(h), &state(h), &[]).unwrap();
            assert_eq!(disk.state().unwrap(), Some(state(h)));
            assert_eq!(disk.last_height().unwrap(), Height(h));
        }
    }

    #[test]
    fn a_corrupt_record_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(NodeStore::open(dir.path()).unwrap());
        store.wal_append(&[&[0xFF, 0x00, 0x13]]).unwrap();
        store.put_setting(&block_key(Height(1)), b"junk").unwrap();
        let disk = NodeDisk::new(store);
        assert!(matches!(disk.wal_entries(), Err(DiskError::Corrupt(_))));
        assert!(disk.decision(Height(1)).is_err());
        disk.store.put_setting(STATE, &[1, 2, 3]).unwrap();
        assert!(matches!(disk.state(), Err(DiskError::BadState)));
    }

    #[test]
    fn legacy_pending_records_decode_and_truncated_ones_are_refused() {
        let txs = vec![Tx(b"a".to_vec()), Tx(vec![]), Tx(vec![9; 300])];
        let bytes = encode_txs(&txs);
        assert_eq!(decode_txs(&bytes).unwrap(), txs);
        for cut in 0..bytes.len() {
            assert!(decode_txs(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_txs(&[0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    }

    fn sorted(mut txs: Vec<Tx>) -> Vec<Tx> {
        txs.sort();
        txs
    }

    #[test]
    fn pending_txs_survive_reopening_and_a_decision_settles_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(NodeStore::open(dir.path()).unwrap());
        // A database written before pending transactions had a table.
        let legacy = vec![Tx(b"old".to_vec())];
        store
            .put_setting(LEGACY_PENDING, &encode_txs(&legacy))
            .unwrap();
        let mut disk = NodeDisk::new(store);
        let new: Vec<(TxKey, Tx)> = [b"x".to_vec(), b"y".to_vec()]
            .into_iter()
            .map(|b| (Tx(b.clone()).key(), Tx(b)))
            .collect();
        disk.add_pending(&new).unwrap();
        let all = vec![Tx(b"old".to_vec()), Tx(b"x".to_vec()), Tx(b"y".to_vec())];
        assert_eq!(sorted(disk.pending().unwrap()), all);
        drop(disk);
        let mut disk = NodeDisk::new(Arc::new(NodeStore::open(dir.path()).unwrap()));
        assert_eq!(sorted(disk.pending().unwrap()), all);
        let settled = [Tx(b"x".to_vec()).key(), Tx(b"old".to_vec()).key()];
        disk.put_decision(&decision(1), &state(1), &settled)
            .unwrap();
        assert_eq!(disk.pending().unwrap(), vec![Tx(b"y".to_vec())]);
        assert_eq!(disk.decision(Height(1)).unwrap(), Some(decision(1)));
    }

    #[test]
    fn memory_disk_keeps_the_current_height_only() {
        let mut disk = MemDisk::default();
        disk.wal_append(&[WalEntry::Height(Height(1)), vote(0)])
            .unwrap();
        disk.wal_append(&[WalEntry::Height(Height(2)), vote(1)])
            .unwrap();
        assert_eq!(
            disk.wal_entries().unwrap(),
            vec![WalEntry::Height(Height(2)), vote(1)]
        );
    }
}
