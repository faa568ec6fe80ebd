//! The record framing every ledger storage uses.
//!
//! A frame is `len: u32 LE | crc: u32 LE | payload[len]`, where `crc` is the
//! CRC32C (Castagnoli) of the four length bytes followed by the payload, so a
//! torn or bit-rotted length is caught as surely as a damaged payload. Empty
//! payloads are never written, so a run of zero bytes (what a crash may leave
//! in a preallocated or partly flushed file) never parses as a frame.

/// Bytes of header before each payload.
pub const HEADER_BYTES: usize = 8;
/// The largest payload a frame may carry.
pub const MAX_FRAME_PAYLOAD: usize = 16 << 20;

/// Why the bytes at some offset are not a valid frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The input ends inside the frame: a torn write.
    #[error("frame at offset {offset} is torn: {missing} bytes missing")]
    Torn {
        /// Where the frame starts.
        offset: u64,
        /// How many bytes the frame still needed.
        missing: u64,
    },
    /// The length is zero or over [`MAX_FRAME_PAYLOAD`].
    #[error("frame at offset {offset} claims an impossible length {len}")]
    BadLength {
        /// Where the frame starts.
        offset: u64,
        /// The claimed length.
        len: u32,
    },
    /// The checksum does not match.
    #[error("frame at offset {offset} fails its CRC32C check")]
    BadChecksum {
        /// Where the frame starts.
        offset: u64,
    },
}

fn checksum(len_bytes: [u8; 4], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len_bytes), payload)
}

/// Appends one frame carrying `payload` to `out`.
///
/// # Panics
/// If `payload` is empty or larger than [`MAX_FRAME_PAYLOAD`]: callers
/// bound their records (a [`crate::TraceNode`] is far smaller).
pub fn encode_into(payload: &[u8], out: &mut Vec<u8>) {
    assert!(!payload.is_empty(), "frames never carry empty payloads");
    assert!(
        payload.len() <= MAX_FRAME_PAYLOAD,
        "frame payload too large"
    );
    let len_bytes = (payload.len() as u32).to_le_bytes();
    out.reserve(HEADER_BYTES + payload.len());
    out.extend_from_slice(&len_bytes);
    out.extend_from_slice(&checksum(len_bytes, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Parses the frame at the start of `bytes` (found at `offset` in its
/// file, for error messages). Returns the payload and the frame's length.
pub fn decode(bytes: &[u8], offset: u64) -> Result<(&[u8], usize), FrameError> {
    if bytes.len() < HEADER_BYTES {
        return Err(FrameError::Torn {
            offset,
            missing: (HEADER_BYTES - bytes.len()) as u64,
        });
    }
    let len_bytes: [u8; 4] = [bytes[0], bytes[1], bytes[2], bytes[3]];
    let len = u32::from_le_bytes(len_bytes);
    if len == 0 || len as usize > MAX_FRAME_PAYLOAD {
        return Err(FrameError::BadLength { offset, len });
    }
    let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let total = HEADER_BYTES + len as usize;
    if bytes.len() < total {
        return Err(FrameError::Torn {
            offset,
            missing: (total - bytes.len()) as u64,
        });
    }
    let payload = &bytes[HEADER_BYTES..total];
    if checksum(len_bytes, payload) != crc {
        return Err(FrameError::BadChecksum { offset });
    }
    Ok((payload, total))
}

/// The result of scanning a log: how much of it is whole frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Whole, valid frames from the start.
    pub frames: u64,
    /// Bytes those frames span: the length to keep.
    pub valid_bytes: u64,
    /// Why scanning stopped before the end, if it did: the tail from
    /// `valid_bytes` on is torn or corrupt and is to be dropped.
    pub stopped_by: Option<FrameError>,
}

/// Scans `bytes` (which start at `base_offset` in the log) frame by frame,
/// calling `visit(frame_offset, payload)` for each valid frame, and stops at
/// the first torn or invalid one. `visit` may stop the scan early by
/// returning `false`.
pub fn scan(bytes: &[u8], base_offset: u64, mut visit: impl FnMut(u64, &[u8]) -> bool) -> Scan {
    let mut pos = 0usize;
    let mut frames = 0;
    while pos < bytes.len() {
        let offset = base_offset + pos as u64;
        match decode(&bytes[pos..], offset) {
            Ok((payload, len)) => {
                if !visit(offset, payload) {
                    break;
                }
                pos += len;
                frames += 1;
            }
            Err(e) => {
                return Scan {
                    frames,
                    valid_bytes: pos as u64,
                    stopped_by: Some(e),
                };
            }
        }
    }
    Scan {
        frames,
        valid_bytes: pos as u64,
        stopped_by: None,
    }
}

/// Frames staged for one group commit: the bytes to write in one go, and
/// where each record starts within them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameBatch {
    bytes: Vec<u8>,
    starts: Vec<u32>,
}

impl FrameBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `records` frames of `payload_bytes` in all.
    pub fn with_capacity(records: usize, payload_bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(records * HEADER_BYTES + payload_bytes),
            starts: Vec::with_capacity(records),
        }
    }

    /// Frames `payload` onto the batch.
    pub fn push(&mut self, payload: &[u8]) {
        let start = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
        assert!(start < u32::MAX, "a batch stays under 4 GiB");
        self.starts.push(start);
        encode_into(payload, &mut self.bytes);
    }

    /// The framed bytes, ready for one write.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Where each record's frame starts within [`FrameBatch::bytes`].
    pub fn starts(&self) -> &[u32] {
        &self.starts
    }

    /// How many records the batch holds.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.starts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_round_trip_and_damage_is_caught() {
        let mut batch = FrameBatch::new();
        batch.push(b"hello");
        batch.push(b"world!");
        let bytes = batch.bytes().to_vec();
        let mut seen = Vec::new();
        let scan_all = scan(&bytes, 100, |off, p| {
            seen.push((off, p.to_vec()));
            true
        });
        assert_eq!(scan_all.frames, 2);
        assert_eq!(scan_all.valid_bytes, bytes.len() as u64);
        assert_eq!(scan_all.stopped_by, None);
        assert_eq!(seen[1], (100 + 13, b"world!".to_vec()));
        assert_eq!(batch.starts(), &[0, 13]);

        // A torn tail keeps the whole first frame.
        let torn = scan(&bytes[..bytes.len() - 1], 0, |_, _| true);
        assert_eq!((torn.frames, torn.valid_bytes), (1, 13));
        assert!(matches!(
            torn.stopped_by,
            Some(FrameError::Torn {
                offset: 13,
                missing: 1
            })
        ));

        // One flipped bit anywhere in the second frame is caught.
        for i in 13..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            let s = scan(&bad, 0, |_, _| true);
            assert_eq!((s.frames, s.valid_bytes), (1, 13), "bit flip at {i}");
            assert!(s.stopped_by.is_some());
        }
        // Zeros are never a frame.
        assert!(matches!(
            decode(&[0; 32], 0),
            Err(FrameError::BadLength { len: 0, .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn scanning_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let s = scan(&bytes, 0, |_, _| true);
            prop_assert!(s.valid_bytes <= bytes.len() as u64);
        }
    }
}
