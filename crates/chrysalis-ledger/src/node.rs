//! [`TraceNode`]: one immutable record of one act of one agent.
//!
//! A node's id is the RFC 6962 leaf hash of its canonical encoding,
//! `SHA-256(0x00 || encoding)`, so the id that names a node is also the leaf
//! hash the Merkle tree commits to: one hash per node serves both, and a node
//! can never be swapped for another under the same id.
//!
//! Building a node writes that leaf input once, into one exactly sized
//! buffer, and hashes it in one call: the node keeps the buffer, so its
//! canonical encoding costs no second allocation or copy (see
//! [`TraceNodeBuilder::build`]).

use crate::merkle::{self, Hash};
use chrysalis_types::codec::{Decode, DecodeError, Encode, FORMAT_VERSION, Reader, Writer};
use chrysalis_types::{AgentId, Timestamp, TraceId};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;

/// The longest kind name, in bytes.
pub const MAX_KIND_BYTES: usize = 64;
/// The largest payload, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 4 << 20;
/// The most causal parents one node may name.
pub const MAX_PARENTS: usize = 256;

/// Why a [`TraceNode`] (or one of its parts) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The kind is empty, too long, or holds a character outside `[a-z0-9._/-]`
    /// (it must start with a lowercase letter).
    #[error("invalid trace kind {kind:?}: {reason}")]
    InvalidKind {
        /// The kind as given.
        kind: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The payload exceeds [`MAX_PAYLOAD_BYTES`].
    #[error("payload of {len} bytes exceeds the limit of {max}")]
    PayloadTooLarge {
        /// The payload's size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A JSON payload is not valid UTF-8.
    #[error("JSON payload is not valid UTF-8")]
    JsonNotUtf8,
    /// More than [`MAX_PARENTS`] causal parents.
    #[error("{count} causal parents exceed the limit of {max}")]
    TooManyParents {
        /// Parents given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a canonical node encoding.
    #[error("malformed trace node: {0}")]
    Decode(#[from] DecodeError),
}

/// What kind of act a node records: a short dotted name such as
/// `"covenant.decision"` or `"agent.tool_call"`.
///
/// Validated on construction and on decode: 1 to [`MAX_KIND_BYTES`] bytes of
/// `[a-z0-9._/-]`, starting with a lowercase letter. The name is shared, so
/// cloning a kind (once per node built, once per index entry) never copies it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TraceKind(Arc<str>);

impl TraceKind {
    /// A kind from its name, validated.
    pub fn new(name: &str) -> Result<Self, NodeError> {
        let bad = |reason| NodeError::InvalidKind {
            kind: name.chars().take(MAX_KIND_BYTES * 2).collect(),
            reason,
        };
        if name.is_empty() {
            return Err(bad("empty"));
        }
        if name.len() > MAX_KIND_BYTES {
            return Err(bad("longer than 64 bytes"));
        }
        if !name.as_bytes()[0].is_ascii_lowercase() {
            return Err(bad("must start with a lowercase letter"));
        }
        let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._/-".contains(&b);
        if !name.bytes().all(allowed) {
            return Err(bad("only a-z, 0-9, '.', '_', '/' and '-' are allowed"));
        }
        Ok(Self(Arc::from(name)))
    }

    /// The kind's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TraceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TraceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceKind({})", self.0)
    }
}

impl std::str::FromStr for TraceKind {
    type Err = NodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Encode for TraceKind {
    fn encode(&self, w: &mut Writer) {
        w.put(self.as_str());
    }
}

impl Decode for TraceKind {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let name: String = r.get()?;
        Self::new(&name).map_err(|_| DecodeError::Invalid {
            what: "trace kind",
            reason: "not 1-64 bytes of [a-z0-9._/-] starting with a letter",
        })
    }
}

/// What a node carries: opaque bytes, or JSON text.
///
/// JSON is kept as its UTF-8 text, checked to be UTF-8 but not parsed, so the
/// ledger stays free of a JSON parser and the text hashes exactly as given.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Payload {
    /// Opaque bytes.
    Bytes(Vec<u8>),
    /// JSON text (valid UTF-8).
    Json(String),
}

impl Payload {
    /// The payload's bytes (the JSON text's UTF-8 for [`Payload::Json`]).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Bytes(b) => b,
            Self::Json(s) => s.as_bytes(),
        }
    }

    /// The JSON text, if this is a JSON payload.
    pub fn as_json(&self) -> Option<&str> {
        match self {
            Self::Bytes(_) => None,
            Self::Json(s) => Some(s),
        }
    }

    fn check_len(&self) -> Result<(), NodeError> {
        let len = self.as_bytes().len();
        if len > MAX_PAYLOAD_BYTES {
            return Err(NodeError::PayloadTooLarge {
                len,
                max: MAX_PAYLOAD_BYTES,
            });
        }
        Ok(())
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Self::Json(s) => write!(f, "Json({s:?})"),
        }
    }
}

