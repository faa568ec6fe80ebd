//! The event loop: processes, a seeded faulty network, timers, crashes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::hash::Hash;

use crate::rng::SimRng;
use crate::trace::StableHasher;

/// A process's index in the simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(pub u32);

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

impl Pid {
    fn index(self) -> usize {
        self.0 as usize
    }
}

/// A sans-IO protocol instance under simulation.
pub trait Process {
    /// The message type on the simulated wire (protocols usually use their
    /// real encoded frames, `Vec<u8>`, or their message enum).
    type Msg: Clone + fmt::Debug + Hash;

    /// Called once at start and again after every restart.
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self::Msg>);

    /// A message from `from` arrived.
    fn on_message(&mut self, from: Pid, msg: Self::Msg, ctx: &mut Ctx<'_, Self::Msg>);

    /// A timer set with [`Ctx::set_timer`] fired.
    fn on_timer(&mut self, timer: u64, ctx: &mut Ctx<'_, Self::Msg>);

    /// Crash: drop volatile state, keep what the process made durable (its
    /// own in-memory "disk"). Pending timers are cancelled by the sim.
    fn crash(&mut self);

    /// Amnesia: also lose durable state (disk wiped). Default: same as crash.
    fn wipe(&mut self) {
        self.crash()
    }
}

/// Something a process asked for while handling an event.
enum Effect<M> {
    Send { to: Pid, msg: M },
    Timer { after_ms: u64, timer: u64 },
}

/// What a process may do while handling an event.
///
/// Effects are applied by the simulator after the handler returns, in the
/// order the process asked for them.
pub struct Ctx<'a, M> {
    me: Pid,
    now_ms: u64,
    rng: &'a mut SimRng,
    effects: &'a mut Vec<Effect<M>>,
}

impl<M> Ctx<'_, M> {
    /// The process being run.
    pub fn me(&self) -> Pid {
        self.me
    }

    /// Simulated time, in milliseconds since the start of the run.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Sends `msg` to `to` through the faulty network.
    pub fn send(&mut self, to: Pid, msg: M) {
        self.effects.push(Effect::Send { to, msg });
    }

    /// Fires [`Process::on_timer`] with `timer` after `after_ms`, unless the
    /// process crashes first. Timers are not deduplicated: a process ignores
    /// the ones it no longer wants.
    pub fn set_timer(&mut self, after_ms: u64, timer: u64) {
        self.effects.push(Effect::Timer { after_ms, timer });
    }

    /// This process's own deterministic random stream.
    pub fn rng(&mut self) -> &mut SimRng {
        self.rng
    }
}

/// Network faults, all drawn from the seeded RNG.
///
/// Probabilities are clamped into `[0, 1]` (NaN counts as 0) and reversed
/// delay bounds are swapped when the simulator takes them, so no value makes
/// it panic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a delivered message is delivered a second time
    /// (with its own delay).
    pub duplicate: f64,
    /// Smallest one-way delay.
    pub min_delay_ms: u64,
    /// Largest one-way delay; random delays reorder messages.
    pub max_delay_ms: u64,
}

impl Faults {
    /// A reliable network with a fixed 1 ms delay (FIFO per link).
    pub fn none() -> Self {
        Self {
            loss: 0.0,
            duplicate: 0.0,
            min_delay_ms: 1,
            max_delay_ms: 1,
        }
    }

    /// A lossy, duplicating, reordering network: 10 % loss, 5 % duplicates,
    /// 1–50 ms delays.
    pub fn lossy() -> Self {
        Self {
            loss: 0.1,
            duplicate: 0.05,
            min_delay_ms: 1,
            max_delay_ms: 50,
        }
    }

    fn normalised(self) -> Self {
        let clamp = |p: f64| if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        let (min_delay_ms, max_delay_ms) = if self.min_delay_ms <= self.max_delay_ms {
            (self.min_delay_ms, self.max_delay_ms)
        } else {
            (self.max_delay_ms, self.min_delay_ms)
        };
        Self {
            loss: clamp(self.loss),
            duplicate: clamp(self.duplicate),
            min_delay_ms,
            max_delay_ms,
        }
    }
}

impl Default for Faults {
    /// Reliable, 1–10 ms delays (so messages reorder).
    fn default() -> Self {
        Self {
            loss: 0.0,
            duplicate: 0.0,
            min_delay_ms: 1,
            max_delay_ms: 10,
        }
    }
}

