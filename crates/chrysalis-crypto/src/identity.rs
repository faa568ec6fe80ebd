//! Being written (higher layer).
