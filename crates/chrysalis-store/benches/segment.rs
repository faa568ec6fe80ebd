//! Segment log benchmarks (being written).

fn main() {}
