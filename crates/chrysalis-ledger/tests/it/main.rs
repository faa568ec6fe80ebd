//! Integration tests for chrysalis-ledger: the official RFC 6962 vectors.

mod vectors;
