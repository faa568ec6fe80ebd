//! The one versioned, size-limited frame type on the gossip wire.
//!
//! A frame is the canonical encoding's format-version byte, a kind tag, then
//! the kind's body:
//!
//! | tag | kind | body |
//! |---|---|---|
//! | 0 | `Swim` | a foca packet (bytes) |
//! | 1 | `Digest` | round, hot entries, key range, page entries |
//! | 2 | `Want` | entries: the sender's versions of keys it lacks |
//! | 3 | `Deltas` | (agent, signed delta) pairs |
//! | 4 | `Chunk` | one piece of a signed delta too big for a frame |
//! | 5 | `Ack` | entries: the sender's versions after applying |
//!
//! An entry is `(AgentId, Version)`.

use chrysalis_crdt::SignedDelta;
use chrysalis_types::AgentId;
use chrysalis_types::codec::{Decode, DecodeError, Encode, Limits, Reader, Writer};

use crate::replica::Replicated;

/// A key and a replica's version of it.
pub type Entry<V> = (AgentId, V);

/// A round's summary of what the sender has.
///
/// `page` holds every key the sender has in `[start, end)` (an open bound is
/// `None`), so a key the receiver has in that range and the page lacks is a
/// key the sender lacks. `hot` holds recently changed keys anywhere.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest<V> {
    /// The sender's round number.
    pub round: u64,
    /// Recently changed keys, wherever they are.
    pub hot: Vec<Entry<V>>,
    /// First key of the page's range (inclusive), `None` from the start.
    pub start: Option<AgentId>,
    /// End of the page's range (exclusive), `None` to the end.
    pub end: Option<AgentId>,
    /// Every key the sender has in the range, in order.
    pub page: Vec<Entry<V>>,
}

impl<V> Digest<V> {
    /// Whether `key` is in the page's range.
    pub fn in_range(&self, key: &AgentId) -> bool {
        self.start.as_ref().is_none_or(|s| key >= s) && self.end.as_ref().is_none_or(|e| key < e)
    }
}

/// A piece of one signed delta that did not fit in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The sender's id for this transfer.
    pub transfer: u64,
    /// The agent the delta is for.
    pub key: AgentId,
    /// This piece's index, from 0.
    pub index: u32,
    /// How many pieces the transfer has.
    pub count: u32,
    /// The piece: a slice of the signed delta's body encoding.
    pub bytes: Vec<u8>,
}

chrysalis_types::impl_codec!(Chunk {
    transfer,
    key,
    index,
    count,
    bytes
});

/// One message of the gossip protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame<R: Replicated> {
    /// A SWIM packet for foca.
    Swim(Vec<u8>),
    /// A round's digest.
    Digest(Digest<R::Version>),
    /// "Send me what I lack": the sender's versions of those keys.
    Want(Vec<Entry<R::Version>>),
    /// Signed deltas to apply.
    Deltas(Vec<(AgentId, SignedDelta<R>)>),
    /// A piece of a large signed delta.
    Chunk(Chunk),
    /// The sender's versions after applying deltas.
    Ack(Vec<Entry<R::Version>>),
}

pub(crate) const TAG_DELTAS: u8 = 3;

impl<R: Replicated> Frame<R> {
    /// The frame kind's name, for statistics and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Swim(_) => "swim",
            Self::Digest(_) => "digest",
            Self::Want(_) => "want",
            Self::Deltas(_) => "deltas",
            Self::Chunk(_) => "chunk",
            Self::Ack(_) => "ack",
        }
    }

    /// Decodes a frame of at most `max_bytes`; anything else is an error.
    pub fn decode_frame(bytes: &[u8], max_bytes: usize) -> Result<Self, DecodeError> {
        let limits = Limits {
            max_message_bytes: max_bytes,
            max_len: max_bytes,
        };
        Self::from_bytes_with_limits(bytes, limits)
    }
}

