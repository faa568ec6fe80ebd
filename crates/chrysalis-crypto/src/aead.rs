//! Being written (primitives).
