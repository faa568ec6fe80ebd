//! Consensus in the deterministic simulator: simulator steps per second,
//! decisions per second and messages per decision, batched transaction
//! throughput, beside the floor they stand on (one Ed25519 verification with
//! ed25519-consensus, measured in the same run).
//!
//! `cargo bench -p chrysalis-consensus`; smoke: `cargo bench -p chrysalis-consensus -- --test`.

#![allow(missing_docs)]

use chrysalis_consensus::{
    BftEngine, EngineConfig, Height, Input, MemWal, Message, Output, PeerId, Round, SigningKey,
    Tendermint, Timeout, TimeoutKind, Tx, Validator, ValidatorSet, Vote, VoteKind, Wal,
};
use chrysalis_sim::{Ctx, Faults, Pid, Process, Sim};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const CLIENT_TIMER: u64 = u64::MAX;

/// An honest validator with simulated clients submitting `txs_per_tick`
/// transactions every 5 ms.
struct BenchNode {
    engine: Tendermint,
    wal: MemWal,
    peers: Vec<Pid>,
    decided: u64,
    decided_txs: u64,
    txs_per_tick: u32,
    seq: u64,
    me: u8,
}

fn encode(t: Timeout) -> u64 {
    let kind = t.kind as u64;
    (t.height.0 << 27) | (u64::from(t.round.0.min(0xFF_FFFF)) << 3) | kind
}

fn decode(x: u64) -> Timeout {
    let kind = match x & 7 {
        0 => TimeoutKind::Propose,
        1 => TimeoutKind::Prevote,
        2 => TimeoutKind::Precommit,
        3 => TimeoutKind::Rebroadcast,
        4 => TimeoutKind::CommitWait,
        _ => TimeoutKind::EmptyBlock,
    };
    Timeout {
        kind,
        height: Height(x >> 27),
        round: Round(((x >> 3) & 0xFF_FFFF) as u32),
    }
}

impl BenchNode {
    fn drive(&mut self, outs: Vec<Output>, ctx: &mut Ctx<'_, Message>) {
        for o in outs {
            match o {
                Output::WalAppend(e) => {
                    let Ok(()) = self.wal.append(&e);
                }
                Output::Broadcast(m) => {
                    for p in &self.peers {
                        ctx.send(*p, m.clone());
                    }
                }
                Output::Send(to, m) => ctx.send(Pid(to.0), m),
                Output::ScheduleTimeout { timeout, after_ms } => {
                    ctx.set_timer(after_ms, encode(timeout))
                }
                Output::Decide(d) => {
                    self.decided += 1;
                    self.decided_txs += d.block.txs.len() as u64;
                }
                Output::SendCommit { .. } => {}
            }
        }
    }
}

impl Process for BenchNode {
    type Msg = Message;
    fn on_start(&mut self, ctx: &mut Ctx<'_, Message>) {
        let outs = self.engine.start();
        self.drive(outs, ctx);
        if self.txs_per_tick > 0 {
            ctx.set_timer(5, CLIENT_TIMER);
        }
    }
    fn on_message(&mut self, from: Pid, msg: Message, ctx: &mut Ctx<'_, Message>) {
        let outs = self.engine.handle(Input::Message(PeerId(from.0), msg));
        self.drive(outs, ctx);
    }
    fn on_timer(&mut self, timer: u64, ctx: &mut Ctx<'_, Message>) {
        if timer == CLIENT_TIMER {
            for _ in 0..self.txs_per_tick {
                self.seq += 1;
                let mut tx = vec![self.me; 56];
                tx[..8].copy_from_slice(&self.seq.to_be_bytes());
                let _ = self.engine.submit_tx(Tx(tx));
            }
            ctx.set_timer(5, CLIENT_TIMER);
            return;
        }
        let outs = self.engine.handle(Input::Timeout(decode(timer)));
        self.drive(outs, ctx);
    }
    fn crash(&mut self) {}
}

