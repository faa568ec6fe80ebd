//! openraft's state machine over any [`chrysalis_consensus::StateMachine`]:
//! committed application entries are applied in log order as blocks of
//! consecutive heights (so a [`chrysalis_consensus::StateMachine`] sees the
//! same calls under either engine), stored as block records, and the
//! machine's `snapshot()`/`restore()` with the height, the last applied log
//! id and the membership form openraft's snapshots.
//!
//! A batch whose write id was applied before (a writer's retry committed
//! twice) is skipped: no block, no call to the machine, the same on every
//! replica, because the [`SessionTable`] that decides is part of the
//! applied state and of snapshots.
//!
//! The applied state (last applied log id, membership, height, session
//! table, the machine's snapshot bytes) is stored with every applied
//! batch, in the same transaction as its blocks; that transaction is not
//! flushed (raft re-applies committed entries from the durable log after a
//! crash, and the table it rebuilds on the way is the same).

use crate::session::{Outcome, SessionTable, Verdict};
use crate::types::{
    Batch, Block, Entry, LogId, RecordError, SnapshotMeta, StorageError, StoredMembership,
    TypeConfig, decode, encode, hex_bytes,
};
use chrysalis_consensus::{Height, StateMachine, Tx};
use chrysalis_store::node_store::{NodeStore, NodeStoreError};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::watch;

const APPLIED: &str = "applied";
const SNAPSHOT: &str = "snapshot";

/// Why the state machine could not be read, written or restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateMachineError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] NodeStoreError),
    /// A stored record does not decode.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The machine refused a stored or received snapshot.
    #[error("the state machine refused a snapshot: {0}")]
    Restore(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The applied state, as stored. A record written before sessions
/// existed has none: its table is empty.
#[derive(Serialize, Deserialize)]
struct AppliedRecord {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    height: u64,
    #[serde(with = "hex_bytes")]
    state: Vec<u8>,
    #[serde(default)]
    sessions: SessionTable,
}

/// A snapshot's data: the height, the session table (empty in a snapshot
/// taken before sessions existed) and the machine's bytes.
#[derive(Serialize, Deserialize)]
struct SnapshotBody {
    height: u64,
    #[serde(with = "hex_bytes")]
    state: Vec<u8>,
    #[serde(default)]
    sessions: SessionTable,
}

/// The current snapshot, as stored.
#[derive(Serialize, Deserialize)]
struct SnapshotRecord {
    meta: SnapshotMeta,
    #[serde(with = "hex_bytes")]
    data: Vec<u8>,
}

/// Each entry's reply, the encoded new blocks by height, the encoded
/// applied state.
type Applying = (Vec<Outcome>, Vec<(u64, Vec<u8>)>, Vec<u8>);

/// What has been applied: the machine and where it stands.
#[derive(Debug)]
pub struct Applied<M> {
    /// The replicated state machine.
    pub machine: M,
    /// The last log entry applied.
    pub last_applied: Option<LogId>,
    /// The membership in force.
    pub membership: StoredMembership,
    /// Blocks applied (the last block's height).
    pub height: u64,
    /// What each writer's session has applied.
    pub sessions: SessionTable,
    /// The last block applied, if it was applied in this run or stored.
    pub last_block: Option<Block>,
}

/// The state machine of one node. Clones share it (the snapshot builder is
/// a clone).
#[derive(Debug)]
pub struct StateMachineStore<M> {
    store: Arc<NodeStore>,
    shared: Arc<Mutex<Applied<M>>>,
    height: Arc<watch::Sender<u64>>,
}

impl<M> Clone for StateMachineStore<M> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            shared: self.shared.clone(),
            height: self.height.clone(),
        }
    }
}

fn restore<M: StateMachine>(machine: &mut M, state: &[u8]) -> Result<(), StateMachineError>
where
    M::Error: Send + Sync + 'static,
{
    machine
        .restore(state)
        .map_err(|e| StateMachineError::Restore(Box::new(e)))
}

fn sm_err(e: impl Into<StateMachineError>) -> StorageError {
    StorageIOError::read_state_machine(&e.into()).into()
}

