//! The ledger's append-only segment log: [`SegmentStorage`], the on-disk
//! [`LedgerStorage`].
//!
//! Records are framed by [`chrysalis_ledger::frame`] (length, CRC32C,
//! payload) and appended to segment files in one directory. A segment is
//! named by the log byte offset it starts at (`00000000000000000000.seg`),
//! so the files concatenate into one logical log. A group commit is one
//! `write` of the whole batch and one `fdatasync`; a new segment is started
//! only after the previous one is synced, and the directory is synced before
//! the first sync that covers the new file, so only the last segment can
//! ever hold a torn tail. Recovery replays every segment, truncates a torn
//! or corrupt tail of the last one, and refuses damage anywhere else.
//!
//! The per-record offset index is kept in memory (8 bytes per record) and
//! rebuilt by the recovery scan.

use chrysalis_ledger::frame::{self, FrameBatch, FrameError};
use chrysalis_ledger::storage::{LedgerStorage, Recovery, StorageError};
use chrysalis_ledger::{FsyncPolicy, OpenError, TraceLedger};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The file name suffix of segments.
const SEGMENT_SUFFIX: &str = ".seg";

/// How segments are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentConfig {
    /// Start a new segment once the active one holds this many bytes. A
    /// single batch larger than this still goes whole into one segment.
    pub max_segment_bytes: u64,
}

impl Default for SegmentConfig {
    /// 256 MiB segments.
    fn default() -> Self {
        Self {
            max_segment_bytes: 256 << 20,
        }
    }
}

#[derive(Debug)]
struct Segment {
    /// The log offset of the segment's first byte.
    start: u64,
    path: PathBuf,
    file: File,
    len: u64,
}

/// The ledger's records in segment files under one directory.
#[derive(Debug)]
pub struct SegmentStorage {
    dir: PathBuf,
    config: SegmentConfig,
    segments: Vec<Segment>,
    /// The log offset of every record.
    offsets: Vec<u64>,
    /// A segment was created since the last directory sync.
    dir_dirty: bool,
    recovered: bool,
}

fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> StorageError {
    move |source| StorageError::Io { op, source }
}

fn segment_name(start: u64) -> String {
    format!("{start:020}{SEGMENT_SUFFIX}")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn open_segment(path: &Path, create: bool) -> Result<File, StorageError> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(create)
        .open(path)
        .map_err(io("open segment"))
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync directory"))
}

/// Opens (creating if needed) the ledger kept in segment files under `dir`:
/// replays them, drops a torn tail, and rebuilds the tree and indexes.
pub fn open_ledger(
    dir: impl AsRef<Path>,
    config: SegmentConfig,
    policy: FsyncPolicy,
) -> Result<(TraceLedger<SegmentStorage>, Recovery), OpenError> {
    let storage = SegmentStorage::open(dir, config)?;
    TraceLedger::open(storage, policy)
}

