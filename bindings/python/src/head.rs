//! `chrysalis.SigningKey`, `SignedTreeHead` and `Checkpoint`: what a Python
//! client needs to hold a ledger operator to its history.
//!
//! The operator signs tree heads (`TraceLedger.signed_head`); a client keeps
//! the last head it verified as a `Checkpoint` and accepts a newer head only
//! with a consistency proof from it (`Checkpoint.advance`), or checks a
//! ledger it can read directly (`Checkpoint.verify_ledger`). Any rewrite of
//! an entry the checkpoint covers raises `RewriteDetected`.

use std::time::{SystemTime, UNIX_EPOCH};

use chrysalis_crypto::ed25519::{SigningKey, VerifyingKey};
use chrysalis_ledger::{Checkpoint, HeadError, SignedTreeHead};
use chrysalis_types::{Decode, Encode, Timestamp};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{HeadError as HeadException, RewriteDetected};
use crate::ledger::{PyConsistencyProof, PyTraceLedger};

/// Milliseconds since the Unix epoch by the wall clock (0 before 1970).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A head error as the exception a client should catch: `RewriteDetected`
/// when history was rewritten or the ledger shrank, `HeadError`
/// for anything else (untrusted signer, bad signature, mismatched proof).
fn head_error(e: HeadError) -> PyErr {
    match e {
        HeadError::Inconsistent(_) | HeadError::Shrunk { .. } => {
            RewriteDetected::new_err(e.to_string())
        }
        other => HeadException::new_err(other.to_string()),
    }
}

fn public_key(bytes: &[u8]) -> PyResult<VerifyingKey> {
    let raw: [u8; 32] = bytes.try_into().map_err(|_| {
        HeadException::new_err(format!("public key must be 32 bytes, got {}", bytes.len()))
    })?;
    VerifyingKey::from_bytes(&raw).map_err(|e| HeadException::new_err(e.to_string()))
}

/// An Ed25519 signing key (a ledger operator's). `SigningKey(seed)` from a
/// 32-byte secret seed, or `SigningKey.generate()` from the OS random
/// source. The seed is never shown by `repr`.
#[pyclass(name = "SigningKey", module = "chrysalis", frozen)]
pub(crate) struct PySigningKey {
    pub(crate) key: SigningKey,
}

#[pymethods]
impl PySigningKey {
    #[new]
    fn new(seed: &[u8]) -> PyResult<PySigningKey> {
        let seed: [u8; 32] = seed.try_into().map_err(|_| {
            HeadException::new_err(format!("seed must be 32 bytes, got {}", seed.len()))
        })?;
        Ok(PySigningKey {
            key: SigningKey::from_seed(&seed),
        })
    }

    /// A fresh key from the operating system's random source.
    #[staticmethod]
    fn generate() -> PySigningKey {
        PySigningKey {
            key: SigningKey::generate(),
        }
    }

    /// The 32-byte public key clients verify heads with.
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.key.verifying_key().as_bytes())
    }

    fn __repr__(&self) -> String {
        format!("SigningKey(public={})", self.key.verifying_key())
    }
}

/// A ledger operator's signed statement: the ledger held `tree_size` entries
/// with Merkle root `root` at (`physical_ms`, `logical`). `verify(public_key)`
/// checks it; `to_bytes`/`from_bytes` carry it.
#[pyclass(name = "SignedTreeHead", module = "chrysalis", frozen)]
#[derive(Clone)]
pub(crate) struct PySignedTreeHead {
    pub(crate) head: SignedTreeHead,
}

#[pymethods]
impl PySignedTreeHead {
    /// How many entries the ledger held.
    #[getter]
    fn tree_size(&self) -> u64 {
        self.head.tree_size
    }

