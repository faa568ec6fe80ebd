//! chrysalis-store integration tests: one binary, one module per area.

// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod crash;
mod node_store;
mod vault;
