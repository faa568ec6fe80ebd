//! `chrysalis.TraceLedger` (on disk, in segment files), `InclusionProof`,
//! `ConsistencyProof`; signed heads are in `head`.

use std::sync::{Arc, Mutex, MutexGuard};

use chrysalis_ledger::{
    AppendError, ConsistencyProof, Cursor, FsyncPolicy, Hash, InclusionProof, Query, TraceKind,
    TraceLedger, TraceNode,
};
use chrysalis_store::segment::{SegmentConfig, SegmentStorage};
use chrysalis_types::{Decode, Encode, Timestamp};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::errors::{LedgerError, ProofError};
use crate::head::{PySignedTreeHead, PySigningKey, sign_ledger_head};
use crate::trace::{PyTraceNode, agent_id, node_error, trace_id};

/// The on-disk ledger shared between its Python object and any gate that
/// records into it.
pub(crate) type SharedLedger = Arc<Mutex<TraceLedger<SegmentStorage>>>;

fn ledger_error(e: impl std::fmt::Display) -> PyErr {
    LedgerError::new_err(e.to_string())
}

fn hash(bytes: &[u8], what: &str) -> PyResult<Hash> {
    bytes
        .try_into()
        .map_err(|_| ProofError::new_err(format!("{what} must be 32 bytes, got {}", bytes.len())))
}

fn policy(fsync: &str, batch_entries: usize, batch_delay_ms: u64) -> PyResult<FsyncPolicy> {
    match fsync {
        "always" => Ok(FsyncPolicy::Always),
        "never" => Ok(FsyncPolicy::Never),
        "batch" => Ok(FsyncPolicy::Batch {
            max_entries: batch_entries,
            max_delay_ms: batch_delay_ms,
        }),
        other => Err(PyValueError::new_err(format!(
            "fsync must be \"always\", \"batch\" or \"never\", not {other:?}"
        ))),
    }
}

/// An append-only, Merkle-proven trace ledger stored in segment files under
/// a directory. `TraceLedger.open(path)` creates the directory when needed
/// and recovers an existing log (a torn tail is dropped).
#[pyclass(name = "TraceLedger", module = "chrysalis", frozen)]
pub(crate) struct PyTraceLedger {
    pub(crate) inner: SharedLedger,
}

impl PyTraceLedger {
    pub(crate) fn lock(&self) -> PyResult<MutexGuard<'_, TraceLedger<SegmentStorage>>> {
        self.inner
            .lock()
            .map_err(|_| LedgerError::new_err("ledger poisoned by an earlier panic"))
    }
}

#[pymethods]
impl PyTraceLedger {
    /// Opens (or creates) the ledger in directory `path`. `fsync` is
    /// `"always"` (each append durable before it returns), `"batch"` (group
    /// commit of `batch_entries` or after `batch_delay_ms`; `append` still
    /// flushes) or `"never"` (tests only).
    #[staticmethod]
    #[pyo3(signature = (path, fsync = "always", batch_entries = 1024, batch_delay_ms = 5))]
    fn open(
        py: Python<'_>,
        path: std::path::PathBuf,
        fsync: &str,
        batch_entries: usize,
        batch_delay_ms: u64,
    ) -> PyResult<PyTraceLedger> {
        let policy = policy(fsync, batch_entries, batch_delay_ms)?;
        let ledger = py.detach(|| {
            let storage =
                SegmentStorage::open(&path, SegmentConfig::default()).map_err(|e| e.to_string())?;
            TraceLedger::open(storage, policy)
                .map(|(ledger, _recovery)| ledger)
                .map_err(|e| e.to_string())
        });
        let ledger = ledger.map_err(LedgerError::new_err)?;
        Ok(PyTraceLedger {
            inner: Arc::new(Mutex::new(ledger)),
        })
    }

    /// Appends `node`; returns its index once durable.
    fn append(&self, node: &PyTraceNode) -> PyResult<u64> {
        let mut ledger = self.lock()?;
        ledger.append(node.node.clone()).map_err(ledger_error)
    }

    /// Appends `nodes` as one group commit; returns `(start, end)` indexes.
    fn append_batch(&self, nodes: Vec<PyRef<'_, PyTraceNode>>) -> PyResult<(u64, u64)> {
        let batch: Vec<TraceNode> = nodes.iter().map(|n| n.node.clone()).collect();
        let mut ledger = self.lock()?;
        let range = ledger.append_batch(batch).map_err(ledger_error)?;
        Ok((range.start, range.end))
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(usize::try_from(self.lock()?.len()).unwrap_or(usize::MAX))
    }

