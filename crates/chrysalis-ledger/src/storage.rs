//! Where the ledger's records live: the [`LedgerStorage`] trait, an in-memory
//! implementation and a fault-injecting one.
//!
//! Storage is a log of framed records (see [`crate::frame`]). The ledger hands
//! it whole group-commit batches to write, then asks for them to be made
//! durable; on open it asks the storage to replay what is durable and to
//! drop a torn or corrupt tail. The segment files on disk implement the same
//! trait in `chrysalis-store`.

use crate::frame::{self, FrameBatch, FrameError};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The operating system refused an operation.
    #[error("storage I/O failed during {op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A fault injected by [`FaultyStorage`].
    #[error("injected fault: {0:?}")]
    Injected(Fault),
    /// No record at this index.
    #[error("no record at index {index}")]
    NoSuchRecord {
        /// The index asked for.
        index: u64,
    },
    /// A stored record failed its check when read back.
    #[error("record {index} is damaged: {source}")]
    Damaged {
        /// The record's index.
        index: u64,
        /// What was wrong.
        #[source]
        source: FrameError,
    },
    /// Recovery was stopped by the ledger refusing record `index`.
    #[error("recovery stopped: record {index} was refused by the ledger")]
    Rejected {
        /// The refused record.
        index: u64,
    },
}

/// What recovery found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Whole records replayed.
    pub records: u64,
    /// Bytes dropped from the tail (a torn or corrupt last write).
    pub truncated_bytes: u64,
    /// Why the tail was dropped, if it was.
    pub tail_error: Option<FrameError>,
}

/// A durable, append-only log of records.
pub trait LedgerStorage {
    /// Replays every durable record from the start, in order, and truncates
    /// a torn or corrupt tail. `visit` returns `false` to refuse a record,
    /// which stops recovery with [`StorageError::Rejected`] and truncates
    /// nothing. Called once, before any write.
    fn recover(&mut self, visit: &mut dyn FnMut(&[u8]) -> bool) -> Result<Recovery, StorageError>;

    /// Appends a batch of frames after the last record. Not durable until
    /// [`LedgerStorage::sync`] returns.
    fn write(&mut self, batch: &FrameBatch) -> Result<(), StorageError>;

    /// Makes every record written so far durable.
    fn sync(&mut self) -> Result<(), StorageError>;

    /// Reads record `index`'s payload into `out` (replacing its contents).
    fn read(&self, index: u64, out: &mut Vec<u8>) -> Result<(), StorageError>;
}

/// Records held in memory: the log's bytes, and how many of them a
/// [`LedgerStorage::sync`] has made "durable". [`MemoryStorage::crash`] keeps
/// the durable part (and optionally some unsynced bytes, to tear a frame).
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    bytes: Vec<u8>,
    durable: usize,
    offsets: Vec<u64>,
}

impl MemoryStorage {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// A log whose durable content is `bytes` (e.g. a crash image).
    pub fn from_durable(bytes: Vec<u8>) -> Self {
        let durable = bytes.len();
        Self {
            bytes,
            durable,
            offsets: Vec::new(),
        }
    }

    /// Everything written, synced or not.
    pub fn written(&self) -> &[u8] {
        &self.bytes
    }

    /// The durable prefix.
    pub fn durable(&self) -> &[u8] {
        &self.bytes[..self.durable]
    }

    /// What survives a crash: the durable bytes plus the first
    /// `unsynced_kept` bytes written after them (which may tear a frame).
    pub fn crash(&self, unsynced_kept: usize) -> Self {
        let end = self
            .durable
            .saturating_add(unsynced_kept)
            .min(self.bytes.len());
        Self::from_durable(self.bytes[..end].to_vec())
    }
}

impl LedgerStorage for MemoryStorage {
    fn recover(&mut self, visit: &mut dyn FnMut(&[u8]) -> bool) -> Result<Recovery, StorageError> {
        let mut offsets = Vec::new();
        let mut refused = false;
        let scan = frame::scan(&self.bytes, 0, |offset, payload| {
            refused = !visit(payload);
            if !refused {
                offsets.push(offset);
            }
            !refused
        });
        if refused {
            return Err(StorageError::Rejected { index: scan.frames });
        }
        let truncated = self.bytes.len() as u64 - scan.valid_bytes;
        self.bytes.truncate(scan.valid_bytes as usize);
        self.durable = self.bytes.len();
        self.offsets = offsets;
        Ok(Recovery {
            records: scan.frames,
            truncated_bytes: truncated,
            tail_error: scan.stopped_by,
        })
    }

