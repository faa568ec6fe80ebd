//! Chrysalis storage (layer L2): the only crate that writes files.
//!
//! - [`atomic`]: crash-safe whole-file replacement (temp file, fsync, rename, fsync directory).
//! - [`vault_file`]: the passphrase-sealed vault on disk.
//! - [`segment`]: the ledger's append-only segment log.
//! - [`node_store`]: the node's durable state (CRDT state, membership,
//!   sealed identity, settings, consensus WAL) in one redb database.

pub mod atomic;
pub mod node_store;
pub mod segment;
pub mod vault_file;
