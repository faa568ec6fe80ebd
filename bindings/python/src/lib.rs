//! The `chrysalis` Python package's native module, `chrysalis._native`.
//!
//! Thin wrappers over the Rust crates: `trace` (TraceNode), `ledger`
//! (TraceLedger on disk, inclusion and consistency proofs), `head`
//! (SigningKey, SignedTreeHead, Checkpoint), `covenant`
//! (Issuer, Covenant, Budget, Reservation, CovenantGate), `operad`
//! (`verify_operad_laws`). Rust errors become exceptions under
//! `chrysalis.ChrysalisError` (see `errors`). This is layer L3: it may read
//! the clock and the OS random source on the caller's behalf.

use pyo3::prelude::*;

mod covenant;
mod errors;
mod head;
mod ledger;
mod operad;
mod trace;

/// The native module; `chrysalis/__init__.py` re-exports it.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    trace::register(m)?;
    ledger::register(m)?;
    head::register(m)?;
    covenant::register(m)?;
    operad::register(m)?;
    Ok(())
}