    /// The Merkle root (32 bytes) of the whole ledger.
    #[getter]
    fn root<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.lock()?.root()))
    }

    /// The Merkle root of the first `size` entries.
    fn root_at<'py>(&self, py: Python<'py>, size: u64) -> PyResult<Bound<'py, PyBytes>> {
        let root = self.lock()?.root_at(size).map_err(ledger_error)?;
        Ok(PyBytes::new(py, &root))
    }

    /// The entry at `index`.
    fn get(&self, index: u64) -> PyResult<PyTraceNode> {
        let node = self.lock()?.get(index).map_err(ledger_error)?;
        Ok(PyTraceNode::wrap(node))
    }

    /// `(index, node)` for the entry with this 32-byte id, or `None`.
    fn get_by_id(&self, id: &[u8]) -> PyResult<Option<(u64, PyTraceNode)>> {
        let found = self
            .lock()?
            .get_by_id(&trace_id(id)?)
            .map_err(ledger_error)?;
        Ok(found.map(|(i, n)| (i, PyTraceNode::wrap(n))))
    }

    /// Proof that entry `index` is in the tree of `size` entries (default:
    /// the whole ledger).
    #[pyo3(signature = (index, size = None))]
    fn inclusion_proof(&self, index: u64, size: Option<u64>) -> PyResult<PyInclusionProof> {
        let ledger = self.lock()?;
        let size = size.unwrap_or_else(|| ledger.len());
        let proof = ledger.inclusion_proof(index, size).map_err(ledger_error)?;
        Ok(PyInclusionProof { proof })
    }

    /// Proof that the first `old` entries are a prefix of the first `new`
    /// (default: the whole ledger).
    #[pyo3(signature = (old, new = None))]
    fn consistency_proof(&self, old: u64, new: Option<u64>) -> PyResult<PyConsistencyProof> {
        let ledger = self.lock()?;
        let new = new.unwrap_or_else(|| ledger.len());
        let proof = ledger.consistency_proof(old, new).map_err(ledger_error)?;
        Ok(PyConsistencyProof { proof })
    }

    /// The current size and root signed with `key` (the operator's) at
    /// (`physical_ms`, `logical`); `physical_ms` defaults to the clock.
    /// Clients keep it in a `Checkpoint`.
    #[pyo3(signature = (key, physical_ms = None, logical = 0))]
    fn signed_head(
        &self,
        key: &PySigningKey,
        physical_ms: Option<u64>,
        logical: u32,
    ) -> PyResult<PySignedTreeHead> {
        sign_ledger_head(self, key, physical_ms, logical)
    }

    /// One page of entries matching exactly one criterion: `origin` (agent
    /// id), `kind`, `time_range` (`(from_ms, to_ms)`, half-open),
    /// `ancestors_of` or `descendants_of` (trace ids). Returns
    /// `(entries, cursor)`: `entries` is a list of `(index, TraceNode)`,
    /// `cursor` is `None` on the last page, else bytes to pass as `after`.
    #[pyo3(signature = (*, origin = None, kind = None, time_range = None, ancestors_of = None, descendants_of = None, after = None, limit = 100))]
    #[allow(clippy::too_many_arguments)]
    fn query<'py>(
        &self,
        py: Python<'py>,
        origin: Option<&[u8]>,
        kind: Option<&str>,
        time_range: Option<(u64, u64)>,
        ancestors_of: Option<&[u8]>,
        descendants_of: Option<&[u8]>,
        after: Option<&[u8]>,
        limit: usize,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let mut queries = Vec::new();
        if let Some(o) = origin {
            queries.push(Query::ByOrigin(agent_id(o)?));
        }
        if let Some(k) = kind {
            queries.push(Query::ByKind(TraceKind::new(k).map_err(node_error)?));
        }
        if let Some((from, to)) = time_range {
            queries.push(Query::TimeRange {
                from: Timestamp::new(from, 0),
                to: Timestamp::new(to, 0),
            });
        }
        if let Some(id) = ancestors_of {
            queries.push(Query::Ancestors(trace_id(id)?));
        }
        if let Some(id) = descendants_of {
            queries.push(Query::Descendants(trace_id(id)?));
        }
        let [query] = <[Query; 1]>::try_from(queries).map_err(|_| {
            PyValueError::new_err(
                "give exactly one of origin, kind, time_range, ancestors_of, descendants_of",
            )
        })?;
        let after = after
            .map(|b| {
                Cursor::from_bytes(b).map_err(|e| PyValueError::new_err(format!("bad cursor: {e}")))
            })
            .transpose()?;
        let page = self
            .lock()?
            .query(&query, after, limit)
            .map_err(ledger_error)?;
        let entries = PyList::empty(py);
        for (index, node) in page.entries {
            entries.append((index, PyTraceNode::wrap(node)))?;
        }
        let cursor = page.next.map(|c| PyBytes::new(py, &c.to_bytes()));
        PyTuple::new(
            py,
            [entries.into_any(), cursor.into_pyobject(py)?.into_any()],
        )
    }
}