/// Counters over a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Events run (deliveries, timers, and dropped or stale events alike).
    pub steps: u64,
    /// Messages processes sent (before faults).
    pub sent: u64,
    /// Messages handed to a process.
    pub delivered: u64,
    /// Messages dropped for any reason (sum of the three below).
    pub dropped: u64,
    /// Dropped by random loss.
    pub dropped_loss: u64,
    /// Dropped by a partition or one-way block (or an unknown destination).
    pub dropped_partition: u64,
    /// Dropped because the destination was down at delivery.
    pub dropped_down: u64,
    /// Extra copies the network made.
    pub duplicated: u64,
    /// Messages put in with [`Sim::inject`].
    pub injected: u64,
    /// Timers that fired.
    pub timers_fired: u64,
    /// Timers cancelled by a crash before they fired.
    pub timers_cancelled: u64,
    /// Messages sent, per process (indexed by [`Pid`]).
    pub sent_by: Vec<u64>,
    /// Messages delivered, per process.
    pub delivered_to: Vec<u64>,
}

/// A run broke an invariant; its `Display` names the seed to replay.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("simulation failed: seed={seed} step={step} t={now_ms}ms: {message}")]
pub struct SimFailure {
    /// The run's seed: `Sim::new(seed, ..)` replays it.
    pub seed: u64,
    /// The step after which the check failed.
    pub step: u64,
    /// Simulated time of that step.
    pub now_ms: u64,
    /// What the check said.
    pub message: String,
}

enum Event<M> {
    Deliver {
        from: Pid,
        to: Pid,
        msg: M,
        forced: bool,
    },
    Timer {
        pid: Pid,
        timer: u64,
        epoch: u64,
    },
}

/// The deterministic simulator.
///
/// Events live in a queue ordered by (time, sequence number); every random
/// choice comes from generators seeded by the run's seed; nothing reads a
/// clock. The same seed and the same processes give the same run, which
/// [`Sim::trace_hash`] fingerprints.
pub struct Sim<P: Process> {
    seed: u64,
    now_ms: u64,
    next_seq: u64,
    queue: BTreeMap<(u64, u64), Event<P::Msg>>,
    processes: Vec<P>,
    up: Vec<bool>,
    epoch: Vec<u64>,
    rngs: Vec<SimRng>,
    net_rng: SimRng,
    faults: Faults,
    /// Two-way partition: group index per process; `None` when healed.
    groups: Option<Vec<u32>>,
    /// One-way blocks: messages from the first set to the second are dropped.
    one_way: Vec<(BTreeSet<Pid>, BTreeSet<Pid>)>,
    trace: blake3::Hasher,
    stats: SimStats,
    effects: Vec<Effect<P::Msg>>,
}

impl<P: Process> Sim<P> {
    /// A simulation of `processes` (process `i` gets `Pid(i)`), each started
    /// at time 0 in pid order.
    pub fn new(seed: u64, processes: Vec<P>, faults: Faults) -> Self {
        let n = processes.len();
        let mut master = SimRng::new(seed ^ 0x5EED_0F9A_0CE5_5E00);
        let rngs = (0..n).map(|_| master.fork()).collect();
        let mut sim = Self {
            seed,
            now_ms: 0,
            next_seq: 0,
            queue: BTreeMap::new(),
            processes,
            up: vec![true; n],
            epoch: vec![0; n],
            rngs,
            net_rng: SimRng::new(seed),
            faults: faults.normalised(),
            groups: None,
            one_way: Vec::new(),
            trace: blake3::Hasher::new(),
            stats: SimStats {
                sent_by: vec![0; n],
                delivered_to: vec![0; n],
                ..SimStats::default()
            },
            effects: Vec::new(),
        };
        for i in 0..n {
            sim.dispatch(Pid(i as u32), |p, ctx| p.on_start(ctx));
        }
        sim
    }

    /// The seed this run was built from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Simulated time, in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The process `pid`.
    ///
    /// # Panics
    /// If `pid` is not in this simulation (a bug in the test, not input).
    pub fn process(&self, pid: Pid) -> &P {
        &self.processes[pid.index()]
    }

    /// The process `pid`, mutably (to read or poke its state between steps).
    ///
    /// # Panics
    /// If `pid` is not in this simulation.
    pub fn process_mut(&mut self, pid: Pid) -> &mut P {
        &mut self.processes[pid.index()]
    }

    /// Every pid, in order. The iterator does not borrow the simulation, so
    /// a loop over it may mutate processes.
    pub fn pids(&self) -> impl Iterator<Item = Pid> + use<P> {
        (0..self.processes.len() as u32).map(Pid)
    }

