//! The simulator's own tests, driven by a tiny ping-pong process.

use crate::{Ctx, Faults, Pid, Process, Sim};

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Msg {
    Ping { seq: u64, sent_ms: u64 },
    Pong { seq: u64 },
}

const TICK: u64 = 1;

/// Pings every other peer every `period_ms` and answers pings with pongs.
/// `received` is the test's instrument (kept across crashes); `pongs` is
/// volatile state; `disk` counts starts and survives crashes, not wipes.
#[derive(Debug, Default)]
struct Peer {
    n: u32,
    period_ms: u64,
    burst: u32,
    seq: u64,
    pongs: u64,
    disk: u64,
    received: Vec<(u64, Pid, Msg)>,
}

impl Peer {
    fn ticking(n: u32, period_ms: u64) -> Self {
        Self {
            n,
            period_ms,
            ..Self::default()
        }
    }

    fn ping_all(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let me = ctx.me();
        for to in (0..self.n).map(Pid).filter(|&p| p != me) {
            self.seq += 1;
            ctx.send(
                to,
                Msg::Ping {
                    seq: self.seq,
                    sent_ms: ctx.now_ms(),
                },
            );
        }
    }
}

impl Process for Peer {
    type Msg = Msg;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Msg>) {
        self.disk += 1;
        for _ in 0..self.burst {
            self.ping_all(ctx);
        }
        if self.period_ms > 0 {
            ctx.set_timer(self.period_ms, TICK);
        }
    }

    fn on_message(&mut self, from: Pid, msg: Msg, ctx: &mut Ctx<'_, Msg>) {
        self.received.push((ctx.now_ms(), from, msg.clone()));
        match msg {
            Msg::Ping { seq, .. } => ctx.send(from, Msg::Pong { seq }),
            Msg::Pong { .. } => self.pongs += 1,
        }
    }

    fn on_timer(&mut self, timer: u64, ctx: &mut Ctx<'_, Msg>) {
        assert_eq!(timer, TICK);
        self.ping_all(ctx);
        ctx.set_timer(self.period_ms, TICK);
    }

    fn crash(&mut self) {
        self.pongs = 0;
        self.seq = 0;
    }

    fn wipe(&mut self) {
        self.crash();
        self.disk = 0;
    }
}

fn cluster(seed: u64, n: u32, faults: Faults) -> Sim<Peer> {
    Sim::new(seed, (0..n).map(|_| Peer::ticking(n, 10)).collect(), faults)
}

fn deliveries(sim: &Sim<Peer>, from: Pid, to: Pid, after_ms: u64) -> usize {
    sim.process(to)
        .received
        .iter()
        .filter(|(at, f, _)| *f == from && *at > after_ms)
        .count()
}

#[test]
fn ping_pong_round_trips() {
    let mut sim = cluster(1, 2, Faults::none());
    sim.run_until(100, |_| Ok(())).unwrap();
    // Ticks at 10..=100 ms: 10 pings each way; pongs take 2 ms round trip.
    assert_eq!(sim.process(Pid(0)).pongs, 9);
    assert_eq!(sim.process(Pid(1)).pongs, 9);
    assert_eq!(sim.now_ms(), 100);
}

#[test]
fn same_seed_same_trace_and_different_seed_differs() {
    let run = |seed| {
        let mut sim = cluster(seed, 5, Faults::lossy());
        sim.run_until(2_000, |_| Ok(())).unwrap();
        (sim.trace_hash(), sim.stats().clone())
    };
    let (a, stats_a) = run(11);
    let (b, stats_b) = run(11);
    let (c, _) = run(12);
    assert_eq!(a, b);
    assert_eq!(stats_a, stats_b);
    assert_ne!(a, c);
}

#[test]
fn loss_duplication_and_delay_follow_the_faults() {
    let faults = Faults {
        loss: 0.2,
        duplicate: 0.1,
        min_delay_ms: 5,
        max_delay_ms: 15,
    };
    let blaster = Peer {
        n: 2,
        burst: 10_000,
        ..Peer::default()
    };
    let sink = Peer {
        n: 2,
        ..Peer::default()
    };
    // The burst goes out in `on_start`, which runs inside `new`.
    let mut sim = Sim::new(5, vec![blaster, sink], faults);
    sim.run_until(1_000, |_| Ok(())).unwrap();
    let stats = sim.stats();
    assert!(stats.sent >= 10_000);
    let pings: Vec<_> = sim
        .process(Pid(1))
        .received
        .iter()
        .filter_map(|(at, _, m)| match m {
            Msg::Ping { seq, sent_ms } => Some((*at, *seq, *sent_ms)),
            Msg::Pong { .. } => None,
        })
        .collect();
    let loss = stats.dropped_loss as f64 / stats.sent as f64;
    assert!((0.18..0.22).contains(&loss), "loss {loss}");
    for (at, _, sent_ms) in &pings {
        assert!((5..=15).contains(&(at - sent_ms)), "delay {}", at - sent_ms);
    }
    // A ping is reordered when a later-sent one arrived before it.
    let mut highest = 0;
    let mut reordered = 0;
    for (_, seq, _) in &pings {
        if *seq < highest {
            reordered += 1;
        }
        highest = highest.max(*seq);
    }
    assert!(reordered > 1_000, "reordered {reordered}");
    let dup_rate = stats.duplicated as f64 / (stats.sent - stats.dropped) as f64;
    assert!(
        (0.07..0.13).contains(&dup_rate),
        "duplicate rate {dup_rate}"
    );
}