fn cluster(n: usize, txs_per_tick: u32, commit_wait_ms: u64) -> Vec<BenchNode> {
    let keys: Vec<SigningKey> = (0..n)
        .map(|i| SigningKey::from([i as u8 + 1; 32]))
        .collect();
    let set = ValidatorSet::new(
        keys.iter()
            .map(|k| Validator {
                key: k.verification_key(),
                power: 1,
            })
            .collect(),
    )
    .expect("set");
    let mut config = EngineConfig {
        timeout_propose_ms: 100,
        timeout_prevote_ms: 50,
        timeout_precommit_ms: 50,
        rebroadcast_ms: 100,
        commit_wait_ms,
        ..EngineConfig::default()
    };
    config.mempool.max_block_txs = 20_000;
    (0..n)
        .map(|i| BenchNode {
            engine: Tendermint::new(config.clone(), set.clone(), keys[i].clone(), Height(1))
                .expect("engine"),
            wal: MemWal::new(),
            peers: (0..n as u32)
                .filter(|p| *p as usize != i)
                .map(Pid)
                .collect(),
            decided: 0,
            decided_txs: 0,
            txs_per_tick,
            seq: 0,
            me: i as u8,
        })
        .collect()
}

struct Run {
    steps: u64,
    decisions: u64,
    delivered: u64,
    decided_txs: u64,
}

fn simulate(n: usize, sim_ms: u64, txs_per_tick: u32, commit_wait_ms: u64) -> Run {
    let mut sim = Sim::new(
        1,
        cluster(n, txs_per_tick, commit_wait_ms),
        Faults::default(),
    );
    sim.run_for(sim_ms);
    Run {
        steps: sim.stats().steps,
        decisions: sim.process(Pid(0)).decided,
        delivered: sim.stats().delivered,
        decided_txs: sim.process(Pid(0)).decided_txs,
    }
}

fn bench_sim(c: &mut Criterion) {
    for n in [4usize, 7] {
        let probe = simulate(n, 1_000, 0, 0);
        eprintln!(
            "n={n}: {} decisions in 1 s simulated, {:.1} messages delivered per decision, {} steps",
            probe.decisions,
            probe.delivered as f64 / probe.decisions.max(1) as f64,
            probe.steps
        );
        let mut g = c.benchmark_group(format!("consensus_sim_n{n}"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(probe.steps));
        g.bench_function("sim_steps", |b| {
            b.iter(|| black_box(simulate(n, 1_000, 0, 0)))
        });
        g.throughput(Throughput::Elements(probe.decisions));
        g.bench_function("decisions", |b| {
            b.iter(|| black_box(simulate(n, 1_000, 0, 0)))
        });
        g.finish();
    }
}

fn bench_batched(c: &mut Criterion) {
    // 4 validators, each with clients offering 250 txs / 5 ms (200k tx/s in all).
    let probe = simulate(4, 1_000, 250, 20);
    eprintln!(
        "batched n=4: {} txs decided in 1 s simulated over {} heights ({:.0} txs per block)",
        probe.decided_txs,
        probe.decisions,
        probe.decided_txs as f64 / probe.decisions.max(1) as f64
    );
    let mut g = c.benchmark_group("consensus_batched_n4");
    g.sample_size(10);
    g.throughput(Throughput::Elements(probe.decided_txs));
    g.bench_function("decided_txs", |b| {
        b.iter(|| black_box(simulate(4, 1_000, 250, 20)))
    });
    g.finish();
}

/// The floor: every vote a validator counts costs one Ed25519 verification.
fn bench_verify_floor(c: &mut Criterion) {
    let key = SigningKey::from([7; 32]);
    let vote = Vote {
        kind: VoteKind::Prevote,
        height: Height(1),
        round: Round(0),
        value: None,
        validator: chrysalis_consensus::ValidatorIndex(0),
    };
    let sv = vote.sign(&key);
    let set = ValidatorSet::new(vec![Validator {
        key: key.verification_key(),
        power: 1,
    }])
    .expect("set");
    let mut g = c.benchmark_group("consensus_vote");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_ed25519_consensus", |b| {
        b.iter(|| black_box(sv.verify(&set)))
    });
    g.bench_function("sign", |b| b.iter(|| black_box(vote.sign(&key))));
    g.finish();
}

criterion_group!(benches, bench_verify_floor, bench_sim, bench_batched);
criterion_main!(benches);
