//! Integration tests: gossip nodes driven by the deterministic simulator.
//! Every failure message names its seed (`seed=<n>`): rerun that seed.

mod harness;

mod convergence;
mod detection;
mod fuzz;
mod security;
