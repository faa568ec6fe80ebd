//! Integration tests of the node over real loopback sockets.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod api;
mod conflicts;
mod consensus;
mod harness;
mod membership;
mod openapi;
mod raft;