impl<M> StateMachineStore<M>
where
    M: StateMachine + Send + Sync + 'static,
    M::Error: Send + Sync + 'static,
{
    /// The state machine kept in `store`, starting from `machine` (its
    /// state is replaced by the stored one, if any).
    pub fn open(store: Arc<NodeStore>, machine: M) -> Result<Self, StateMachineError> {
        let mut applied = Applied {
            machine,
            last_applied: None,
            membership: StoredMembership::default(),
            height: 0,
            sessions: SessionTable::default(),
            last_block: None,
        };
        if let Some(bytes) = store.raft_meta(APPLIED)? {
            let record: AppliedRecord = decode("applied state", &bytes)?;
            restore(&mut applied.machine, &record.state)?;
            applied.last_applied = record.last_applied;
            applied.membership = record.membership;
            applied.height = record.height;
            applied.sessions = record.sessions;
            if let Some((_, bytes)) = store.raft_blocks(record.height, 1)?.first() {
                applied.last_block = Some(decode("block", bytes)?);
            }
        }
        let (height, _) = watch::channel(applied.height);
        Ok(Self {
            store,
            shared: Arc::new(Mutex::new(applied)),
            height: Arc::new(height),
        })
    }

    /// The applied state (locked while the guard lives: keep it short).
    pub fn applied(&self) -> MutexGuard<'_, Applied<M>> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The height of the last applied block, as it changes.
    pub fn height(&self) -> watch::Receiver<u64> {
        self.height.subscribe()
    }

    /// Up to `limit` stored blocks from height `from` on.
    pub fn blocks(&self, from: u64, limit: usize) -> Result<Vec<Block>, StateMachineError> {
        let rows = self.store.raft_blocks(from, limit)?;
        let mut out = Vec::with_capacity(rows.len());
        for (_, bytes) in rows {
            out.push(decode("block", &bytes)?);
        }
        Ok(out)
    }

    /// Applies entries in order; returns each one's reply and the encoded
    /// blocks and applied state to store.
    fn apply_entries(&self, entries: Vec<Entry>) -> Applying {
        let mut guard = self.applied();
        let applied = &mut *guard;
        let mut replies = Vec::with_capacity(entries.len());
        let mut blocks = Vec::new();
        for entry in entries {
            let log_id = entry.log_id;
            let reply = match &entry.payload {
                EntryPayload::Blank => Outcome::Applied {
                    height: applied.height,
                },
                EntryPayload::Normal(batch) => {
                    let next = applied.height + 1;
                    let verdict = match batch.id {
                        Some(id) => applied.sessions.admit(id, next),
                        None => Verdict::Apply,
                    };
                    match verdict {
                        Verdict::Apply => {
                            let block = apply_batch(applied, &entry, batch);
                            blocks.push((block.height, encode(&block)));
                            applied.last_block = Some(block);
                            Outcome::Applied { height: next }
                        }
                        Verdict::Duplicate(height) => Outcome::Duplicate { height },
                        Verdict::Stale => Outcome::Stale,
                    }
                }
                EntryPayload::Membership(m) => {
                    applied.membership = StoredMembership::new(Some(log_id), m.clone());
                    Outcome::Applied {
                        height: applied.height,
                    }
                }
            };
            applied.last_applied = Some(log_id);
            replies.push(reply);
        }
        let record = AppliedRecord {
            last_applied: applied.last_applied,
            membership: applied.membership.clone(),
            height: applied.height,
            state: applied.machine.snapshot(),
            sessions: applied.sessions.clone(),
        };
        (replies, blocks, encode(&record))
    }
}

/// Applies `batch` (of `entry`) to the machine as the next block.
fn apply_batch<M: StateMachine>(applied: &mut Applied<M>, entry: &Entry, batch: &Batch) -> Block {
    applied.height += 1;
    let txs: Vec<Tx> = batch.txs.iter().map(|t| Tx(t.clone())).collect();
    applied.machine.apply(Height(applied.height), &txs);
    Block {
        height: applied.height,
        index: entry.log_id.index,
        term: entry.log_id.leader_id.term,
        leader: entry.log_id.leader_id.node_id,
        hash: blake3::hash(&encode(entry)).as_bytes().to_vec(),
        txs: batch.txs.clone(),
        write: batch.id,
    }
}