    fn write(&mut self, batch: &FrameBatch) -> Result<(), StorageError> {
        let base = self.bytes.len() as u64;
        self.offsets
            .extend(batch.starts().iter().map(|s| base + u64::from(*s)));
        self.bytes.extend_from_slice(batch.bytes());
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        self.durable = self.bytes.len();
        Ok(())
    }

    fn read(&self, index: u64, out: &mut Vec<u8>) -> Result<(), StorageError> {
        let offset = usize::try_from(index)
            .ok()
            .and_then(|i| self.offsets.get(i))
            .ok_or(StorageError::NoSuchRecord { index })?;
        let (payload, _) = frame::decode(&self.bytes[*offset as usize..], *offset)
            .map_err(|source| StorageError::Damaged { index, source })?;
        out.clear();
        out.extend_from_slice(payload);
        Ok(())
    }
}

/// A fault [`FaultyStorage`] can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The write fails and nothing is written.
    FailedWrite,
    /// The write fails after only the first `kept_bytes` reached the log.
    TornWrite {
        /// Bytes of the batch that were written.
        kept_bytes: usize,
    },
    /// The sync fails; what was written may or may not be durable.
    FailedSync,
}

/// A [`MemoryStorage`] that fails on command or at random (seeded), for
/// testing that the ledger never acknowledges what a fault may have lost.
#[derive(Debug, Clone)]
pub struct FaultyStorage {
    inner: MemoryStorage,
    next_write: Option<Fault>,
    next_sync: bool,
    rng_state: u64,
    fault_per_mille: u32,
}

impl FaultyStorage {
    /// Wraps `inner`; no faults until asked for.
    pub fn new(inner: MemoryStorage) -> Self {
        Self {
            inner,
            next_write: None,
            next_sync: false,
            rng_state: 0,
            fault_per_mille: 0,
        }
    }

    /// Wraps `inner` and injects a random fault into about
    /// `fault_per_mille` of every thousand writes and syncs, chosen by `seed`.
    pub fn random(inner: MemoryStorage, seed: u64, fault_per_mille: u32) -> Self {
        Self {
            rng_state: seed | 1,
            fault_per_mille,
            ..Self::new(inner)
        }
    }

    /// Makes the next write fail, or tear.
    pub fn fail_next_write(&mut self, fault: Fault) {
        self.next_write = Some(fault);
    }

    /// Makes the next sync fail.
    pub fn fail_next_sync(&mut self) {
        self.next_sync = true;
    }

    /// The storage underneath, e.g. to take a [`MemoryStorage::crash`] image.
    pub fn inner(&self) -> &MemoryStorage {
        &self.inner
    }

    /// xorshift64*: a tiny seeded generator, enough to place faults.
    fn roll(&mut self) -> u64 {
        let mut x = self.rng_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng_state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn random_fault(&mut self) -> bool {
        self.fault_per_mille > 0 && self.roll() % 1000 < u64::from(self.fault_per_mille)
    }
}

impl LedgerStorage for FaultyStorage {
    fn recover(&mut self, visit: &mut dyn FnMut(&[u8]) -> bool) -> Result<Recovery, StorageError> {
        self.inner.recover(visit)
    }

    fn write(&mut self, batch: &FrameBatch) -> Result<(), StorageError> {
        let mut fault = self.next_write.take();
        if fault.is_none() && self.random_fault() {
            let len = batch.bytes().len().max(1) as u64;
            fault = Some(match self.roll() % 2 {
                0 => Fault::FailedWrite,
                _ => Fault::TornWrite {
                    kept_bytes: (self.roll() % len) as usize,
                },
            });
        }
        match fault {
            None => self.inner.write(batch),
            Some(Fault::TornWrite { kept_bytes }) => {
                let kept = kept_bytes.min(batch.bytes().len());
                self.inner.bytes.extend_from_slice(&batch.bytes()[..kept]);
                Err(StorageError::Injected(Fault::TornWrite {
                    kept_bytes: kept,
                }))
            }
            Some(f) => Err(StorageError::Injected(f)),
        }
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        let fail = std::mem::take(&mut self.next_sync) || self.random_fault();
        if fail {
            return Err(StorageError::Injected(Fault::FailedSync));
        }
        self.inner.sync()
    }

    fn read(&self, index: u64, out: &mut Vec<u8>) -> Result<(), StorageError> {
        self.inner.read(index, out)
    }
}
