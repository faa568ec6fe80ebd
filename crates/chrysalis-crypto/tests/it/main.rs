//! The one integration test binary of chrysalis-crypto: official vectors
//! (Wycheproof, RFC 8032, RFC 9106, RFC 7914, BLAKE3) and property tests.

#![allow(missing_docs, clippy::unwrap_used)]

mod blake3_vectors;
mod ed25519_vectors;
mod kdf_vectors;
mod properties;
mod wycheproof_aead;

/// Decodes hex that a test file or vector holds; a bad vector is a test bug.
pub(crate) fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim()).unwrap_or_else(|e| panic!("bad hex in vector {s:?}: {e}"))
}

/// Path of a file under `tests/data/`.
pub(crate) fn data_path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}
