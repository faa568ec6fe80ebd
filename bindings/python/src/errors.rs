//! The exception hierarchy: `ChrysalisError` and one subclass per failure
//! family of the Rust crates.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    chrysalis,
    ChrysalisError,
    PyException,
    "Base class of every error raised by chrysalis."
);
create_exception!(
    chrysalis,
    TraceNodeError,
    ChrysalisError,
    "A trace node could not be built or decoded (bad kind, payload too large, malformed bytes)."
);
create_exception!(
    chrysalis,
    LedgerError,
    ChrysalisError,
    "The trace ledger could not open, append or read (storage failure, bad record, unknown index)."
);
create_exception!(
    chrysalis,
    ProofError,
    ChrysalisError,
    "A Merkle proof does not verify, or is malformed."
);
create_exception!(
    chrysalis,
    HeadError,
    ChrysalisError,
    "A signed tree head or checkpoint was refused (untrusted signer, bad signature, malformed bytes, proof for other sizes)."
);
create_exception!(
    chrysalis,
    RewriteDetected,
    HeadError,
    "The ledger is not an extension of the checkpoint: an entry it covers was rewritten, or the ledger shrank."
);
create_exception!(
    chrysalis,
    CapabilityError,
    ChrysalisError,
    "A covenant token could not be issued, loaded or attenuated (bad key, bad bytes, forged signature)."
);
create_exception!(
    chrysalis,
    CapabilityDenied,
    ChrysalisError,
    "The covenant does not allow the request. `args[0]` is the reason."
);
create_exception!(
    chrysalis,
    BudgetExhausted,
    ChrysalisError,
    "A reservation asked for more than is available. Attributes: dimension, requested, available."
);
create_exception!(
    chrysalis,
    BudgetCommitError,
    ChrysalisError,
    "A commit charged more than was reserved, or the reservation was already settled."
);
create_exception!(
    chrysalis,
    CovenantRefused,
    ChrysalisError,
    "The gate refused an act. Attributes: code, reason, trace_id (the recorded TraceNode's id)."
);
create_exception!(
    chrysalis,
    OperadLawError,
    ChrysalisError,
    "An operad law fails. Attributes: law, f, g, h, slots, left, right (shrunk counterexample)."
);

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ChrysalisError", py.get_type::<ChrysalisError>())?;
    m.add("TraceNodeError", py.get_type::<TraceNodeError>())?;
    m.add("LedgerError", py.get_type::<LedgerError>())?;
    m.add("ProofError", py.get_type::<ProofError>())?;
    m.add("HeadError", py.get_type::<HeadError>())?;
    m.add("RewriteDetected", py.get_type::<RewriteDetected>())?;
    m.add("CapabilityError", py.get_type::<CapabilityError>())?;
    m.add("CapabilityDenied", py.get_type::<CapabilityDenied>())?;
    m.add("BudgetExhausted", py.get_type::<BudgetExhausted>())?;
    m.add("BudgetCommitError", py.get_type::<BudgetCommitError>())?;
    m.add("CovenantRefused", py.get_type::<CovenantRefused>())?;
    m.add("OperadLawError", py.get_type::<OperadLawError>())?;
    Ok(())
}

/// Builds an exception of type `T` with `message` and sets attributes on it.
pub(crate) fn with_attrs<T: pyo3::PyTypeInfo>(
    py: Python<'_>,
    message: String,
    attrs: &[(&str, Py<PyAny>)],
) -> PyErr {
    let err = PyErr::new::<T, _>(message);
    let value = err.value(py);
    for (name, v) in attrs {
        // Setting an attribute on a fresh exception instance cannot fail in
        // practice; if it does, the message still carries everything.
        let _ = value.setattr(*name, v.clone_ref(py));
    }
    err
}