impl Encode for Payload {
    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Bytes(b) => {
                w.put_u8(0);
                w.put_bytes(b);
            }
            Self::Json(s) => {
                w.put_u8(1);
                w.put(s.as_str());
            }
        }
    }
}

impl Decode for Payload {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let payload = match r.u8()? {
            0 => Self::Bytes(r.bytes()?.to_vec()),
            1 => Self::Json(r.get()?),
            tag => return Err(r.invalid_tag("payload", tag)),
        };
        payload.check_len().map_err(|_| DecodeError::Invalid {
            what: "trace payload",
            reason: "larger than MAX_PAYLOAD_BYTES",
        })?;
        Ok(payload)
    }
}

/// A node's payload, borrowed from the node's encoding (a node keeps its
/// payload only there, so building one copies the payload once).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadRef<'a> {
    /// Opaque bytes.
    Bytes(&'a [u8]),
    /// JSON text (valid UTF-8).
    Json(&'a str),
}

impl<'a> PayloadRef<'a> {
    /// The payload's bytes (the JSON text's UTF-8 for [`PayloadRef::Json`]).
    pub fn as_bytes(self) -> &'a [u8] {
        match self {
            Self::Bytes(b) => b,
            Self::Json(s) => s.as_bytes(),
        }
    }

    /// The JSON text, if this is a JSON payload.
    pub fn as_json(self) -> Option<&'a str> {
        match self {
            Self::Bytes(_) => None,
            Self::Json(s) => Some(s),
        }
    }

    /// Whether this is a JSON payload.
    pub fn is_json(self) -> bool {
        matches!(self, Self::Json(_))
    }

    /// An owned copy.
    pub fn to_payload(self) -> Payload {
        match self {
            Self::Bytes(b) => Payload::Bytes(b.to_vec()),
            Self::Json(s) => Payload::Json(s.to_owned()),
        }
    }

    fn tag(self) -> u8 {
        u8::from(self.is_json())
    }
}

impl<'a> From<&'a Payload> for PayloadRef<'a> {
    fn from(payload: &'a Payload) -> Self {
        match payload {
            Payload::Bytes(b) => Self::Bytes(b),
            Payload::Json(s) => Self::Json(s),
        }
    }
}

impl fmt::Debug for PayloadRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Self::Json(s) => write!(f, "Json({s:?})"),
        }
    }
}

/// Where a node's payload lies in its leaf input, and whether it is JSON.
#[derive(Clone, Copy, PartialEq, Eq)]
struct PayloadSpan {
    json: bool,
    start: usize,
    len: usize,
}

/// One immutable record in the trace ledger.
///
/// Built with [`TraceNode::builder`]; there is no way to change a node once
/// built, and its [`TraceNode::id`] is computed from everything else.
#[derive(Clone, PartialEq, Eq)]
pub struct TraceNode {
    id: TraceId,
    origin: AgentId,
    timestamp: Timestamp,
    kind: TraceKind,
    payload: PayloadSpan,
    parents: Vec<TraceId>,
    /// `0x00 || canonical encoding`: the RFC 6962 leaf input the id hashes.
    /// Kept whole so building needs one buffer; [`TraceNode::encoding`] is
    /// everything after the first byte, and appends store it as is.
    leaf_input: Box<[u8]>,
}

