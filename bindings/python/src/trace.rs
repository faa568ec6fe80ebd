//! `chrysalis.TraceNode`: a frozen view of one immutable ledger record.

use std::cell::RefCell;

use chrysalis_ledger::{NodeError, PayloadRef, TraceKind, TraceNode};
use chrysalis_types::{AgentId, Timestamp, TraceId};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::errors::TraceNodeError;

pub(crate) fn node_error(e: NodeError) -> PyErr {
    TraceNodeError::new_err(e.to_string())
}

/// Reads a 16-byte agent id.
pub(crate) fn agent_id(bytes: &[u8]) -> PyResult<AgentId> {
    let raw: [u8; 16] = bytes.try_into().map_err(|_| {
        TraceNodeError::new_err(format!("agent id must be 16 bytes, got {}", bytes.len()))
    })?;
    Ok(AgentId::new(raw))
}

/// Reads a 32-byte trace id.
pub(crate) fn trace_id(bytes: &[u8]) -> PyResult<TraceId> {
    let raw: [u8; 32] = bytes.try_into().map_err(|_| {
        TraceNodeError::new_err(format!("trace id must be 32 bytes, got {}", bytes.len()))
    })?;
    Ok(TraceId::new(raw))
}

/// Reads causal parents: an iterable of 32-byte `bytes` ids.
fn parent_ids(parents: &Bound<'_, PyAny>) -> PyResult<Vec<TraceId>> {
    let mut ids = Vec::new();
    for parent in parents.try_iter()? {
        let parent = parent?;
        let bytes = parent
            .cast::<PyBytes>()
            .map_err(|_| PyTypeError::new_err("parents must be 32-byte bytes ids"))?;
        ids.push(trace_id(bytes.as_bytes())?);
    }
    Ok(ids)
}

/// How many kind strings each thread remembers (direct-mapped by address).
const KIND_CACHE_SLOTS: usize = 16;

/// One cache slot: a kind `str` object (kept alive) and its kind.
type KindSlot = Option<(Py<PyString>, TraceKind)>;

thread_local! {
    /// Recently seen kind `str` objects and their validated [`TraceKind`].
    /// Python code passes the same few kind literals over and over; holding a
    /// reference keeps each object alive, so the same address is the same
    /// immutable string and its kind is reused without reading or checking
    /// the text again.
    static KIND_CACHE: RefCell<[KindSlot; KIND_CACHE_SLOTS]> =
        const { RefCell::new([const { None }; KIND_CACHE_SLOTS]) };
}

/// The validated kind for a Python `str`, from the cache when this very
/// object was seen before.
pub(crate) fn trace_kind(kind: &Bound<'_, PyString>) -> PyResult<TraceKind> {
    let address = kind.as_ptr() as usize;
    let slot = (address >> 4) % KIND_CACHE_SLOTS;
    let hit = KIND_CACHE.with_borrow(|cache| match &cache[slot] {
        Some((seen, k)) if seen.as_ptr() == kind.as_ptr() => Some(k.clone()),
        _ => None,
    });
    if let Some(k) = hit {
        return Ok(k);
    }
    let k = TraceKind::new(&kind.to_cow()?).map_err(node_error)?;
    let entry = (kind.clone().unbind(), k.clone());
    // The old entry (if any) is dropped after the borrow ends: dropping a
    // str can run no Python code, but keep the borrow short all the same.
    let old = KIND_CACHE.with_borrow_mut(|cache| cache[slot].replace(entry));
    drop(old);
    Ok(k)
}

/// One immutable record of the trace ledger.
///
/// `TraceNode(origin, physical_ms, kind, payload=b"", parents=(), logical=0)`:
/// `origin` is the acting agent's 16-byte id, (`physical_ms`, `logical`) its
/// hybrid-logical-clock timestamp, `kind` a name like `"tool.call"`,
/// `payload` bytes (opaque) or str (JSON text), `parents` the 32-byte ids of
/// causal parents. The id is computed from all of these; nothing can change
/// afterwards.
#[pyclass(name = "TraceNode", module = "chrysalis", frozen)]
pub(crate) struct PyTraceNode {
    pub(crate) node: TraceNode,
}

