//! Chrysalis cryptography.
//!
//! Layer L0: no async, no sockets, no files. The only thing read from the
//! operating system is randomness (for key and nonce generation), and the
//! only thing asked of it is to lock secret pages in memory.
//!
//! - [`ed25519`]: signing keys, strict and batch verification, and
//!   domain-separated signatures, so a message of one kind can never be
//!   replayed as another.

pub mod ed25519;
