//! The deterministic simulator that drives every sans-IO protocol core in
//! Chrysalis (gossip, BFT consensus) over a seeded, faulty network.
//!
//! A [`Sim`] holds a set of [`Process`]es, each addressed by a [`Pid`], and
//! one event queue ordered by (simulated time, sequence number). Messages
//! sent through a [`Ctx`] cross a network that loses, duplicates, delays
//! and so reorders them ([`Faults`]), and that can be partitioned two ways or
//! one way. Processes can be crashed (volatile state lost, timers
//! cancelled), wiped (durable state lost too) and restarted. Byzantine tests
//! [`Sim::inject`] forged messages.
//!
//! Every random choice is drawn from a hand-written generator ([`SimRng`])
//! seeded by the run's seed, and nothing reads a clock, so a seed replays a
//! run exactly; [`Sim::trace_hash`] fingerprints it and a [`SimFailure`]
//! prints `seed=<seed>`.
//!
//! ```
//! use chrysalis_sim::{Ctx, Faults, Pid, Process, Sim};
//!
//! struct Echo { heard: u32 }
//! impl Process for Echo {
//!     type Msg = u32;
//!     fn on_start(&mut self, ctx: &mut Ctx<'_, u32>) {
//!         if ctx.me() == Pid(0) { ctx.send(Pid(1), 1) }
//!     }
//!     fn on_message(&mut self, from: Pid, msg: u32, ctx: &mut Ctx<'_, u32>) {
//!         self.heard += 1;
//!         if msg < 10 { ctx.send(from, msg + 1) }
//!     }
//!     fn on_timer(&mut self, _timer: u64, _ctx: &mut Ctx<'_, u32>) {}
//!     fn crash(&mut self) {}
//! }
//!
//! let mut sim = Sim::new(42, vec![Echo { heard: 0 }, Echo { heard: 0 }], Faults::none());
//! sim.run_until(1_000, |_| Ok(())).unwrap();
//! assert_eq!(sim.process(Pid(0)).heard + sim.process(Pid(1)).heard, 10);
//! ```
//!
//! Layer L1: no I/O, no clocks; it is a library for tests and benchmarks.

mod rng;
mod sim;
mod trace;

pub use rng::SimRng;
pub use sim::{Ctx, Faults, Pid, Process, Sim, SimFailure, SimStats};

#[cfg(test)]
mod tests;
