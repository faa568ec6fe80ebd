//! Simulation tests of chrysalis-consensus over chrysalis-sim.

mod broken;
mod checker;
mod node;
mod scenario;
mod sim_tests;
