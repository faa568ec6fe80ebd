//! Integration tests for chrysalis-ledger: the official RFC 6962 vectors.

// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod vectors;
