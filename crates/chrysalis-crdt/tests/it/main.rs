//! Integration tests for chrysalis-crdt: semilattice laws and convergence
//! under random delivery, differential tests against `crdts` 7.3.2, the
//! decoder checks shared with the fuzz targets, and conflict resolution.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod differential;
mod fuzz_smoke;
mod gc;
mod laws;
mod model;
mod resolution;
mod sync;
