//! Node benchmarks.
fn main() {}
