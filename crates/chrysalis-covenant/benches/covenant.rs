//! Covenant check (capability + budget) through the gate, next to the same
//! capability decided by the biscuit authorizer (the peer engine) and a bare
//! budget reserve/commit.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::collections::BTreeSet;

use chrysalis_covenant::{
    Amount, Attenuation, Budget, Covenant, CovenantGate, DecisionRecorder, Grant, Issuer, Request,
    TraceRecorder,
};
use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_types::{AgentId, Timestamp, TraceId};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::hint::black_box;

const NOW_MS: u64 = 1_800_000_000_000;

/// A recorder that only counts, so the figure is the gate's own cost.
struct CountingRecorder(u64);

impl DecisionRecorder for CountingRecorder {
    type Error = std::convert::Infallible;
    fn record(
        &mut self,
        decision: &chrysalis_covenant::Decision<'_>,
    ) -> Result<TraceId, Self::Error> {
        self.0 += u64::from(decision.allowed());
        Ok(TraceId::new([0; 32]))
    }
}

fn delegated_covenant() -> (Covenant, AgentId) {
    let mut rng = StdRng::seed_from_u64(1);
    let issuer = Issuer::new(&SigningKey::from_seed(&[7; 32])).expect("benchmark fixture is valid");
    let grants = [
        Grant {
            action: "tool.call".into(),
            resource_prefix: "tools/".into(),
        },
        Grant {
            action: "memory.read".into(),
            resource_prefix: "".into(),
        },
    ];
    let sub = AgentId::new([9; 16]);
    let narrowed = Attenuation {
        actions: Some(BTreeSet::from(["tool.call".to_owned()])),
        resource_prefix: Some("tools/search".into()),
        holder: Some(sub),
        not_after_s: Some(NOW_MS / 1000 + 3600),
        max_cost: Some(100),
    };
    let cov = issuer
        .issue(&grants, &mut rng)
        .expect("benchmark fixture is valid")
        .attenuate(&narrowed, &mut rng)
        .expect("benchmark fixture is valid");
    (cov, sub)
}

