//! Integration tests of chrysalis-raft: nodes in one process over real QUIC
//! on loopback, each with its own redb database.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod cluster;
