//! Crash-fault-tolerant consensus for Chrysalis nodes (placeholder while the crate is built).