#[test]
fn loss_rate_is_roughly_as_configured() {
    let faults = Faults {
        loss: 0.3,
        duplicate: 0.0,
        min_delay_ms: 1,
        max_delay_ms: 1,
    };
    let blaster = Peer {
        n: 2,
        burst: 10_000,
        ..Peer::default()
    };
    let sink = Peer {
        n: 2,
        ..Peer::default()
    };
    let mut sim = Sim::new(6, vec![blaster, sink], faults);
    sim.run_until(100, |_| Ok(())).unwrap();
    let stats = sim.stats();
    let pings_sent = 10_000.0;
    let pings_in = deliveries(&sim, Pid(0), Pid(1), 0) as f64;
    let loss = 1.0 - pings_in / pings_sent;
    assert!((0.28..0.32).contains(&loss), "loss {loss}");
    assert_eq!(stats.sent, stats.delivered + stats.dropped);
    assert_eq!(stats.dropped, stats.dropped_loss);
    assert_eq!(stats.duplicated, 0);
}

#[test]
fn two_way_partition_drops_across_groups_and_heal_restores() {
    let mut sim = cluster(2, 4, Faults::default());
    sim.run_until(100, |_| Ok(())).unwrap();
    sim.partition(&[vec![Pid(0), Pid(1)], vec![Pid(2), Pid(3)]]);
    sim.run_until(300, |_| Ok(())).unwrap();
    for (a, b) in [(0, 2), (2, 0), (1, 3), (3, 1), (0, 3), (2, 1)] {
        assert_eq!(deliveries(&sim, Pid(a), Pid(b), 100), 0, "{a}->{b} crossed");
    }
    assert!(deliveries(&sim, Pid(0), Pid(1), 100) > 0);
    assert!(deliveries(&sim, Pid(3), Pid(2), 100) > 0);
    assert!(sim.stats().dropped_partition > 0);
    sim.heal();
    sim.run_until(500, |_| Ok(())).unwrap();
    assert!(deliveries(&sim, Pid(0), Pid(2), 300) > 0);
    assert!(deliveries(&sim, Pid(3), Pid(1), 300) > 0);
}

#[test]
fn one_way_block_drops_one_direction_only() {
    let mut sim = cluster(3, 3, Faults::default());
    sim.block_one_way(&[Pid(0)], &[Pid(1)]);
    sim.run_until(300, |_| Ok(())).unwrap();
    assert_eq!(deliveries(&sim, Pid(0), Pid(1), 0), 0);
    assert!(deliveries(&sim, Pid(1), Pid(0), 0) > 0);
    assert!(deliveries(&sim, Pid(0), Pid(2), 0) > 0);
    assert!(sim.is_cut(Pid(0), Pid(1)));
    assert!(!sim.is_cut(Pid(1), Pid(0)));
    sim.heal();
    sim.run_until(400, |_| Ok(())).unwrap();
    assert!(deliveries(&sim, Pid(0), Pid(1), 300) > 0);
}

#[test]
fn crash_cancels_timers_and_drops_messages_to_the_crashed() {
    let mut sim = cluster(4, 3, Faults::default());
    sim.run_until(100, |_| Ok(())).unwrap();
    let sent_before = sim.stats().sent_by[2];
    sim.crash(Pid(2));
    assert!(!sim.is_up(Pid(2)));
    assert_eq!(sim.process(Pid(2)).pongs, 0, "volatile state dropped");
    sim.run_until(300, |_| Ok(())).unwrap();
    assert_eq!(
        sim.stats().sent_by[2],
        sent_before,
        "a crashed process sends nothing"
    );
    assert!(
        sim.process(Pid(2))
            .received
            .iter()
            .all(|(at, _, _)| *at <= 100)
    );
    assert!(sim.stats().dropped_down > 0);
    assert!(sim.stats().timers_cancelled >= 1);
    // The others keep going.
    assert!(deliveries(&sim, Pid(0), Pid(1), 100) > 0);
}