impl TraceNode {
    /// Starts a node: which agent acted, when (its hybrid logical clock), and
    /// what kind of act it was. The payload defaults to empty bytes.
    pub fn builder(origin: AgentId, timestamp: Timestamp, kind: TraceKind) -> TraceNodeBuilder {
        TraceNodeBuilder {
            origin,
            timestamp,
            kind,
            payload: Payload::Bytes(Vec::new()),
            parents: Vec::new(),
        }
    }

    /// The node's id: the RFC 6962 leaf hash of its canonical encoding.
    pub fn id(&self) -> TraceId {
        self.id
    }

    /// The agent that acted.
    pub fn origin(&self) -> AgentId {
        self.origin
    }

    /// When, in the origin's hybrid logical time.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// What kind of act.
    pub fn kind(&self) -> &TraceKind {
        &self.kind
    }

    /// What the act carried, borrowed from the encoding.
    pub fn payload(&self) -> PayloadRef<'_> {
        let PayloadSpan { json, start, len } = self.payload;
        let bytes = &self.leaf_input[start..start + len];
        if json {
            // Checked as UTF-8 when the node was built or decoded; the bytes
            // never change after.
            let text = std::str::from_utf8(bytes).expect("JSON payloads are UTF-8 by construction");
            PayloadRef::Json(text)
        } else {
            PayloadRef::Bytes(bytes)
        }
    }

    /// The nodes this one causally follows, sorted and without duplicates.
    pub fn parents(&self) -> &[TraceId] {
        &self.parents
    }

    /// The canonical encoding (format-version byte, then the fields): the
    /// bytes stored in the log and hashed into the id.
    pub fn encoding(&self) -> &[u8] {
        &self.leaf_input[1..]
    }

    /// Decodes a node from its canonical encoding, refusing anything else,
    /// and computes its id from the bytes.
    pub fn from_encoding(bytes: &[u8]) -> Result<Self, NodeError> {
        let Fields(mut node) = Fields::from_bytes(bytes)?;
        let mut leaf_input = Vec::with_capacity(bytes.len() + 1);
        leaf_input.push(merkle::LEAF_PREFIX);
        leaf_input.extend_from_slice(bytes);
        node.id = TraceId::new(Sha256::digest(&leaf_input).into());
        node.leaf_input = leaf_input.into_boxed_slice();
        Ok(node)
    }

    /// The leaf hash this node contributes to the Merkle tree (its id's bytes).
    pub fn leaf_hash(&self) -> Hash {
        *self.id.as_bytes()
    }
}

impl fmt::Debug for TraceNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceNode")
            .field("id", &self.id)
            .field("origin", &self.origin)
            .field("timestamp", &self.timestamp)
            .field("kind", &self.kind)
            .field("payload", &self.payload())
            .field("parents", &self.parents)
            .finish()
    }
}

/// Encodes the content fields only: the id is derived, never stored.
/// (Decoding goes through [`TraceNode::from_encoding`], which derives it.)
impl Encode for TraceNode {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.origin);
        w.put(&self.timestamp);
        w.put(&self.kind);
        let payload = self.payload();
        w.put_u8(payload.tag());
        w.put_bytes(payload.as_bytes());
        w.put(&self.parents);
    }
}

/// A node's content fields, decoded; [`TraceNode::from_encoding`] adds the
/// id and the encoding.
struct Fields(TraceNode);