impl SegmentStorage {
    /// Opens (creating if needed) the segment log in `dir`. Call
    /// [`LedgerStorage::recover`] (as `TraceLedger::open` does) before use.
    pub fn open(dir: impl AsRef<Path>, config: SegmentConfig) -> Result<Self, StorageError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io("create directory"))?;
        let mut found = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io("list directory"))? {
            let entry = entry.map_err(io("list directory"))?;
            let name = entry.file_name();
            if let Some(start) = name.to_str().and_then(parse_segment_name) {
                found.push((start, entry.path()));
            }
        }
        found.sort();
        let segments = found
            .into_iter()
            .map(|(start, path)| {
                let file = open_segment(&path, false)?;
                let len = file.metadata().map_err(io("stat segment"))?.len();
                Ok(Segment {
                    start,
                    path,
                    file,
                    len,
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(Self {
            dir,
            config,
            segments,
            offsets: Vec::new(),
            dir_dirty: false,
            recovered: false,
        })
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segment files, oldest first.
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.segments.iter().map(|s| s.path.clone()).collect()
    }

    /// Records in the log.
    pub fn len(&self) -> u64 {
        self.offsets.len() as u64
    }

    /// Whether the log holds no record.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    fn end_offset(&self) -> u64 {
        self.segments.last().map_or(0, |s| s.start + s.len)
    }

    fn start_segment(&mut self) -> Result<(), StorageError> {
        if let Some(last) = self.segments.last() {
            // The old segment is complete and durable before the next begins,
            // so only the last segment can ever be torn.
            last.file.sync_data().map_err(io("sync segment"))?;
        }
        let start = self.end_offset();
        let path = self.dir.join(segment_name(start));
        let file = open_segment(&path, true)?;
        self.segments.push(Segment {
            start,
            path,
            file,
            len: 0,
        });
        self.dir_dirty = true;
        Ok(())
    }

    /// Replays one segment, returning whether scanning stopped at a bad frame.
    fn replay_segment(
        &self,
        at: usize,
        visit: &mut dyn FnMut(&[u8]) -> bool,
        offsets: &mut Vec<u64>,
    ) -> Result<frame::Scan, StorageError> {
        let segment = &self.segments[at];
        let bytes = fs::read(&segment.path).map_err(io("read segment"))?;
        let mut refused = false;
        let scan = frame::scan(&bytes, segment.start, |offset, payload| {
            refused = !visit(payload);
            if !refused {
                offsets.push(offset);
            }
            !refused
        });
        if refused {
            return Err(StorageError::Rejected {
                index: offsets.len() as u64,
            });
        }
        Ok(scan)
    }
}

impl LedgerStorage for SegmentStorage {
    fn recover(&mut self, visit: &mut dyn FnMut(&[u8]) -> bool) -> Result<Recovery, StorageError> {
        let mut offsets = Vec::new();
        let mut report = Recovery::default();
        let mut expected_start = 0;
        for at in 0..self.segments.len() {
            let start = self.segments[at].start;
            if start != expected_start {
                // A missing or overlapping segment: the log has a hole.
                return Err(StorageError::Damaged {
                    index: offsets.len() as u64,
                    source: FrameError::Torn {
                        offset: expected_start,
                        missing: start.saturating_sub(expected_start),
                    },
                });
            }
            let scan = self.replay_segment(at, visit, &mut offsets)?;
            report.records += scan.frames;
            if let Some(error) = scan.stopped_by {
                if at + 1 != self.segments.len() {
                    return Err(StorageError::Damaged {
                        index: offsets.len() as u64,
                        source: error,
                    });
                }
                let segment = &mut self.segments[at];
                report.truncated_bytes = segment.len - scan.valid_bytes;
                report.tail_error = Some(error);
                segment
                    .file
                    .set_len(scan.valid_bytes)
                    .map_err(io("truncate torn tail"))?;
                segment.file.sync_all().map_err(io("sync truncation"))?;
                segment.len = scan.valid_bytes;
            }
            expected_start = start + self.segments[at].len;
        }
        self.offsets = offsets;
        self.recovered = true;
        Ok(report)
    }

    fn write(&mut self, batch: &FrameBatch) -> Result<(), StorageError> {
        assert!(self.recovered, "recover() runs before the first write");
        if batch.is_empty() {
            return Ok(());
        }
        let size = batch.bytes().len() as u64;
        let roll = match self.segments.last() {
            None => true,
            Some(s) => s.len > 0 && s.len + size > self.config.max_segment_bytes,
        };
        if roll {
            self.start_segment()?;
        }
        let base = self.end_offset();
        let segment = self
            .segments
            .last_mut()
            .expect("a segment exists once one is started");
        segment
            .file
            .write_all(batch.bytes())
            .map_err(io("write batch"))?;
        segment.len += size;
        self.offsets
            .extend(batch.starts().iter().map(|s| base + u64::from(*s)));
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        if let Some(last) = self.segments.last() {
            last.file.sync_data().map_err(io("sync segment"))?;
        }
        if self.dir_dirty {
            sync_dir(&self.dir)?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    fn read(&self, index: u64, out: &mut Vec<u8>) -> Result<(), StorageError> {
        let offset = usize::try_from(index)
            .ok()
            .and_then(|i| self.offsets.get(i))
            .copied()
            .ok_or(StorageError::NoSuchRecord { index })?;
        let at = self
            .segments
            .partition_point(|s| s.start <= offset)
            .saturating_sub(1);
        let segment = &self.segments[at];
        let local = offset - segment.start;
        let mut header = [0u8; frame::HEADER_BYTES];
        segment
            .file
            .read_exact_at(&mut header, local)
            .map_err(io("read record"))?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if len == 0 || len > frame::MAX_FRAME_PAYLOAD {
            return Err(StorageError::Damaged {
                index,
                source: FrameError::BadLength {
                    offset,
                    len: len as u32,
                },
            });
        }
        out.clear();
        out.resize(frame::HEADER_BYTES + len, 0);
        segment
            .file
            .read_exact_at(out, local)
            .map_err(io("read record"))?;
        let (payload, _) =
            frame::decode(out, offset).map_err(|source| StorageError::Damaged { index, source })?;
        let payload_len = payload.len();
        out.drain(..frame::HEADER_BYTES);
        debug_assert_eq!(out.len(), payload_len);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