    /// Pids of the processes that are up, in order.
    pub fn up_pids(&self) -> impl Iterator<Item = Pid> + '_ {
        self.pids().filter(|&p| self.is_up(p))
    }

    /// Whether `pid` is running (false when crashed or unknown).
    pub fn is_up(&self, pid: Pid) -> bool {
        self.up.get(pid.index()).copied().unwrap_or(false)
    }

    /// Replaces the network's faults from now on.
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults.normalised();
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.faults
    }

    /// Two-way partition into groups (messages across groups are dropped);
    /// `heal` ends every partition. Processes named in no group form one
    /// further group together. Replaces any earlier two-way partition.
    pub fn partition(&mut self, groups: &[Vec<Pid>]) {
        let rest = groups.len() as u32;
        let mut of = vec![rest; self.processes.len()];
        for (g, members) in groups.iter().enumerate() {
            for pid in members {
                if let Some(slot) = of.get_mut(pid.index()) {
                    *slot = g as u32;
                }
            }
        }
        self.groups = Some(of);
    }

    /// One-way: messages from `from` to `to` are dropped, the other direction
    /// flows. Adds to earlier blocks.
    pub fn block_one_way(&mut self, from: &[Pid], to: &[Pid]) {
        self.one_way
            .push((from.iter().copied().collect(), to.iter().copied().collect()));
    }

    /// Ends every partition and one-way block.
    pub fn heal(&mut self) {
        self.groups = None;
        self.one_way.clear();
    }

    /// Whether the network currently drops messages from `from` to `to`.
    pub fn is_cut(&self, from: Pid, to: Pid) -> bool {
        if let Some(groups) = &self.groups
            && groups.get(from.index()) != groups.get(to.index())
        {
            return true;
        }
        self.one_way
            .iter()
            .any(|(f, t)| f.contains(&from) && t.contains(&to))
    }

    /// Crashes `pid`: its pending timers are cancelled, messages reaching it
    /// while down are dropped, and [`Process::crash`] drops its volatile
    /// state. No-op if already down.
    pub fn crash(&mut self, pid: Pid) {
        if self.is_up(pid) {
            self.take_down(pid);
            self.processes[pid.index()].crash();
        }
    }

    /// Crashes `pid` and wipes its durable state ([`Process::wipe`]); works
    /// on a process that is already down too.
    pub fn wipe(&mut self, pid: Pid) {
        if pid.index() >= self.processes.len() {
            return;
        }
        if self.is_up(pid) {
            self.take_down(pid);
        }
        self.processes[pid.index()].wipe();
    }

    /// Brings `pid` back and calls [`Process::on_start`]; a process that is
    /// up is crashed first (a reboot).
    pub fn restart(&mut self, pid: Pid) {
        if pid.index() >= self.processes.len() {
            return;
        }
        self.crash(pid);
        self.up[pid.index()] = true;
        self.dispatch(pid, |p, ctx| p.on_start(ctx));
    }

    fn take_down(&mut self, pid: Pid) {
        self.up[pid.index()] = false;
        self.epoch[pid.index()] += 1;
    }

    /// Inject a message as if `from` had sent it (Byzantine tests:
    /// forged/replayed messages). It is delivered at the current time, after
    /// events already due now, bypassing loss and partitions (but not a
    /// crashed destination).
    pub fn inject(&mut self, from: Pid, to: Pid, msg: P::Msg) {
        self.stats.injected += 1;
        self.push(
            self.now_ms,
            Event::Deliver {
                from,
                to,
                msg,
                forced: true,
            },
        );
    }

    /// Time of the next queued event, if any.
    pub fn next_event_ms(&self) -> Option<u64> {
        self.queue.first_key_value().map(|(&(t, _), _)| t)
    }

    /// Number of queued events (messages in flight and timers).
    pub fn pending_events(&self) -> usize {
        self.queue.len()
    }

    /// Runs the next event; false when no events remain.
    pub fn step(&mut self) -> bool {
        let Some(((time, _), event)) = self.queue.pop_first() else {
            return false;
        };
        self.now_ms = self.now_ms.max(time);
        self.stats.steps += 1;
        match event {
            Event::Deliver {
                from,
                to,
                msg,
                forced,
            } => self.deliver(from, to, msg, forced),
            Event::Timer { pid, timer, epoch } => self.fire(pid, timer, epoch),
        }
        true
    }

    fn deliver(&mut self, from: Pid, to: Pid, msg: P::Msg, forced: bool) {
        if !self.is_up(to) {
            self.stats.dropped += 1;
            self.stats.dropped_down += 1;
            return;
        }
        if !forced && self.is_cut(from, to) {
            self.stats.dropped += 1;
            self.stats.dropped_partition += 1;
            return;
        }
        self.stats.delivered += 1;
        self.stats.delivered_to[to.index()] += 1;
        let mut h = StableHasher(&mut self.trace);
        (0u8, self.now_ms, from, to).hash(&mut h);
        msg.hash(&mut h);
        self.dispatch(to, |p, ctx| p.on_message(from, msg, ctx));
    }

    fn fire(&mut self, pid: Pid, timer: u64, epoch: u64) {
        if !self.is_up(pid) || self.epoch[pid.index()] != epoch {
            self.stats.timers_cancelled += 1;
            return;
        }
        self.stats.timers_fired += 1;
        (1u8, self.now_ms, pid, timer).hash(&mut StableHasher(&mut self.trace));
        self.dispatch(pid, |p, ctx| p.on_timer(timer, ctx));
    }

    /// Runs events until simulated time passes `until_ms` or nothing is left,
    /// calling `check` after every step; on the first `Err` returns a
    /// [`SimFailure`] that names the seed, the step and the message. Time
    /// then stands at `until_ms` (or later, if it already was).
    pub fn run_until(
        &mut self,
        until_ms: u64,
        mut check: impl FnMut(&Sim<P>) -> Result<(), String>,
    ) -> Result<(), SimFailure> {
        while self.next_event_ms().is_some_and(|t| t <= until_ms) {
            self.step();
            if let Err(message) = check(self) {
                return Err(self.failure(message));
            }
        }
        self.now_ms = self.now_ms.max(until_ms);
        Ok(())
    }

    /// Runs events for `duration_ms` of simulated time without checks.
    pub fn run_for(&mut self, duration_ms: u64) {
        let until = self.now_ms.saturating_add(duration_ms);
        let _ = self.run_until(until, |_| Ok(()));
    }

    /// A [`SimFailure`] at the current step, for checks made outside
    /// [`Sim::run_until`].
    pub fn failure(&self, message: impl Into<String>) -> SimFailure {
        SimFailure {
            seed: self.seed,
            step: self.stats.steps,
            now_ms: self.now_ms,
            message: message.into(),
        }
    }

    /// BLAKE3 over every delivered event (time, from, to, message via its
    /// `Hash` impl into a stable hasher) and every fired timer: same seed,
    /// same hash.
    pub fn trace_hash(&self) -> [u8; 32] {
        *self.trace.finalize().as_bytes()
    }

    /// Counters over the run so far.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    fn push(&mut self, time: u64, event: Event<P::Msg>) {
        self.queue.insert((time, self.next_seq), event);
        self.next_seq += 1;
    }

    /// Runs one handler of `pid` and applies the effects it asked for.
    fn dispatch(&mut self, pid: Pid, handler: impl FnOnce(&mut P, &mut Ctx<'_, P::Msg>)) {
        let mut effects = std::mem::take(&mut self.effects);
        let i = pid.index();
        let mut ctx = Ctx {
            me: pid,
            now_ms: self.now_ms,
            rng: &mut self.rngs[i],
            effects: &mut effects,
        };
        handler(&mut self.processes[i], &mut ctx);
        let epoch = self.epoch[i];
        for effect in effects.drain(..) {
            match effect {
                Effect::Send { to, msg } => self.transmit(pid, to, msg),
                Effect::Timer { after_ms, timer } => {
                    let at = self.now_ms.saturating_add(after_ms);
                    self.push(at, Event::Timer { pid, timer, epoch });
                }
            }
        }
        self.effects = effects;
    }

    /// Puts a sent message through the faults.
    fn transmit(&mut self, from: Pid, to: Pid, msg: P::Msg) {
        self.stats.sent += 1;
        self.stats.sent_by[from.index()] += 1;
        if to.index() >= self.processes.len() || self.is_cut(from, to) {
            self.stats.dropped += 1;
            self.stats.dropped_partition += 1;
            return;
        }
        let f = self.faults;
        if self.net_rng.chance(f.loss) {
            self.stats.dropped += 1;
            self.stats.dropped_loss += 1;
            return;
        }
        let delay = self.net_rng.between(f.min_delay_ms, f.max_delay_ms);
        if self.net_rng.chance(f.duplicate) {
            self.stats.duplicated += 1;
            let again = self.net_rng.between(f.min_delay_ms, f.max_delay_ms);
            let event = Event::Deliver {
                from,
                to,
                msg: msg.clone(),
                forced: false,
            };
            self.push(self.now_ms.saturating_add(again), event);
        }
        self.push(
            self.now_ms.saturating_add(delay),
            Event::Deliver {
                from,
                to,
                msg,
                forced: false,
            },
        );
    }
}