impl Decode for Fields {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let origin = r.get()?;
        let timestamp = r.get()?;
        let kind = r.get()?;
        let payload = decode_payload_span(r)?;
        let offset = r.offset();
        let parents: Vec<TraceId> = r.get()?;
        if parents.len() > MAX_PARENTS {
            return Err(DecodeError::Oversized {
                what: "parent list",
                len: parents.len() as u64,
                max: MAX_PARENTS as u64,
            });
        }
        if parents.windows(2).any(|w| w[0] >= w[1]) {
            return Err(DecodeError::NonCanonical {
                offset,
                reason: "parents must be strictly increasing",
            });
        }
        Ok(Self(TraceNode {
            id: TraceId::default(),
            origin,
            timestamp,
            kind,
            payload,
            parents,
            leaf_input: Box::default(),
        }))
    }
}

/// Reads a payload in place: its tag, then its bytes, checked (size, UTF-8
/// for JSON) but not copied. The span is into the leaf input, which holds
/// the decoded bytes one byte further on.
fn decode_payload_span(r: &mut Reader<'_>) -> Result<PayloadSpan, DecodeError> {
    let json = match r.u8()? {
        0 => false,
        1 => true,
        tag => return Err(r.invalid_tag("payload", tag)),
    };
    let offset = r.offset();
    let bytes = r.bytes()?;
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(DecodeError::Invalid {
            what: "trace payload",
            reason: "larger than MAX_PAYLOAD_BYTES",
        });
    }
    if json && std::str::from_utf8(bytes).is_err() {
        return Err(DecodeError::InvalidUtf8 { offset: offset + 4 });
    }
    Ok(PayloadSpan {
        json,
        start: offset + 4 + 1,
        len: bytes.len(),
    })
}

/// Builds a [`TraceNode`]; [`TraceNodeBuilder::build`] validates and hashes.
#[derive(Debug, Clone)]
pub struct TraceNodeBuilder {
    origin: AgentId,
    timestamp: Timestamp,
    kind: TraceKind,
    payload: Payload,
    parents: Vec<TraceId>,
}

impl TraceNodeBuilder {
    /// Sets an opaque byte payload.
    pub fn payload_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.payload = Payload::Bytes(bytes.into());
        self
    }

    /// Sets a JSON payload from its text.
    pub fn payload_json(mut self, json: impl Into<String>) -> Self {
        self.payload = Payload::Json(json.into());
        self
    }

    /// Sets a JSON payload from raw bytes, refusing bytes that are not UTF-8.
    pub fn payload_json_bytes(mut self, json: Vec<u8>) -> Result<Self, NodeError> {
        let text = String::from_utf8(json).map_err(|_| NodeError::JsonNotUtf8)?;
        self.payload = Payload::Json(text);
        Ok(self)
    }

    /// Adds a causal parent.
    pub fn parent(mut self, parent: TraceId) -> Self {
        self.parents.push(parent);
        self
    }

    /// Adds causal parents.
    pub fn parents(mut self, parents: impl IntoIterator<Item = TraceId>) -> Self {
        self.parents.extend(parents);
        self
    }

    /// Validates the node and computes its id. Parents are sorted and
    /// deduplicated (a set), so the same links always hash the same.
    ///
    /// The leaf input (`0x00`, then the canonical encoding) is written once
    /// into a buffer of exactly its size and hashed in one call; the node
    /// keeps that buffer as its encoding. (Encoding through a growing
    /// [`Writer`] and copying the result cost five reallocations and a copy,
    /// more than the hash itself.)
    pub fn build(self) -> Result<TraceNode, NodeError> {
        TraceNode::from_parts(
            self.origin,
            self.timestamp,
            self.kind,
            PayloadRef::from(&self.payload),
            self.parents,
        )
    }
}

