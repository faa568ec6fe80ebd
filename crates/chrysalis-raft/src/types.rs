//! The openraft type configuration and the records this crate stores and
//! sends: every one is JSON (openraft's own types are serde types), with
//! byte strings written as hex so the text stays compact and exact.

use crate::session::{Outcome, WriteId};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::io::Cursor;
use std::net::SocketAddr;

/// A raft node id: the validator's index in the configured list.
pub type RaftNodeId = u64;

openraft::declare_raft_types!(
    /// Chrysalis' openraft types: node ids are validator indices, the node
    /// record is a [`Member`], application data is a [`Batch`] and the
    /// reply to a write is its [`Outcome`] (the block height it got, or
    /// that it was a duplicate).
    pub TypeConfig:
        D = Batch,
        R = Outcome,
        NodeId = RaftNodeId,
        Node = Member,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log id.
pub type LogId = openraft::LogId<RaftNodeId>;
/// The membership as stored with a log id.
pub type StoredMembership = openraft::StoredMembership<RaftNodeId, Member>;
/// A snapshot's metadata.
pub type SnapshotMeta = openraft::SnapshotMeta<RaftNodeId, Member>;
/// An openraft storage error.
pub type StorageError = openraft::StorageError<RaftNodeId>;

/// A member's record in the raft membership: its node id (hex) and the
/// address of its QUIC endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The node id, as 64 hex digits.
    pub node_id: String,
    /// Its QUIC address.
    pub addr: SocketAddr,
}

impl Default for Member {
    fn default() -> Self {
        Self {
            node_id: String::new(),
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }
}

impl std::fmt::Display for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.node_id, self.addr)
    }
}

/// The application data of one log entry: a batch of transactions, each
/// non-empty, and the id of the write that carries it (the same on every
/// retry, so that only its first committed copy is applied).
///
/// Stored as `{"id":…,"txs":[…]}`; a bare list of transactions (the
/// format before write ids) still decodes, as a batch without an id,
/// which is always applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "BatchForm", into = "BatchForm")]
pub struct Batch {
    /// The write this batch belongs to; `None` for a batch written before
    /// write ids existed.
    pub id: Option<WriteId>,
    /// Its transactions.
    pub txs: Vec<Vec<u8>>,
}

impl Batch {
    /// A batch of `txs` without a write id (applied each time it commits).
    pub fn anonymous(txs: Vec<Vec<u8>>) -> Self {
        Self { id: None, txs }
    }
}

/// The stored forms of a [`Batch`].
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum BatchForm {
    Tagged {
        #[serde(default)]
        id: Option<WriteId>,
        #[serde(with = "hex_list")]
        txs: Vec<Vec<u8>>,
    },
    Legacy(#[serde(with = "hex_list")] Vec<Vec<u8>>),
}

impl From<BatchForm> for Batch {
    fn from(form: BatchForm) -> Self {
        match form {
            BatchForm::Tagged { id, txs } => Self { id, txs },
            BatchForm::Legacy(txs) => Self { id: None, txs },
        }
    }
}

impl From<Batch> for BatchForm {
    fn from(batch: Batch) -> Self {
        BatchForm::Tagged {
            id: batch.id,
            txs: batch.txs,
        }
    }
}

impl std::fmt::Display for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.id {
            Some(id) => write!(f, "write {id}: batch of {} txs", self.txs.len()),
            None => write!(f, "batch of {} txs", self.txs.len()),
        }
    }
}

/// One application entry as the state machine applied it: the unit the
/// log API shows. Heights count application entries only (blank and
/// membership entries are not blocks), so they run 1, 2, 3… without gaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Its height: its place among the application entries, from 1.
    pub height: u64,
    /// The log index of its entry.
    pub index: u64,
    /// The term its entry was created in.
    pub term: u64,
    /// The validator index of the leader that created the entry.
    pub leader: RaftNodeId,
    /// BLAKE3 of the entry's stored encoding.
    #[serde(with = "hex_bytes")]
    pub hash: Vec<u8>,
    /// Its transactions.
    #[serde(with = "hex_list")]
    pub txs: Vec<Vec<u8>>,
    /// The write it applied, if its batch had an id (absent in blocks
    /// stored before write ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<WriteId>,
}

/// Why a stored record could not be read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The record is not valid JSON of its type: the database is damaged.
    #[error("stored raft record {what} is corrupt: {source}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// What the decoder found.
        #[source]
        source: serde_json::Error,
    },
}

/// Encodes a record (infallible for the types of this crate: plain data
/// with string keys).
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Decodes a record, naming it in the error.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, RecordError> {
    serde_json::from_slice(bytes).map_err(|source| RecordError::Corrupt { what, source })
}

/// A byte string as hex text.
pub(crate) mod hex_bytes {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        hex::decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// A list of byte strings as a list of hex texts.
pub(crate) mod hex_list {
    use super::*;
    use serde::ser::SerializeSeq;

    pub(crate) fn serialize<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(list.len()))?;
        for bytes in list {
            seq.serialize_element(&hex::encode(bytes))?;
        }
        seq.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let texts = <Vec<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        texts
            .iter()
            .map(|t| hex::decode(t.as_bytes()).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_bad_bytes_are_typed_errors() {
        let entry = Entry {
            log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(3, 1), 7),
            payload: openraft::EntryPayload::Normal(Batch {
                id: Some(WriteId {
                    origin: 1,
                    session: 9,
                    seq: 4,
                }),
                txs: vec![b"a".to_vec(), vec![0, 255]],
            }),
        };
        let bytes = encode(&entry);
        let back: Entry = decode("entry", &bytes).unwrap();
        assert_eq!(back.log_id, entry.log_id);
        assert!(
            matches!(back.payload, openraft::EntryPayload::Normal(ref b) if b.txs[1] == [0, 255] && b.id.is_some_and(|id| id.seq == 4))
        );
        let err = decode::<Entry>("entry", b"{\"log_id\":").unwrap_err();
        assert!(err.to_string().contains("entry"), "{err}");
        let bad_hex = String::from_utf8(bytes).unwrap().replace("00ff", "0g");
        assert!(decode::<Entry>("entry", bad_hex.as_bytes()).is_err());
    }

    #[test]
    fn a_batch_stored_before_write_ids_still_decodes() {
        let legacy = br#"{"log_id":{"leader_id":{"term":1,"node_id":0},"index":3},"payload":{"Normal":["6162","00ff"]}}"#;
        let entry: Entry = decode("entry", legacy).unwrap();
        let openraft::EntryPayload::Normal(batch) = entry.payload else {
            panic!("not a batch: {entry:?}");
        };
        assert_eq!(batch, Batch::anonymous(vec![b"ab".to_vec(), vec![0, 255]]));
        let block = br#"{"height":1,"index":3,"term":1,"leader":0,"hash":"00","txs":["61"]}"#;
        let block: Block = decode("block", block).unwrap();
        assert_eq!(block.write, None);
        assert!(decode::<Batch>("batch", br#"{"id":null}"#).is_err());
        assert!(decode::<Batch>("batch", br#"{"id":{"origin":1},"txs":[]}"#).is_err());
    }
}
