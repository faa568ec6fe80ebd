//! Chrysalis cryptography.
//!
//! Layer L0: no async, no sockets, no files. The only things asked of the
//! operating system are random bytes (for keys and nonces) and, for secret
//! buffers, locked pages that stay out of core dumps.
//!
//! - [`hash`]: SHA-2, SHA-3 and BLAKE3, one-shot and streaming.
//! - [`ed25519`]: signing keys, strict and batch verification, and
//!   domain-separated signatures.
//! - [`aead`]: AES-256-GCM and XChaCha20-Poly1305.
//! - [`kdf`]: password key derivation (Argon2id, scrypt).
//! - [`secret`]: zeroizing, redacted, page-locked secret buffers and
//!   constant-time comparison.
//! - [`identity`]: agent identities and their fingerprints.
//! - [`keyring`]: versioned keys, rotation, and self-describing ciphertexts.
//! - [`vault`]: the API-key vault ([`vault::SecurityContext`]) and its sealed format.
//! - [`tls`]: certificate chain validation.

pub mod aead;
pub mod ed25519;
pub mod hash;
pub mod identity;
pub mod kdf;
pub mod keyring;
pub mod secret;
pub mod tls;
pub mod vault;