impl TraceNode {
    /// Builds a node from borrowed parts, as [`TraceNodeBuilder::build`]
    /// does: the payload is copied once, straight into the node's encoding
    /// (bindings use this to build from a caller's buffer without an
    /// intermediate copy). Parents are sorted and deduplicated.
    pub fn from_parts(
        origin: AgentId,
        timestamp: Timestamp,
        kind: TraceKind,
        payload: PayloadRef<'_>,
        mut parents: Vec<TraceId>,
    ) -> Result<TraceNode, NodeError> {
        let body = payload.as_bytes();
        if body.len() > MAX_PAYLOAD_BYTES {
            return Err(NodeError::PayloadTooLarge {
                len: body.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
        parents.sort_unstable();
        parents.dedup();
        if parents.len() > MAX_PARENTS {
            return Err(NodeError::TooManyParents {
                count: parents.len(),
                max: MAX_PARENTS,
            });
        }
        let (leaf_input, payload) = leaf_input(&origin, timestamp, &kind, payload, &parents);
        Ok(TraceNode {
            id: TraceId::new(Sha256::digest(&leaf_input).into()),
            origin,
            timestamp,
            kind,
            payload,
            parents,
            leaf_input,
        })
    }
}

/// `0x00 || FORMAT_VERSION || fields`, byte for byte what
/// `merkle::leaf_hash(&node.to_bytes())` hashes, in one exact allocation,
/// and where the payload landed in it. Lengths fit the `u32` prefixes: the
/// node limits are far below.
fn leaf_input(
    origin: &AgentId,
    timestamp: Timestamp,
    kind: &TraceKind,
    payload: PayloadRef<'_>,
    parents: &[TraceId],
) -> (Box<[u8]>, PayloadSpan) {
    let body = payload.as_bytes();
    let kind = kind.as_str().as_bytes();
    let len = 2 + 16 + 12 + (4 + kind.len()) + (1 + 4 + body.len()) + (4 + 32 * parents.len());
    let mut out = Vec::with_capacity(len);
    out.push(merkle::LEAF_PREFIX);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(origin.as_bytes());
    out.extend_from_slice(&timestamp.physical_ms().to_le_bytes());
    out.extend_from_slice(&timestamp.logical().to_le_bytes());
    out.extend_from_slice(&prefix(kind.len()));
    out.extend_from_slice(kind);
    out.push(payload.tag());
    out.extend_from_slice(&prefix(body.len()));
    let span = PayloadSpan {
        json: payload.is_json(),
        start: out.len(),
        len: body.len(),
    };
    out.extend_from_slice(body);
    out.extend_from_slice(&prefix(parents.len()));
    for parent in parents {
        out.extend_from_slice(parent.as_bytes());
    }
    debug_assert_eq!(out.len(), len);
    (out.into_boxed_slice(), span)
}

/// A `u32` length prefix. Every caller's length is bounded by the node
/// limits ([`MAX_PAYLOAD_BYTES`], [`MAX_KIND_BYTES`], [`MAX_PARENTS`]).
fn prefix(len: usize) -> [u8; 4] {
    let len = u32::try_from(len).expect("node limits keep lengths far below u32::MAX");
    len.to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kind(s: &str) -> TraceKind {
        TraceKind::new(s).unwrap()
    }

    #[test]
    fn kinds_are_validated() {
        assert_eq!(kind("covenant.decision").as_str(), "covenant.decision");
        assert!(TraceKind::new("agent/tool-call_2").is_ok());
        for bad in ["", "Upper", "1abc", "a b", "é", &"a".repeat(65)] {
            assert!(
                matches!(TraceKind::new(bad), Err(NodeError::InvalidKind { .. })),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn id_is_the_leaf_hash_of_the_encoding() {
        let node = TraceNode::builder(AgentId::new([1; 16]), Timestamp::new(5, 1), kind("a"))
            .payload_json("{\"x\":1}")
            .build()
            .unwrap();
        assert_eq!(node.id().as_bytes(), &merkle::leaf_hash(node.encoding()));
        let back = TraceNode::from_encoding(node.encoding()).unwrap();
        assert_eq!(back, node);
        assert_eq!(back.payload().as_json(), Some("{\"x\":1}"));
        // A JSON payload whose bytes are not UTF-8 is refused on decode.
        let mut bytes = node.encoding().to_vec();
        let at = bytes.len() - 4 - 2;
        bytes[at] = 0xff;
        assert!(TraceNode::from_encoding(&bytes).is_err());
    }

    #[test]
    fn parents_are_a_set() {
        let (a, b) = (TraceId::new([2; 32]), TraceId::new([1; 32]));
        let base = TraceNode::builder(AgentId::new([1; 16]), Timestamp::ZERO, kind("a"));
        let one = base.clone().parents([a, b, a]).build().unwrap();
        let two = base.parent(b).parent(a).build().unwrap();
        assert_eq!(one.parents(), &[b, a]);
        assert_eq!(one.id(), two.id());
    }

    #[test]
    fn bad_input_is_refused_not_panicked() {
        let base = TraceNode::builder(AgentId::new([1; 16]), Timestamp::ZERO, kind("a"));
        assert!(matches!(
            base.clone().payload_json_bytes(vec![0xff]),
            Err(NodeError::JsonNotUtf8)
        ));
        assert!(matches!(
            base.clone()
                .payload_bytes(vec![0; MAX_PAYLOAD_BYTES + 1])
                .build(),
            Err(NodeError::PayloadTooLarge { .. })
        ));
        let many = (0..=MAX_PARENTS as u32).map(|i| {
            let mut b = [0; 32];
            b[..4].copy_from_slice(&i.to_le_bytes());
            TraceId::new(b)
        });
        assert!(matches!(
            base.clone().parents(many).build(),
            Err(NodeError::TooManyParents { .. })
        ));
        // Unsorted parents on the wire are not canonical.
        let node = base.parents([TraceId::new([1; 32]), TraceId::new([2; 32])]);
        let mut bytes = node.build().unwrap().encoding().to_vec();
        let n = bytes.len();
        bytes[n - 64..].rotate_left(32);
        assert!(TraceNode::from_encoding(&bytes).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(node) = TraceNode::from_encoding(&bytes) {
                // Anything accepted is canonical: it re-encodes to the same bytes.
                prop_assert_eq!(node.encoding(), &bytes[..]);
            }
        }

        #[test]
        fn build_hashes_exactly_the_canonical_encoding(
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            json in proptest::option::of("[ -~]{0,40}"),
            ms in any::<u64>(),
            logical in any::<u32>(),
            parents in proptest::collection::vec(any::<[u8; 32]>(), 0..5),
        ) {
            let base = TraceNode::builder(AgentId::new([5; 16]), Timestamp::new(ms, logical), kind("k/x-1"));
            let base = match json {
                Some(text) => base.payload_json(text),
                None => base.payload_bytes(payload),
            };
            let expected = base.clone().payload.clone();
            let parents: Vec<TraceId> = parents.into_iter().map(TraceId::new).collect();
            let node = base.clone().parents(parents.clone()).build().unwrap();
            prop_assert_eq!(node.payload().to_payload(), expected.clone());
            let direct = TraceNode::from_parts(
                base.origin, base.timestamp, base.kind.clone(), PayloadRef::from(&expected), parents,
            ).unwrap();
            prop_assert_eq!(&direct, &node);
            let back = TraceNode::from_encoding(node.encoding()).unwrap();
            prop_assert_eq!(back.payload(), node.payload());
            // The exact-size writer and the generic codec agree byte for byte.
            prop_assert_eq!(node.encoding(), &node.to_bytes()[..]);
            prop_assert_eq!(*node.id().as_bytes(), merkle::leaf_hash(&node.to_bytes()));
        }

        #[test]
        fn encoding_round_trips(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            ms in any::<u64>(),
            parents in proptest::collection::vec(any::<[u8; 32]>(), 0..4),
        ) {
            let node = TraceNode::builder(AgentId::new([3; 16]), Timestamp::new(ms, 0), kind("p.q"))
                .payload_bytes(payload)
                .parents(parents.into_iter().map(TraceId::new))
                .build()
                .unwrap();
            prop_assert_eq!(TraceNode::from_encoding(node.encoding()).unwrap(), node);
        }
    }
}