impl<R: Replicated> Encode for Frame<R> {
    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Swim(packet) => {
                w.put_u8(0);
                w.put_bytes(packet);
            }
            Self::Digest(d) => {
                w.put_u8(1);
                w.put(&d.round);
                w.put(&d.hot);
                w.put(&d.start);
                w.put(&d.end);
                w.put(&d.page);
            }
            Self::Want(entries) => {
                w.put_u8(2);
                w.put(entries);
            }
            Self::Deltas(deltas) => {
                w.put_u8(TAG_DELTAS);
                w.put(deltas);
            }
            Self::Chunk(c) => {
                w.put_u8(4);
                w.put(c);
            }
            Self::Ack(entries) => {
                w.put_u8(5);
                w.put(entries);
            }
        }
    }
}

impl<R: Replicated> Decode for Frame<R> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8()? {
            0 => Self::Swim(r.bytes()?.to_vec()),
            1 => Self::Digest(Digest {
                round: r.get()?,
                hot: r.get()?,
                start: r.get()?,
                end: r.get()?,
                page: r.get()?,
            }),
            2 => Self::Want(r.get()?),
            TAG_DELTAS => Self::Deltas(r.get()?),
            4 => Self::Chunk(r.get()?),
            5 => Self::Ack(r.get()?),
            other => return Err(r.invalid_tag("gossip frame", other)),
        })
    }
}

/// The encoded size of a `Deltas` frame's fixed part (version byte, tag,
/// item count).
pub(crate) const DELTAS_OVERHEAD: usize = 1 + 1 + 4;

/// Builds a `Deltas` frame from entries already encoded as
/// `(AgentId, SignedDelta)` bodies, without decoding them again.
pub(crate) fn deltas_frame(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut w = Writer::new();
    w.put_u8(chrysalis_types::codec::FORMAT_VERSION);
    w.put_u8(TAG_DELTAS);
    w.put_len(entries.len());
    for e in entries {
        w.put_raw(e);
    }
    w.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrysalis_crdt::AgentState;
    use chrysalis_crypto::ed25519::SigningKey;

    type F = Frame<AgentState>;

    fn agent(i: u8) -> AgentId {
        AgentId::new([i; 16])
    }

    #[test]
    fn every_kind_round_trips() {
        let key = SigningKey::from_seed(&[1; 32]);
        let signed = SignedDelta::<AgentState>::sign(&AgentState::new(), &key);
        let v = AgentState::new().version();
        let frames: Vec<F> = vec![
            F::Swim(vec![1, 2, 3]),
            F::Digest(Digest {
                round: 4,
                hot: vec![(agent(1), v.clone())],
                start: Some(agent(0)),
                end: None,
                page: vec![(agent(2), v.clone())],
            }),
            F::Want(vec![(agent(3), v.clone())]),
            F::Deltas(vec![(agent(4), signed.clone())]),
            F::Chunk(Chunk {
                transfer: 1,
                key: agent(5),
                index: 0,
                count: 2,
                bytes: vec![9; 10],
            }),
            F::Ack(vec![(agent(6), v)]),
        ];
        for f in frames {
            let bytes = f.to_bytes();
            assert_eq!(F::decode_frame(&bytes, 1 << 16).unwrap(), f, "{}", f.kind());
        }
        let raw = {
            let mut w = Writer::new();
            w.put(&agent(4));
            w.put(&signed);
            w.into_bytes()
        };
        let built = deltas_frame(&[raw]);
        assert_eq!(
            F::decode_frame(&built, 1 << 16).unwrap(),
            F::Deltas(vec![(agent(4), signed)])
        );
    }

    #[test]
    fn oversized_and_unknown_frames_are_refused() {
        let f = F::Swim(vec![0; 100]);
        assert!(F::decode_frame(&f.to_bytes(), 50).is_err());
        assert!(F::decode_frame(&[1, 99], 50).is_err());
        assert!(F::decode_frame(&[2, 0], 50).is_err(), "unknown version");
        assert!(F::decode_frame(&[], 50).is_err());
    }

    #[test]
    fn range_membership() {
        let d: Digest<()> = Digest {
            round: 0,
            hot: vec![],
            start: Some(agent(2)),
            end: Some(agent(5)),
            page: vec![],
        };
        assert!(!d.in_range(&agent(1)));
        assert!(d.in_range(&agent(2)));
        assert!(d.in_range(&agent(4)));
        assert!(!d.in_range(&agent(5)));
    }
}