/// Proof that a leaf is in a tree of a given size (RFC 6962 / 9162).
#[pyclass(name = "InclusionProof", module = "chrysalis", frozen)]
pub(crate) struct PyInclusionProof {
    proof: InclusionProof,
}

#[pymethods]
impl PyInclusionProof {
    /// The leaf's index.
    #[getter]
    fn leaf_index(&self) -> u64 {
        self.proof.leaf_index
    }

    /// The tree size the proof is for.
    #[getter]
    fn tree_size(&self) -> u64 {
        self.proof.tree_size
    }

    /// The sibling hashes, bottom first.
    #[getter]
    fn hashes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.proof.hashes.iter().map(|h| PyBytes::new(py, h)))
    }

    /// Raises `ProofError` unless `node` sits at this index in the tree of
    /// this size whose root is `root`. Every element is checked.
    fn verify(&self, node: &PyTraceNode, root: &[u8]) -> PyResult<()> {
        let root = hash(root, "root")?;
        self.proof
            .verify(&node.node.leaf_hash(), &root)
            .map_err(|e| ProofError::new_err(e.to_string()))
    }

    /// The canonical bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.proof.to_wire())
    }

    /// Decodes a proof; raises `ProofError` on malformed bytes.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<PyInclusionProof> {
        let proof =
            InclusionProof::from_wire(data).map_err(|e| ProofError::new_err(e.to_string()))?;
        Ok(PyInclusionProof { proof })
    }
}

/// Proof that a smaller tree is a prefix of a larger one.
#[pyclass(name = "ConsistencyProof", module = "chrysalis", frozen)]
pub(crate) struct PyConsistencyProof {
    pub(crate) proof: ConsistencyProof,
}

#[pymethods]
impl PyConsistencyProof {
    /// The older size.
    #[getter]
    fn old_size(&self) -> u64 {
        self.proof.old_size
    }

    /// The newer size.
    #[getter]
    fn new_size(&self) -> u64 {
        self.proof.new_size
    }

    /// Raises `ProofError` unless the tree with `old_root` is a prefix of
    /// the tree with `new_root`.
    fn verify(&self, old_root: &[u8], new_root: &[u8]) -> PyResult<()> {
        let (old, new) = (hash(old_root, "old root")?, hash(new_root, "new root")?);
        self.proof
            .verify(&old, &new)
            .map_err(|e| ProofError::new_err(e.to_string()))
    }

    /// The canonical bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.proof.to_wire())
    }

    /// Decodes a proof; raises `ProofError` on malformed bytes.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<PyConsistencyProof> {
        let proof =
            ConsistencyProof::from_wire(data).map_err(|e| ProofError::new_err(e.to_string()))?;
        Ok(PyConsistencyProof { proof })
    }
}

/// Where a Python gate's decisions go: memory, or a shared on-disk ledger.
pub(crate) enum GateSink {
    Memory(Vec<TraceNode>),
    Ledger {
        ledger: SharedLedger,
        recorded: Vec<u64>,
    },
}

/// Why a Python gate's sink refused a decision.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GateSinkError {
    #[error("ledger poisoned by an earlier panic")]
    Poisoned,
    #[error(transparent)]
    Append(#[from] AppendError),
}

impl chrysalis_covenant::TraceSink for GateSink {
    type Error = GateSinkError;

    fn append(&mut self, node: TraceNode) -> Result<(), GateSinkError> {
        match self {
            GateSink::Memory(nodes) => {
                nodes.push(node);
                Ok(())
            }
            GateSink::Ledger { ledger, recorded } => {
                let mut ledger = ledger.lock().map_err(|_| GateSinkError::Poisoned)?;
                recorded.push(ledger.append(node)?);
                Ok(())
            }
        }
    }
}

impl GateSink {
    /// The decisions recorded so far, oldest first.
    pub(crate) fn nodes(&self) -> PyResult<Vec<TraceNode>> {
        match self {
            GateSink::Memory(nodes) => Ok(nodes.clone()),
            GateSink::Ledger { ledger, recorded } => {
                let ledger = ledger
                    .lock()
                    .map_err(|_| LedgerError::new_err("ledger poisoned by an earlier panic"))?;
                recorded
                    .iter()
                    .map(|i| ledger.get(*i).map_err(ledger_error))
                    .collect()
            }
        }
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTraceLedger>()?;
    m.add_class::<PyInclusionProof>()?;
    m.add_class::<PyConsistencyProof>()?;
    Ok(())
}