impl<M> RaftSnapshotBuilder<TypeConfig> for StateMachineStore<M>
where
    M: StateMachine + Send + Sync + 'static,
    M::Error: Send + Sync + 'static,
{
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (meta, data) = {
            let applied = self.applied();
            let body = SnapshotBody {
                height: applied.height,
                state: applied.machine.snapshot(),
                sessions: applied.sessions.clone(),
            };
            let last = applied.last_applied;
            let meta = SnapshotMeta {
                last_log_id: last,
                last_membership: applied.membership.clone(),
                snapshot_id: format!(
                    "{}-{}-{}",
                    last.map_or(0, |l| l.leader_id.term),
                    last.map_or(0, |l| l.index),
                    applied.height
                ),
            };
            (meta, encode(&body))
        };
        let record = SnapshotRecord {
            meta: meta.clone(),
            data: data.clone(),
        };
        self.store
            .put_raft_meta(SNAPSHOT, &encode(&record))
            .map_err(|e| StorageIOError::write_snapshot(None, &StateMachineError::from(e)))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl<M> RaftStateMachine<TypeConfig> for StateMachineStore<M>
where
    M: StateMachine + Send + Sync + 'static,
    M::Error: Send + Sync + 'static,
{
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let applied = self.applied();
        Ok((applied.last_applied, applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let (replies, blocks, record) = self.apply_entries(entries.into_iter().collect());
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.raft_apply(&blocks, APPLIED, &record))
            .await
            .map_err(|e| StorageIOError::write_state_machine(&e))?
            .map_err(|e| StorageIOError::write_state_machine(&StateMachineError::from(e)))?;
        let height = self.applied().height;
        self.height.send_replace(height);
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let body: SnapshotBody = decode("snapshot", &data).map_err(sm_err)?;
        let record = {
            let mut applied = self.applied();
            restore(&mut applied.machine, &body.state).map_err(sm_err)?;
            applied.height = body.height;
            applied.sessions = body.sessions.clone();
            applied.last_applied = meta.last_log_id;
            applied.membership = meta.last_membership.clone();
            applied.last_block = None;
            AppliedRecord {
                last_applied: meta.last_log_id,
                membership: meta.last_membership.clone(),
                height: body.height,
                state: body.state,
                sessions: body.sessions,
            }
        };
        let snap = SnapshotRecord {
            meta: meta.clone(),
            data,
        };
        self.store
            .raft_install(
                body.height.saturating_add(1),
                &[(APPLIED, &encode(&record)), (SNAPSHOT, &encode(&snap))],
            )
            .map_err(|e| StorageIOError::write_snapshot(None, &StateMachineError::from(e)))?;
        self.height.send_replace(body.height);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let Some(bytes) = self.store.raft_meta(SNAPSHOT).map_err(sm_err)? else {
            return Ok(None);
        };
        let record: SnapshotRecord = decode("snapshot record", &bytes).map_err(sm_err)?;
        Ok(Some(Snapshot {
            meta: record.meta,
            snapshot: Box::new(Cursor::new(record.data)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{WINDOW, WriteId};
    use crate::types::Member;
    use openraft::{CommittedLeaderId, Membership};
    use std::collections::{BTreeMap, BTreeSet};

    /// A machine that records every (height, tx) it applied.
    #[derive(Debug, Default, Clone, PartialEq, Eq)]
    struct Record(Vec<(u64, Vec<u8>)>);

    #[derive(Debug, thiserror::Error)]
    #[error("bad record snapshot")]
    struct BadRecord;

    impl StateMachine for Record {
        type Error = BadRecord;

        fn apply(&mut self, height: Height, txs: &[Tx]) {
            self.0.extend(txs.iter().map(|t| (height.0, t.0.clone())));
        }

        fn snapshot(&self) -> Vec<u8> {
            encode(&self.0)
        }

        fn restore(&mut self, s: &[u8]) -> Result<(), BadRecord> {
            self.0 = serde_json::from_slice(s).map_err(|_| BadRecord)?;
            Ok(())
        }
    }

    fn log_id(index: u64) -> LogId {
        openraft::LogId::new(CommittedLeaderId::new(2, 1), index)
    }

    fn entries() -> Vec<Entry> {
        let members = BTreeMap::from([(0, Member::default())]);
        let membership = Membership::new(vec![BTreeSet::from([0])], members);
        vec![
            Entry {
                log_id: log_id(1),
                payload: EntryPayload::Membership(membership),
            },
            Entry {
                log_id: log_id(2),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: log_id(3),
                payload: EntryPayload::Normal(Batch::anonymous(vec![b"a".to_vec(), b"b".to_vec()])),
            },
            Entry {
                log_id: log_id(4),
                payload: EntryPayload::Normal(Batch::anonymous(vec![b"c".to_vec()])),
            },
        ]
    }

    #[tokio::test]
    async fn applies_blocks_gap_free_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(NodeStore::open(dir.path()).unwrap());
        let mut sm = StateMachineStore::open(store.clone(), Record::default()).unwrap();
        let replies = sm.apply(entries()).await.unwrap();
        let heights: Vec<Outcome> = [0, 0, 1, 2]
            .into_iter()
            .map(|height| Outcome::Applied { height })
            .collect();
        assert_eq!(
            replies, heights,
            "blank and membership entries are not blocks"
        );
        let blocks = sm.blocks(1, 10).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            (blocks[0].height, blocks[0].index, blocks[0].term),
            (1, 3, 2)
        );
        assert_eq!(
            (blocks[1].height, blocks[1].index, blocks[1].leader),
            (2, 4, 1)
        );
        let machine = sm.applied().machine.clone();
        assert_eq!(machine.0[2], (2, b"c".to_vec()));
        drop(sm);
        let mut again = StateMachineStore::open(store, Record::default()).unwrap();
        assert_eq!(again.applied().machine, machine);
        assert_eq!(again.applied().height, 2);
        assert_eq!(again.applied().last_block.as_ref(), Some(&blocks[1]));
        let (last, membership) = again.applied_state().await.unwrap();
        assert_eq!(last, Some(log_id(4)));
        assert_eq!(membership.log_id(), &Some(log_id(1)));
    }

    #[tokio::test]
    async fn snapshots_install_elsewhere_and_corrupt_state_is_an_error() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store_a = Arc::new(NodeStore::open(a.path()).unwrap());
        let mut sm = StateMachineStore::open(store_a.clone(), Record::default()).unwrap();
        sm.apply(entries()).await.unwrap();
        let snapshot = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        assert_eq!(snapshot.meta.last_log_id, Some(log_id(4)));
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, snapshot.meta);

        let store_b = Arc::new(NodeStore::open(b.path()).unwrap());
        let mut other = StateMachineStore::open(store_b.clone(), Record::default()).unwrap();
        other
            .install_snapshot(&snapshot.meta, snapshot.snapshot)
            .await
            .unwrap();
        assert_eq!(other.applied().machine, sm.applied().machine);
        assert_eq!(*other.height().borrow(), 2);
        // The next block continues the heights.
        let next = Entry {
            log_id: log_id(5),
            payload: EntryPayload::Normal(Batch::anonymous(vec![b"d".to_vec()])),
        };
        assert_eq!(
            other.apply(vec![next]).await.unwrap(),
            [Outcome::Applied { height: 3 }]
        );

        let bad = Box::new(Cursor::new(b"{\"height\":1}".to_vec()));
        assert!(other.install_snapshot(&snapshot.meta, bad).await.is_err());
        store_a.raft_apply(&[], APPLIED, b"garbage").unwrap();
        drop(sm);
        let err = StateMachineStore::open(store_a.clone(), Record::default()).unwrap_err();
        assert!(matches!(err, StateMachineError::Record(_)), "{err}");
        let refused = AppliedRecord {
            last_applied: None,
            membership: StoredMembership::default(),
            height: 0,
            state: b"not a record".to_vec(),
            sessions: SessionTable::default(),
        };
        store_a.raft_apply(&[], APPLIED, &encode(&refused)).unwrap();
        let err = StateMachineStore::open(store_a, Record::default()).unwrap_err();
        assert!(matches!(err, StateMachineError::Restore(_)), "{err}");
    }

    /// Entry `index` carrying write `seq` of origin 1's session 7.
    fn write(index: u64, seq: u64, tx: &str) -> Entry {
        let id = WriteId {
            origin: 1,
            session: 7,
            seq,
        };
        Entry {
            log_id: log_id(index),
            payload: EntryPayload::Normal(Batch {
                id: Some(id),
                txs: vec![tx.as_bytes().to_vec()],
            }),
        }
    }

    fn applied(height: u64) -> Outcome {
        Outcome::Applied { height }
    }

    #[tokio::test]
    async fn a_batch_committed_twice_is_one_block_and_one_application() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(NodeStore::open(dir.path()).unwrap());
        let mut sm = StateMachineStore::open(store, Record::default()).unwrap();
        sm.apply(entries()).await.unwrap();
        let replies = sm
            .apply(vec![write(5, 1, "x"), write(6, 1, "x"), write(7, 2, "y")])
            .await
            .unwrap();
        let duplicate = Outcome::Duplicate { height: Some(3) };
        assert_eq!(replies, [applied(3), duplicate, applied(4)]);
        let blocks = sm.blocks(1, 10).unwrap();
        let heights: Vec<u64> = blocks.iter().map(|b| b.height).collect();
        assert_eq!(heights, [1, 2, 3, 4], "no block for the copy, no gap");
        assert_eq!((blocks[2].index, blocks[3].index), (5, 7));
        assert_eq!(blocks[2].write.map(|w| w.seq), Some(1));
        let xs = sm
            .applied()
            .machine
            .0
            .iter()
            .filter(|t| t.1 == b"x")
            .count();
        assert_eq!(xs, 1, "applied once");
        assert_eq!(sm.applied().last_applied, Some(log_id(7)));
        assert_eq!(*sm.height().borrow(), 4);
        // A copy in a later apply call is skipped as well.
        let again = sm.apply(vec![write(8, 2, "y")]).await.unwrap();
        assert_eq!(again, [Outcome::Duplicate { height: Some(4) }]);
        assert_eq!(sm.applied().height, 4);
    }

    #[tokio::test]
    async fn seqs_apply_out_of_order_in_the_window_and_older_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(NodeStore::open(dir.path()).unwrap());
        let mut sm = StateMachineStore::open(store, Record::default()).unwrap();
        let top = WINDOW + 2;
        let replies = sm
            .apply(vec![
                write(1, 2, "two"),
                write(2, 1, "one"),
                write(3, top, "top"),
                write(4, 1, "one again"),
                write(5, 2, "two again"),
                write(6, 3, "three"),
            ])
            .await
            .unwrap();
        let expected = [
            applied(1),
            applied(2),
            applied(3),
            Outcome::Stale,
            Outcome::Stale,
            applied(4),
        ];
        assert_eq!(replies, expected);
        let txs: Vec<Vec<u8>> = sm.applied().machine.0.iter().map(|t| t.1.clone()).collect();
        assert_eq!(txs, [&b"two"[..], b"one", b"top", b"three"]);
        assert_eq!(sm.applied().sessions.highest_seq(1, 7), Some(top));
    }

    #[tokio::test]
    async fn the_session_table_survives_a_snapshot_install_and_a_reopen() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store_a = Arc::new(NodeStore::open(a.path()).unwrap());
        let mut sm = StateMachineStore::open(store_a.clone(), Record::default()).unwrap();
        sm.apply(vec![write(1, 1, "x")]).await.unwrap();
        let snapshot = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        let store_b = Arc::new(NodeStore::open(b.path()).unwrap());
        let mut other = StateMachineStore::open(store_b.clone(), Record::default()).unwrap();
        other
            .install_snapshot(&snapshot.meta, snapshot.snapshot)
            .await
            .unwrap();
        let duplicate = [Outcome::Duplicate { height: Some(1) }];
        assert_eq!(
            other.apply(vec![write(2, 1, "x")]).await.unwrap(),
            duplicate
        );
        drop(other);
        let mut reopened = StateMachineStore::open(store_b, Record::default()).unwrap();
        assert_eq!(reopened.applied().sessions, sm.applied().sessions);
        assert_eq!(
            reopened.apply(vec![write(3, 1, "x")]).await.unwrap(),
            duplicate
        );
        assert_eq!(reopened.applied().height, 1);
        drop(sm);
        let mut reopened = StateMachineStore::open(store_a, Record::default()).unwrap();
        assert_eq!(
            reopened.apply(vec![write(2, 1, "x")]).await.unwrap(),
            duplicate
        );
    }

    #[tokio::test]
    async fn records_written_before_sessions_open_with_an_empty_table() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(NodeStore::open(dir.path()).unwrap());
        let old = serde_json::json!({
            "last_applied": null,
            "membership": StoredMembership::default(),
            "height": 3,
            "state": hex::encode(encode(&vec![(3u64, b"old".to_vec())])),
        });
        store.raft_apply(&[], APPLIED, &encode(&old)).unwrap();
        let mut sm = StateMachineStore::open(store, Record::default()).unwrap();
        assert!(sm.applied().sessions.is_empty());
        assert_eq!(sm.applied().height, 3);
        assert_eq!(
            sm.apply(vec![write(1, 1, "x")]).await.unwrap(),
            [applied(4)]
        );
        let old_body = serde_json::json!({ "height": 3, "state": hex::encode(b"[]") });
        let meta = SnapshotMeta::default();
        let data = Box::new(Cursor::new(encode(&old_body)));
        sm.install_snapshot(&meta, data).await.unwrap();
        assert!(sm.applied().sessions.is_empty());
    }
}
