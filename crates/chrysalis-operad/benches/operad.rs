//! Operad law check: one sample (all four laws) on the plan operad, next to
//! the bare compositions the laws cannot avoid.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use chrysalis_operad::{Operad, OperadSamples, PlanOperad, Sample, check_sample};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::hint::black_box;

fn samples(n: usize, max_nodes: usize) -> Vec<Sample<chrysalis_operad::Plan>> {
    let op = PlanOperad::new();
    let mut rng = StdRng::seed_from_u64(1);
    (0..n)
        .map(|i| Sample {
            f: op.sample(&mut rng, max_nodes),
            g: op.sample(&mut rng, max_nodes),
            h: op.sample(&mut rng, max_nodes),
            i,
            j: i / 2,
            k: i / 3,
        })
        .collect()
}

fn law_check(c: &mut Criterion) {
    let op = PlanOperad::new();
    let set = samples(64, 12);
    let mut group = c.benchmark_group("operad");
    group.bench_function("law_check_one_sample_12_nodes", |b| {
        let mut n = 0;
        b.iter(|| {
            n = (n + 1) % set.len();
            check_sample(&op, black_box(&set[n])).is_ok()
        })
    });
    // Peer: the 7 compositions plus 4 equality tests the laws need, done
    // directly, to show the checker's own overhead.
    group.bench_function("bare_compositions_one_sample_12_nodes", |b| {
        let mut n = 0;
        b.iter(|| {
            n = (n + 1) % set.len();
            let s = black_box(&set[n]);
            let arity = op.arity(&s.f).max(1);
            let i = s.i % arity;
            let left = op.compose(&op.identity(), 0, &s.f).ok();
            let fg = op.compose(&s.f, i, &s.g).ok();
            let gh = op.compose(&s.g, 0, &s.h).ok();
            (left == Some(s.f.clone()), fg.is_some(), gh.is_some())
        })
    });
    group.finish();
}

criterion_group!(benches, law_check);
criterion_main!(benches);
