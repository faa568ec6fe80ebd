//! Interleaved best-of-N timings for the bars, printed as ratios.
//!
//! On a shared, loaded machine a mean mixes in time the benchmark thread
//! spent preempted. Here each contender runs alternately with the other,
//! `REPS` times, and the fastest run of each counts: the run least
//! disturbed by other load, taken from the same stretch of time for both.
//! Enabled by `CHRYSALIS_BENCH_RATIOS=1` (off in `--test` smoke runs).

use std::time::{Duration, Instant};

/// How many alternating runs per contender.
const REPS: usize = 15;

/// One contender: builds a fresh input, then runs on it (only the run is
/// timed), `batch` times per timed run.
pub(crate) struct Contender<'a> {
    pub(crate) name: &'a str,
    run: Box<dyn FnMut(usize) -> Duration + 'a>,
}

impl<'a> Contender<'a> {
    /// Times `routine` on inputs from `setup`, `batch` at a time; the time
    /// per call is the batch's time divided by `batch`.
    pub(crate) fn new<S: 'a, R>(
        name: &'a str,
        batch: usize,
        mut setup: impl FnMut() -> S + 'a,
        mut routine: impl FnMut(&mut S) -> R + 'a,
    ) -> Self {
        Self {
            name,
            run: Box::new(move |_| {
                let mut inputs: Vec<S> = (0..batch).map(|_| setup()).collect();
                let start = Instant::now();
                for input in &mut inputs {
                    std::hint::black_box(routine(input));
                }
                let elapsed = start.elapsed();
                drop(inputs);
                elapsed / batch as u32
            }),
        }
    }
}

/// Runs the contenders alternately and prints each one's best time and its
/// ratio to the first (the reference).
pub(crate) fn report(title: &str, mut contenders: Vec<Contender<'_>>) {
    let mut best = vec![Duration::MAX; contenders.len()];
    for rep in 0..REPS {
        for (c, b) in contenders.iter_mut().zip(&mut best) {
            *b = (*b).min((c.run)(rep));
        }
    }
    let reference = best[0].as_secs_f64();
    let line: Vec<String> = contenders
        .iter()
        .zip(&best)
        .map(|(c, b)| format!("{} {:?} ({:.2}x)", c.name, b, b.as_secs_f64() / reference))
        .collect();
    eprintln!("best of {REPS}, interleaved, {title}: {}", line.join(", "));
}

pub(crate) fn enabled() -> bool {
    std::env::var_os("CHRYSALIS_BENCH_RATIOS").is_some()
}