impl PyTraceNode {
    pub(crate) fn wrap(node: TraceNode) -> PyTraceNode {
        PyTraceNode { node }
    }
}

#[pymethods]
impl PyTraceNode {
    #[new]
    #[pyo3(signature = (origin, physical_ms, kind, payload = None, parents = None, logical = 0))]
    fn new(
        origin: &[u8],
        physical_ms: u64,
        kind: &Bound<'_, PyString>,
        payload: Option<&Bound<'_, PyAny>>,
        parents: Option<&Bound<'_, PyAny>>,
        logical: u32,
    ) -> PyResult<PyTraceNode> {
        let kind = trace_kind(kind)?;
        let origin = agent_id(origin)?;
        let timestamp = Timestamp::new(physical_ms, logical);
        let parents = match parents {
            Some(parents) => parent_ids(parents)?,
            None => Vec::new(),
        };
        // The payload is borrowed from the Python object and copied once,
        // into the node's encoding.
        let node = match payload {
            None => TraceNode::from_parts(origin, timestamp, kind, PayloadRef::Bytes(&[]), parents),
            Some(payload) => {
                if let Ok(bytes) = payload.cast::<PyBytes>() {
                    let payload = PayloadRef::Bytes(bytes.as_bytes());
                    TraceNode::from_parts(origin, timestamp, kind, payload, parents)
                } else if let Ok(text) = payload.cast::<PyString>() {
                    let text = text.to_cow()?;
                    let payload = PayloadRef::Json(&text);
                    TraceNode::from_parts(origin, timestamp, kind, payload, parents)
                } else {
                    return Err(PyTypeError::new_err("payload must be bytes or str (JSON)"));
                }
            }
        };
        node.map(PyTraceNode::wrap).map_err(node_error)
    }

    /// The node's 32-byte id (RFC 6962 leaf hash of its encoding).
    #[getter]
    fn id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.node.id().as_bytes())
    }

    /// The acting agent's 16-byte id.
    #[getter]
    fn origin<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.node.origin().as_bytes())
    }

    /// Physical part of the timestamp, milliseconds since the Unix epoch.
    #[getter]
    fn physical_ms(&self) -> u64 {
        self.node.timestamp().physical_ms()
    }

    /// Logical part of the timestamp.
    #[getter]
    fn logical(&self) -> u32 {
        self.node.timestamp().logical()
    }

    /// The kind name.
    #[getter]
    fn kind(&self) -> &str {
        self.node.kind().as_str()
    }

    /// The payload: bytes, or str when it is JSON.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        match self.node.payload().as_json() {
            Some(text) => PyString::new(py, text).into_any(),
            None => PyBytes::new(py, self.node.payload().as_bytes()).into_any(),
        }
    }

    /// Whether the payload is JSON text.
    #[getter]
    fn is_json(&self) -> bool {
        self.node.payload().is_json()
    }

    /// Causal parents' ids, sorted.
    #[getter]
    fn parents<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(
            py,
            self.node
                .parents()
                .iter()
                .map(|p| PyBytes::new(py, p.as_bytes())),
        )
    }

    /// The canonical encoding (what the id hashes).
    fn encoding<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.node.encoding())
    }

    /// Decodes a node from its canonical encoding.
    #[staticmethod]
    fn from_encoding(data: &[u8]) -> PyResult<PyTraceNode> {
        TraceNode::from_encoding(data)
            .map(PyTraceNode::wrap)
            .map_err(node_error)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyTraceNode>()
            .is_ok_and(|o| o.get().node.id() == self.node.id())
    }

    fn __hash__(&self) -> u64 {
        let id = self.node.id();
        let mut first = [0u8; 8];
        first.copy_from_slice(&id.as_bytes()[..8]);
        u64::from_le_bytes(first)
    }

    fn __repr__(&self) -> String {
        format!(
            "TraceNode(id={}, kind={:?}, origin={}, physical_ms={}, logical={}, parents={})",
            self.node.id(),
            self.node.kind().as_str(),
            self.node.origin(),
            self.node.timestamp().physical_ms(),
            self.node.timestamp().logical(),
            self.node.parents().len()
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTraceNode>()
}
