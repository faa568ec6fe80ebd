//! The wire format of one frame, sans-IO.
//!
//! Each node writes its frames to a peer on one long-lived QUIC
//! unidirectional stream. The stream opens with [`STREAM_PREFACE`]; then
//! frames follow back to back, each a fixed six-byte header and a payload:
//!
//! ```text
//! version: u8 (= 1) | channel: u8 | length: u32 big-endian | payload: length bytes
//! ```
//!
//! The header layout is the same for every version, so a reader can always
//! step over a frame it refuses (an unknown version, the reserved channel
//! 0, or a length over the limit) without allocating for it, and the
//! frames after it still arrive.

use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

/// The frame format version this crate writes and reads.
pub const FRAME_VERSION: u8 = 1;

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 6;

/// The bytes that open every frame stream: "chrysalis frames, v1".
pub const STREAM_PREFACE: [u8; 4] = *b"CHF1";

/// The default largest payload accepted: 1 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: u32 = 1 << 20;

/// Which protocol a frame belongs to, so several share one connection.
///
/// Any value but 0 (reserved) may be used; the named ones are the
/// workspace's users.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Channel(u8);

impl Channel {
    /// SWIM membership and CRDT anti-entropy (chrysalis-gossip).
    pub const GOSSIP: Channel = Channel(1);
    /// BFT consensus messages (chrysalis-consensus).
    pub const CONSENSUS: Channel = Channel(2);
    /// Bulk state sync between nodes.
    pub const SYNC: Channel = Channel(3);

    /// A channel from its tag; `None` for the reserved tag 0.
    pub const fn new(tag: u8) -> Option<Channel> {
        if tag == 0 { None } else { Some(Channel(tag)) }
    }

    /// The channel's tag byte.
    pub const fn tag(self) -> u8 {
        self.0
    }
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Channel::GOSSIP => f.write_str("Channel::GOSSIP"),
            Channel::CONSENSUS => f.write_str("Channel::CONSENSUS"),
            Channel::SYNC => f.write_str("Channel::SYNC"),
            Channel(tag) => write!(f, "Channel({tag})"),
        }
    }
}

/// A frame header as read off the wire, before it is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawHeader {
    /// The version byte.
    pub version: u8,
    /// The channel tag byte.
    pub channel: u8,
    /// The payload length the header announces.
    pub length: u32,
}

impl RawHeader {
    /// Splits the six header bytes into their fields.
    pub fn parse(bytes: [u8; HEADER_LEN]) -> RawHeader {
        RawHeader {
            version: bytes[0],
            channel: bytes[1],
            length: u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]),
        }
    }

    /// Judges the header against the limit: the channel and length of a
    /// frame to read, or why its payload must be skipped.
    pub fn check(self, max_frame_bytes: u32) -> Result<(Channel, usize), FrameError> {
        if self.version != FRAME_VERSION {
            return Err(FrameError::Version(self.version));
        }
        let channel = Channel::new(self.channel).ok_or(FrameError::ReservedChannel)?;
        if self.length > max_frame_bytes {
            return Err(FrameError::Oversized {
                length: self.length,
                max: max_frame_bytes,
            });
        }
        Ok((channel, self.length as usize))
    }
}

/// Why a frame was refused. Its payload is skipped; the stream goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The version byte is not one this node reads.
    #[error("frame version {0} is not supported (this node reads {FRAME_VERSION})")]
    Version(u8),
    /// Channel tag 0 is reserved.
    #[error("frame uses the reserved channel 0")]
    ReservedChannel,
    /// The payload is longer than the configured limit.
    #[error("frame of {length} bytes exceeds the {max}-byte limit")]
    Oversized {
        /// The length announced.
        length: u32,
        /// The limit.
        max: u32,
    },
    /// The payload to send does not fit the length field.
    #[error("payload of {0} bytes does not fit a frame")]
    TooLong(usize),
}

impl FrameError {
    /// Whether the frame was refused for its size (counted apart from
    /// malformed frames).
    pub fn is_oversized(&self) -> bool {
        matches!(self, FrameError::Oversized { .. } | FrameError::TooLong(_))
    }
}

/// Encodes one frame (header and payload) into a single buffer.
pub fn encode_frame(
    channel: Channel,
    payload: &[u8],
    max_frame_bytes: u32,
) -> Result<Bytes, FrameError> {
    let length = u32::try_from(payload.len()).map_err(|_| FrameError::TooLong(payload.len()))?;
    if length > max_frame_bytes {
        return Err(FrameError::Oversized {
            length,
            max: max_frame_bytes,
        });
    }
    let mut buf = BytesMut::with_capacity(HEADER_LEN + payload.len());
    buf.put_u8(FRAME_VERSION);
    buf.put_u8(channel.tag());
    buf.put_u32(length);
    buf.put_slice(payload);
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(bytes: &Bytes) -> RawHeader {
        RawHeader::parse(bytes[..HEADER_LEN].try_into().unwrap())
    }

    #[test]
    fn encode_then_check_round_trips() {
        let frame = encode_frame(Channel::CONSENSUS, b"hello", 1024).unwrap();
        assert_eq!(&frame[HEADER_LEN..], b"hello");
        let h = header(&frame);
        assert_eq!(h.check(1024), Ok((Channel::CONSENSUS, 5)));
    }

    #[test]
    fn refusals() {
        let frame = encode_frame(Channel::GOSSIP, &[0; 100], 1024).unwrap();
        let mut h = header(&frame);
        assert_eq!(
            h.check(99),
            Err(FrameError::Oversized {
                length: 100,
                max: 99
            })
        );
        assert!(h.check(99).unwrap_err().is_oversized());
        h.version = 9;
        assert_eq!(h.check(1024), Err(FrameError::Version(9)));
        h.version = FRAME_VERSION;
        h.channel = 0;
        assert_eq!(h.check(1024), Err(FrameError::ReservedChannel));
        assert!(!FrameError::ReservedChannel.is_oversized());
        assert!(encode_frame(Channel::SYNC, &[0; 10], 9).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn any_frame_round_trips(tag in 1u8.., payload in proptest::collection::vec(0u8.., 0..600)) {
            let channel = Channel::new(tag).unwrap();
            let frame = encode_frame(channel, &payload, 600).unwrap();
            proptest::prop_assert_eq!(frame.len(), HEADER_LEN + payload.len());
            proptest::prop_assert_eq!(header(&frame).check(600), Ok((channel, payload.len())));
            proptest::prop_assert_eq!(&frame[HEADER_LEN..], &payload[..]);
        }

        #[test]
        fn any_header_is_judged_without_panic(bytes in proptest::array::uniform6(0u8..), max in 0u32..) {
            let raw = RawHeader::parse(bytes);
            match raw.check(max) {
                Ok((channel, len)) => {
                    proptest::prop_assert_eq!(raw.version, FRAME_VERSION);
                    proptest::prop_assert_eq!(channel.tag(), raw.channel);
                    proptest::prop_assert!(len as u64 <= u64::from(max));
                }
                Err(e) => proptest::prop_assert!(
                    raw.version != FRAME_VERSION || raw.channel == 0 || (e.is_oversized() && raw.length > max)
                ),
            }
        }
    }

    #[test]
    fn channels() {
        assert_eq!(Channel::new(0), None);
        assert_eq!(Channel::new(2), Some(Channel::CONSENSUS));
        assert_eq!(format!("{:?}", Channel::new(77).unwrap()), "Channel(77)");
        assert_eq!(format!("{:?}", Channel::GOSSIP), "Channel::GOSSIP");
    }
}
