//! Simulation tests of chrysalis-consensus over chrysalis-sim.

mod checker;
mod node;
mod scenario;
mod broken;
mod sim_tests;