    /// The 32-byte Merkle root over those entries.
    #[getter]
    fn root<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.head.root)
    }

    /// Physical part of the signing time, milliseconds since the Unix epoch.
    #[getter]
    fn physical_ms(&self) -> u64 {
        self.head.timestamp.physical_ms()
    }

    /// Logical part of the signing time.
    #[getter]
    fn logical(&self) -> u32 {
        self.head.timestamp.logical()
    }

    /// The signer's 32-byte public key.
    #[getter]
    fn signer<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.head.signer.as_bytes())
    }

    /// The 64-byte Ed25519 signature (domain `chrysalis/v1/tree-head`).
    #[getter]
    fn signature<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.head.signature.to_bytes())
    }

    /// Raises `HeadError` unless this head is signed by
    /// `public_key` and the signature verifies.
    fn verify(&self, public_key: &[u8]) -> PyResult<()> {
        self.head
            .verify(&self::public_key(public_key)?)
            .map_err(head_error)
    }

    /// The canonical bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.head.to_bytes())
    }

    /// Decodes a head (the signature is checked by `verify`, not here);
    /// raises `HeadError` on malformed bytes.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<PySignedTreeHead> {
        let head = SignedTreeHead::from_bytes(data)
            .map_err(|e| HeadException::new_err(format!("malformed tree head: {e}")))?;
        Ok(PySignedTreeHead { head })
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PySignedTreeHead>()
            .is_ok_and(|o| o.get().head == self.head)
    }

    fn __repr__(&self) -> String {
        format!(
            "SignedTreeHead(tree_size={}, root={}, physical_ms={}, logical={})",
            self.head.tree_size,
            hex_string(&self.head.root),
            self.head.timestamp.physical_ms(),
            self.head.timestamp.logical()
        )
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a client remembers of a ledger: the last head it verified, and the
/// operator key it trusts. `Checkpoint(public_key, head)` verifies `head`
/// first. Persist it with `to_bytes()` and restore it with
/// `Checkpoint.from_bytes(public_key, data)`.
#[pyclass(name = "Checkpoint", module = "chrysalis")]
pub(crate) struct PyCheckpoint {
    checkpoint: Checkpoint,
}

#[pymethods]
impl PyCheckpoint {
    #[new]
    fn new(public_key: &[u8], head: &PySignedTreeHead) -> PyResult<PyCheckpoint> {
        let checkpoint = Checkpoint::new(self::public_key(public_key)?, head.head.clone())
            .map_err(head_error)?;
        Ok(PyCheckpoint { checkpoint })
    }

    /// The last verified head.
    #[getter]
    fn head(&self) -> PySignedTreeHead {
        PySignedTreeHead {
            head: self.checkpoint.head().clone(),
        }
    }

    /// The size of the last verified head.
    #[getter]
    fn tree_size(&self) -> u64 {
        self.checkpoint.head().tree_size
    }

    /// The root of the last verified head.
    #[getter]
    fn root<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.checkpoint.head().root)
    }

    /// Checks, without moving, that `head` is signed by the trusted key and
    /// that `proof` shows this checkpoint's tree is a prefix of it. Raises
    /// `RewriteDetected` if history was rewritten (or the ledger shrank),
    /// `HeadError` for a bad signature or a proof for other sizes.
    fn verify_extension(
        &self,
        head: &PySignedTreeHead,
        proof: &PyConsistencyProof,
    ) -> PyResult<()> {
        let mut trial = self.checkpoint.clone();
        trial
            .advance(head.head.clone(), &proof.proof)
            .map_err(head_error)
    }

    /// Like `verify_extension`, then moves the checkpoint to `head`. On any
    /// error the checkpoint is unchanged.
    fn advance(&mut self, head: &PySignedTreeHead, proof: &PyConsistencyProof) -> PyResult<()> {
        self.checkpoint
            .advance(head.head.clone(), &proof.proof)
            .map_err(head_error)
    }

    /// Checks a ledger this client can read itself (no operator signature
    /// needed): its first `tree_size` entries must hash to this checkpoint's
    /// root. Raises `RewriteDetected` when an entry the checkpoint covers was
    /// changed, or the ledger holds fewer entries than the checkpoint.
    fn verify_ledger(&self, ledger: &PyTraceLedger) -> PyResult<()> {
        let head = self.checkpoint.head();
        let ledger = ledger.lock()?;
        if ledger.len() < head.tree_size {
            return Err(head_error(HeadError::Shrunk {
                checkpoint: head.tree_size,
                new: ledger.len(),
            }));
        }
        match ledger.root_at(head.tree_size) {
            Ok(root) if root == head.root => Ok(()),
            Ok(_) => Err(RewriteDetected::new_err(format!(
                "the ledger's first {} entries no longer hash to the checkpoint's root",
                head.tree_size
            ))),
            Err(e) => Err(HeadException::new_err(e.to_string())),
        }
    }

    /// The checkpoint's head as bytes (the trusted key is not included:
    /// the client supplies it again when restoring).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.checkpoint.head().to_bytes())
    }

    /// Restores a checkpoint from `to_bytes()`, verifying the head against
    /// `public_key` again.
    #[staticmethod]
    fn from_bytes(public_key: &[u8], data: &[u8]) -> PyResult<PyCheckpoint> {
        let head = PySignedTreeHead::from_bytes(data)?;
        PyCheckpoint::new(public_key, &head)
    }

    fn __repr__(&self) -> String {
        let head = self.checkpoint.head();
        format!(
            "Checkpoint(tree_size={}, root={})",
            head.tree_size,
            hex_string(&head.root)
        )
    }
}

/// `TraceLedger.signed_head`: the head of `ledger` signed with `key` at
/// (`physical_ms`, `logical`), the clock when `physical_ms` is `None`.
pub(crate) fn sign_ledger_head(
    ledger: &PyTraceLedger,
    key: &PySigningKey,
    physical_ms: Option<u64>,
    logical: u32,
) -> PyResult<PySignedTreeHead> {
    let timestamp = Timestamp::new(physical_ms.unwrap_or_else(now_ms), logical);
    let head = ledger.lock()?.sign_head(&key.key, timestamp);
    Ok(PySignedTreeHead { head })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySigningKey>()?;
    m.add_class::<PySignedTreeHead>()?;
    m.add_class::<PyCheckpoint>()?;
    Ok(())
}