/// The delegated covenant plus one hand-written biscuit block, so it is not
/// compiled and decides through the authorizer.
fn uncompiled_covenant(cov: &Covenant) -> Covenant {
    let root = SigningKey::from_seed(&[7; 32]).verifying_key();
    let root_key =
        biscuit_auth::PublicKey::from_bytes(root.as_bytes(), biscuit_auth::Algorithm::Ed25519)
            .expect("benchmark fixture is valid");
    let bytes = cov.to_bytes().expect("benchmark fixture is valid");
    let token = biscuit_auth::Biscuit::from(bytes, root_key).expect("benchmark fixture is valid");
    let block = biscuit_auth::BlockBuilder::new()
        .code(r#"check if resource($r), $r.starts_with("tools/")"#)
        .expect("benchmark fixture is valid");
    let appended = token
        .append(block)
        .and_then(|t| t.to_vec())
        .expect("benchmark fixture is valid");
    let unc = Covenant::from_bytes(&appended, &root).expect("benchmark fixture is valid");
    assert!(!unc.is_compiled());
    unc
}

fn covenant_check(c: &mut Criterion) {
    let (cov, sub) = delegated_covenant();
    assert!(cov.is_compiled());
    let request = Request {
        principal: sub,
        action: "tool.call",
        resource: "tools/search/web",
        cost: 3,
    };
    let amount = Amount {
        cost: 3,
        tokens: 200,
        time_ms: 50,
        calls: 1,
    };
    let mut group = c.benchmark_group("covenant");
    let budget = Budget::new(Amount {
        cost: u64::MAX / 2,
        tokens: u64::MAX / 2,
        time_ms: u64::MAX / 2,
        calls: u64::MAX / 2,
    });
    let mut gate = CovenantGate::new(budget.clone(), CountingRecorder(0));
    let now = Timestamp::new(NOW_MS, 0);
    group.bench_function("gate_check_capability_and_budget", |b| {
        b.iter(|| {
            let admitted = gate
                .check(&cov, black_box(&request), amount, now)
                .expect("benchmark fixture is valid");
            admitted
                .reservation
                .commit(Amount::ONE_CALL)
                .expect("benchmark fixture is valid");
        })
    });
    // The same check, recording each decision as a real TraceNode (JSON
    // payload, canonical encoding, SHA-256 id) into memory.
    let recorder = TraceRecorder::new(Vec::new()).expect("benchmark fixture is valid");
    let mut traced = CovenantGate::new(budget.clone(), recorder);
    group.bench_function("gate_check_recording_trace_node", |b| {
        b.iter(|| {
            let admitted = traced
                .check(&cov, black_box(&request), amount, now)
                .expect("benchmark fixture is valid");
            admitted.reservation.commit_all();
            let sink = traced.recorder_mut().sink_mut();
            if sink.len() >= 4096 {
                sink.clear();
            }
        })
    });
    group.bench_function("capability_native", |b| {
        b.iter(|| cov.authorize(black_box(&request), NOW_MS).is_ok())
    });
    group.bench_function("capability_biscuit_authorizer", |b| {
        b.iter(|| cov.authorize_datalog(black_box(&request), NOW_MS).is_ok())
    });
    // Not compiled: a repeated request is answered from the covenant's memory
    // of authorizer decisions; a new one (here: a new second each time) runs
    // the authorizer.
    let unc = uncompiled_covenant(&cov);
    assert!(unc.authorize(&request, NOW_MS).is_ok());
    group.bench_function("capability_uncompiled_repeat", |b| {
        b.iter(|| unc.authorize(black_box(&request), NOW_MS).is_ok())
    });
    let mut second = 0u64;
    group.bench_function("capability_uncompiled_new_request", |b| {
        b.iter(|| {
            second = (second + 1) % 3000;
            unc.authorize(black_box(&request), NOW_MS + second * 1000)
                .is_ok()
        })
    });
    let mut unc_gate = CovenantGate::new(budget.clone(), CountingRecorder(0));
    group.bench_function("gate_check_uncompiled_repeat", |b| {
        b.iter(|| {
            let admitted = unc_gate
                .check(&unc, black_box(&request), amount, now)
                .expect("benchmark fixture is valid");
            admitted
                .reservation
                .commit(Amount::ONE_CALL)
                .expect("benchmark fixture is valid");
        })
    });
    group.bench_function("budget_reserve_commit", |b| {
        b.iter(|| {
            budget
                .reserve(black_box(amount))
                .expect("benchmark fixture is valid")
                .commit_all()
        })
    });
    let bytes = cov.to_bytes().expect("benchmark fixture is valid");
    let root = SigningKey::from_seed(&[7; 32]).verifying_key();
    group.bench_function("covenant_load_verify_compile", |b| {
        b.iter(|| {
            Covenant::from_bytes(black_box(&bytes), &root).expect("benchmark fixture is valid")
        })
    });
    group.finish();
}

/// The floor for the contended figure: one mutex around four counters,
/// no reservation object, no shared handle.
struct MutexBudget(std::sync::Mutex<[u64; 4]>);

impl MutexBudget {
    fn reserve_commit(&self, want: [u64; 4], used: [u64; 4]) -> bool {
        {
            let Ok(mut avail) = self.0.lock() else {
                return false;
            };
            if avail.iter().zip(want).any(|(a, w)| *a < w) {
                return false;
            }
            for (a, w) in avail.iter_mut().zip(want) {
                *a -= w;
            }
        }
        let Ok(mut avail) = self.0.lock() else {
            return false;
        };
        for ((a, w), u) in avail.iter_mut().zip(want).zip(used) {
            *a += w - u;
        }
        true
    }
}

const THREADS: u64 = 4;

/// Time per reserve+commit with `THREADS` threads hammering one budget.
fn contended(iters: u64, op: impl Fn() + Sync) -> std::time::Duration {
    let per_thread = iters.div_ceil(THREADS);
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..per_thread {
                    op();
                }
            });
        }
    });
    start.elapsed()
}

fn budget_contention(c: &mut Criterion) {
    let big = u64::MAX / 4;
    let amount = Amount {
        cost: 3,
        tokens: 200,
        time_ms: 50,
        calls: 1,
    };
    let used = Amount {
        cost: 1,
        tokens: 100,
        time_ms: 10,
        calls: 1,
    };
    let mut group = c.benchmark_group("budget_4_threads");
    let ours = Budget::new(Amount {
        cost: big,
        tokens: big,
        time_ms: big,
        calls: big,
    });
    group.bench_function("ours_reserve_commit", |b| {
        b.iter_custom(|iters| {
            contended(iters, || {
                if let Ok(r) = ours.reserve(amount) {
                    let _ = r.commit(used);
                }
            })
        })
    });
    let peer = MutexBudget(std::sync::Mutex::new([big; 4]));
    group.bench_function("bare_mutex_reserve_commit", |b| {
        b.iter_custom(|iters| {
            contended(iters, || {
                black_box(peer.reserve_commit([3, 200, 50, 1], [1, 100, 10, 1]));
            })
        })
    });
    group.finish();
}

criterion_group!(benches, covenant_check, budget_contention);
criterion_main!(benches);
