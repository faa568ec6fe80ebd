//! Convergence benchmark (placeholder until the simulation harness lands).

fn main() {}