#[test]
fn restart_calls_on_start_and_resumes() {
    let mut sim = cluster(5, 3, Faults::default());
    sim.run_until(100, |_| Ok(())).unwrap();
    sim.crash(Pid(1));
    sim.run_until(200, |_| Ok(())).unwrap();
    sim.restart(Pid(1));
    assert!(sim.is_up(Pid(1)));
    assert_eq!(
        sim.process(Pid(1)).disk,
        2,
        "durable state survives a crash"
    );
    sim.run_until(400, |_| Ok(())).unwrap();
    assert!(deliveries(&sim, Pid(1), Pid(0), 200) > 0);
    assert!(deliveries(&sim, Pid(0), Pid(1), 200) > 0);
    // Exactly one timer chain runs after the restart: ticks at 210..=400.
    let pings_from_1 = sim
        .process(Pid(0))
        .received
        .iter()
        .filter(|(at, f, m)| *f == Pid(1) && *at > 200 && matches!(m, Msg::Ping { .. }))
        .count();
    assert!((18..=20).contains(&pings_from_1), "pings {pings_from_1}");
}

#[test]
fn wipe_loses_durable_state() {
    let mut sim = cluster(6, 2, Faults::none());
    sim.wipe(Pid(0));
    assert_eq!(sim.process(Pid(0)).disk, 0);
    sim.restart(Pid(0));
    assert_eq!(sim.process(Pid(0)).disk, 1);
    sim.restart(Pid(0));
    assert_eq!(
        sim.process(Pid(0)).disk,
        2,
        "restart of a running process reboots it"
    );
}

#[test]
fn inject_delivers_across_partitions_but_not_to_the_crashed() {
    let mut sim = cluster(7, 4, Faults::default());
    sim.partition(&[vec![Pid(0)], vec![Pid(1)], vec![Pid(2)], vec![Pid(3)]]);
    sim.run_until(50, |_| Ok(())).unwrap();
    let forged = Msg::Ping {
        seq: 999,
        sent_ms: 0,
    };
    sim.inject(Pid(0), Pid(3), forged.clone());
    sim.crash(Pid(2));
    sim.inject(Pid(0), Pid(2), forged.clone());
    assert!(sim.step());
    assert!(
        sim.process(Pid(3))
            .received
            .iter()
            .any(|(at, f, m)| *at == 50 && *f == Pid(0) && *m == forged)
    );
    sim.run_until(60, |_| Ok(())).unwrap();
    assert!(
        sim.process(Pid(2))
            .received
            .iter()
            .all(|(_, _, m)| *m != forged)
    );
    assert_eq!(sim.stats().injected, 2);
}

#[test]
fn failure_names_the_seed() {
    let mut sim = cluster(77, 2, Faults::none());
    let err = sim
        .run_until(1_000, |s| {
            if s.process(Pid(0)).pongs > 3 {
                Err("too many pongs".to_owned())
            } else {
                Ok(())
            }
        })
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("seed=77"), "{text}");
    assert!(text.contains("too many pongs"), "{text}");
    assert_eq!(err.seed, 77);
    assert!(sim.now_ms() < 1_000);
}

#[test]
fn nonsense_faults_and_unknown_pids_do_not_panic() {
    let faults = Faults {
        loss: f64::NAN,
        duplicate: 2.0,
        min_delay_ms: 10,
        max_delay_ms: 5,
    };
    let mut sim = cluster(8, 2, faults);
    assert_eq!(sim.faults().loss, 0.0);
    assert_eq!(sim.faults().duplicate, 1.0);
    assert_eq!(
        (sim.faults().min_delay_ms, sim.faults().max_delay_ms),
        (5, 10)
    );
    sim.run_until(100, |_| Ok(())).unwrap();
    sim.crash(Pid(9));
    sim.wipe(Pid(9));
    sim.restart(Pid(9));
    sim.inject(Pid(0), Pid(9), Msg::Pong { seq: 1 });
    sim.run_until(200, |_| Ok(())).unwrap();
    assert!(!sim.is_up(Pid(9)));
    assert_eq!(sim.pids().count(), 2);
}

#[test]
fn step_reports_an_empty_queue() {
    let mut sim: Sim<Peer> = Sim::new(9, vec![Peer::default()], Faults::none());
    assert!(!sim.step());
    assert_eq!(sim.next_event_ms(), None);
    sim.run_until(10, |_| Ok(())).unwrap();
    assert_eq!(sim.now_ms(), 10);
}
