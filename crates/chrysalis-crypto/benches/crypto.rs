//! Chrysalis crypto primitives side by side with ring, aws-lc-rs and the
//! RustCrypto / blake3 crates, in one run so the ratios survive a noisy
//! machine. `cargo bench -p chrysalis-crypto --bench crypto`.
//!
//! On Linux the figures are the benchmark thread's CPU time, not wall
//! time: on a shared 2-core machine other processes steal the CPU between
//! samples, and CPU time leaves that out. Before measuring, the RFC 7914
//! scrypt vector 4 (N = 2^20, 1 GiB) is checked once in release, which the
//! debug test suite skips.

#![allow(missing_docs, clippy::unwrap_used, dropping_copy_types)]

use chrysalis_crypto::aead::{AeadAlgorithm, AeadKey};
use chrysalis_crypto::ed25519::{self, SigningKey};
use chrysalis_crypto::hash::{self, HashAlgorithm};
use criterion::{BenchmarkId, Throughput, criterion_group};
use sha2::Digest as _;
use std::hint::black_box;
use std::time::Duration;

const SIZES: [(&str, usize); 2] = [("1KiB", 1024), ("1MiB", 1 << 20)];

fn sha2_family(c: &mut Criterion) {
    for (alg, ring_alg, aws_alg) in [
        (
            HashAlgorithm::Sha256,
            &ring::digest::SHA256,
            &aws_lc_rs::digest::SHA256,
        ),
        (
            HashAlgorithm::Sha384,
            &ring::digest::SHA384,
            &aws_lc_rs::digest::SHA384,
        ),
    ] {
        let mut group = c.benchmark_group(alg.name());
        for (label, len) in SIZES {
            let data = vec![0x5au8; len];
            group.throughput(Throughput::Bytes(len as u64));
            group.bench_with_input(BenchmarkId::new("chrysalis", label), &data, |b, d| {
                b.iter(|| alg.digest(black_box(d)))
            });
            group.bench_with_input(BenchmarkId::new("ring", label), &data, |b, d| {
                b.iter(|| ring::digest::digest(ring_alg, black_box(d)))
            });
            group.bench_with_input(BenchmarkId::new("aws-lc-rs", label), &data, |b, d| {
                b.iter(|| aws_lc_rs::digest::digest(aws_alg, black_box(d)))
            });
            group.bench_with_input(BenchmarkId::new("sha2-crate", label), &data, |b, d| {
                b.iter(|| match alg {
                    HashAlgorithm::Sha256 => sha2::Sha256::digest(black_box(d)).to_vec(),
                    _ => sha2::Sha384::digest(black_box(d)).to_vec(),
                })
            });
        }
        group.finish();
    }
    let mut group = c.benchmark_group("sha256-fn");
    let data = vec![0x5au8; 1024];
    group.throughput(Throughput::Bytes(1024));
    group.bench_function("chrysalis::hash::sha256/1KiB", |b| {
        b.iter(|| hash::sha256(black_box(&data)))
    });
    group.finish();
}

fn blake3_hash(c: &mut Criterion) {
    let mut group = c.benchmark_group("blake3");
    for (label, len) in SIZES {
        let data = vec![0x5au8; len];
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("chrysalis", label), &data, |b, d| {
            b.iter(|| HashAlgorithm::Blake3.digest(black_box(d)))
        });
        group.bench_with_input(BenchmarkId::new("chrysalis-fn", label), &data, |b, d| {
            b.iter(|| hash::blake3(black_box(d)))
        });
        group.bench_with_input(BenchmarkId::new("blake3-crate", label), &data, |b, d| {
            b.iter(|| blake3::hash(black_box(d)))
        });
    }
    group.finish();
}

fn ed25519_sign_verify(c: &mut Criterion) {
    let seed = [7u8; 32];
    let msg = [0x42u8; 100];
    let ours = SigningKey::from_seed(&seed);
    let ring_key = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let aws_key = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let public = ours.verifying_key();
    let sig = ours.sign(&msg);

    let mut group = c.benchmark_group("ed25519-sign");
    group.bench_function("chrysalis", |b| b.iter(|| ours.sign(black_box(&msg))));
    group.bench_function("ring", |b| b.iter(|| ring_key.sign(black_box(&msg))));
    group.bench_function("aws-lc-rs", |b| b.iter(|| aws_key.sign(black_box(&msg))));
    group.finish();

    let mut group = c.benchmark_group("ed25519-verify");
    group.bench_function("chrysalis", |b| {
        b.iter(|| public.verify(black_box(&msg), &sig).unwrap())
    });
    let ring_pub =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public.to_bytes());
    group.bench_function("ring", |b| {
        b.iter(|| ring_pub.verify(black_box(&msg), &sig.to_bytes()).unwrap())
    });
    let aws_pub = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ED25519,
        public.to_bytes(),
    );
    group.bench_function("aws-lc-rs", |b| {
        b.iter(|| aws_pub.verify(black_box(&msg), &sig.to_bytes()).unwrap())
    });
    group.finish();
}

fn ed25519_batch(c: &mut Criterion) {
    const N: usize = 64;
    let keys: Vec<_> = (0..N as u8)
        .map(|i| SigningKey::from_seed(&[i; 32]))
        .collect();
    let messages: Vec<Vec<u8>> = (0..N as u8).map(|i| vec![i; 100]).collect();
    let msgs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let sigs: Vec<_> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    let publics: Vec<_> = keys.iter().map(SigningKey::verifying_key).collect();
    let mut group = c.benchmark_group("ed25519-verify-64");
    // Per-signature figures: criterion divides by the element count.
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("chrysalis-batch", |b| {
        b.iter(|| ed25519::verify_batch(black_box(&msgs), &sigs, &publics).unwrap())
    });
    group.bench_function("chrysalis-one-by-one", |b| {
        b.iter(|| {
            for ((m, s), k) in msgs.iter().zip(&sigs).zip(&publics) {
                k.verify(black_box(m), s).unwrap();
            }
        })
    });
    group.finish();
}

fn aes_gcm_seal(c: &mut Criterion) {
    let key_bytes = [9u8; 32];
    let nonce = [3u8; 12];
    let ours = AeadKey::from_bytes(AeadAlgorithm::Aes256Gcm, &key_bytes).unwrap();
    let ring_key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &key_bytes).unwrap(),
    );
    let aws_key = aws_lc_rs::aead::LessSafeKey::new(
        aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &key_bytes).unwrap(),
    );
    let xchacha = AeadKey::from_bytes(AeadAlgorithm::XChaCha20Poly1305, &key_bytes).unwrap();
    let mut group = c.benchmark_group("aes-256-gcm-seal");
    for (label, len) in SIZES {
        group.throughput(Throughput::Bytes(len as u64));
        let mut buf = vec![0u8; len + 16];
        group.bench_function(BenchmarkId::new("chrysalis", label), |b| {
            b.iter(|| {
                buf.truncate(len);
                ours.seal_in_place(&nonce, b"aad", black_box(&mut buf))
                    .unwrap();
            })
        });
        group.bench_function(BenchmarkId::new("ring", label), |b| {
            b.iter(|| {
                buf.truncate(len);
                let n = ring::aead::Nonce::assume_unique_for_key(nonce);
                ring_key
                    .seal_in_place_append_tag(n, ring::aead::Aad::from(b"aad"), black_box(&mut buf))
                    .unwrap();
            })
        });
        group.bench_function(BenchmarkId::new("aws-lc-rs", label), |b| {
            b.iter(|| {
                buf.truncate(len);
                let n = aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce);
                aws_key
                    .seal_in_place_append_tag(
                        n,
                        aws_lc_rs::aead::Aad::from(b"aad"),
                        black_box(&mut buf),
                    )
                    .unwrap();
            })
        });
        let xnonce = [3u8; 24];
        group.bench_function(
            BenchmarkId::new("chrysalis-xchacha20-poly1305", label),
            |b| {
                b.iter(|| {
                    buf.truncate(len);
                    xchacha
                        .seal_in_place(&xnonce, b"aad", black_box(&mut buf))
                        .unwrap();
                })
            },
        );
    }
    group.finish();
}

/// Criterion measuring with [`Clock`].
type Criterion = criterion::Criterion<Clock>;

#[cfg(target_os = "linux")]
type Clock = cpu_clock::ThreadCpuTime;
#[cfg(not(target_os = "linux"))]
type Clock = criterion::measurement::WallTime;

#[cfg(target_os = "linux")]
mod cpu_clock {
    use criterion::measurement::{Measurement, ValueFormatter, WallTime};
    use std::time::Duration;

    static WALL: WallTime = WallTime;

    /// CPU time consumed by the calling thread (`CLOCK_THREAD_CPUTIME_ID`).
    pub(crate) struct ThreadCpuTime;

    fn now() -> Duration {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    }

    impl Measurement for ThreadCpuTime {
        type Intermediate = Duration;
        type Value = Duration;
        fn start(&self) -> Duration {
            now()
        }
        fn end(&self, start: Duration) -> Duration {
            now().saturating_sub(start)
        }
        fn add(&self, a: &Duration, b: &Duration) -> Duration {
            *a + *b
        }
        fn zero(&self) -> Duration {
            Duration::ZERO
        }
        fn to_f64(&self, value: &Duration) -> f64 {
            value.as_nanos() as f64
        }
        fn formatter(&self) -> &dyn ValueFormatter {
            WALL.formatter()
        }
    }
}

/// RFC 7914 section 12, vector 4: N = 2^20, r = 8, p = 1 (1 GiB).
fn rfc7914_vector_4() {
    use chrysalis_crypto::kdf::{PasswordKdf, ScryptParams};
    let mut out = [0u8; 64];
    PasswordKdf::Scrypt(ScryptParams {
        log_n: 20,
        r: 8,
        p: 1,
    })
    .derive(b"pleaseletmein", b"SodiumChloride", &mut out)
    .unwrap();
    assert_eq!(
        hex::encode(out),
        "2101cb9b6a511aaeaddbbe09cf70f881ec568d574a2ffd4dabe5ee9820adaa47\
         8e56fd8f4ba5d09ffa1c6d927c40f4c337304049e8a952fbcbf45c6fa77a41a4",
        "RFC 7914 scrypt vector 4"
    );
}

fn config() -> Criterion {
    criterion::Criterion::default()
        .with_measurement(cpu_clock_or_wall())
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = sha2_family, blake3_hash, ed25519_sign_verify, ed25519_batch, aes_gcm_seal
}
#[cfg(target_os = "linux")]
fn cpu_clock_or_wall() -> Clock {
    cpu_clock::ThreadCpuTime
}

#[cfg(not(target_os = "linux"))]
fn cpu_clock_or_wall() -> Clock {
    criterion::measurement::WallTime
}

/// One contender in an interleaved comparison.
type Contender<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Times `contenders` against each other in interleaved blocks of `iters`
/// calls, `rounds` times, and prints the median of the per-round ratios
/// "first / other". Interleaving makes the ratio robust against the slow
/// swings in CPU share of a shared machine that distort back-to-back runs.
fn interleaved(label: &str, iters: u32, rounds: usize, mut contenders: Vec<Contender<'_>>) {
    let n = contenders.len();
    let mut times = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        for k in 0..n {
            let i = (k + round) % n;
            let run = &mut contenders[i].1;
            let start = std::time::Instant::now();
            for _ in 0..iters {
                run();
            }
            times[i].push(start.elapsed().as_nanos() as f64);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ours_ns = median(times[0].clone()) / f64::from(iters);
    let mut line = format!("ratio {label}: {} {ours_ns:.0} ns", contenders[0].0);
    for (i, (name, _)) in contenders.iter().enumerate().skip(1) {
        let ratios: Vec<f64> = times[0].iter().zip(&times[i]).map(|(a, b)| a / b).collect();
        line.push_str(&format!(
            "; {}/{name} = {:.3}",
            contenders[0].0,
            median(ratios)
        ));
    }
    eprintln!("{line}");
}

/// Interleaved ratios for every bar in the assignment (see `interleaved`).
fn ratios(rounds: usize) {
    let kib = vec![0x5au8; 1024];
    let mib = vec![0x5au8; 1 << 20];
    for (label, data, iters) in [("1KiB", &kib, 200), ("1MiB", &mib, 1)] {
        hash_ratios(label, data, iters, rounds);
        aes_ratios(label, data, iters, rounds);
    }
    sign_ratios(rounds);
}

/// SHA-256, SHA-384 and BLAKE3 against their peers.
fn hash_ratios(label: &str, data: &[u8], iters: u32, rounds: usize) {
    let sha = |name, alg| -> Contender<'_> {
        (
            name,
            Box::new(move || drop(black_box(HashAlgorithm::digest(alg, black_box(data))))),
        )
    };
    interleaved(
        &format!("sha256/{label}"),
        iters,
        rounds,
        vec![
            sha("chrysalis", HashAlgorithm::Sha256),
            (
                "ring",
                Box::new(|| {
                    drop(black_box(ring::digest::digest(
                        &ring::digest::SHA256,
                        black_box(data),
                    )))
                }),
            ),
            (
                "aws-lc-rs",
                Box::new(|| {
                    drop(black_box(aws_lc_rs::digest::digest(
                        &aws_lc_rs::digest::SHA256,
                        black_box(data),
                    )))
                }),
            ),
            (
                "sha2",
                Box::new(|| drop(black_box(sha2::Sha256::digest(black_box(data))))),
            ),
        ],
    );
    interleaved(
        &format!("sha384/{label}"),
        iters,
        rounds,
        vec![
            sha("chrysalis", HashAlgorithm::Sha384),
            (
                "ring",
                Box::new(|| {
                    drop(black_box(ring::digest::digest(
                        &ring::digest::SHA384,
                        black_box(data),
                    )))
                }),
            ),
            (
                "aws-lc-rs",
                Box::new(|| {
                    drop(black_box(aws_lc_rs::digest::digest(
                        &aws_lc_rs::digest::SHA384,
                        black_box(data),
                    )))
                }),
            ),
            (
                "sha2",
                Box::new(|| drop(black_box(sha2::Sha384::digest(black_box(data))))),
            ),
        ],
    );
    interleaved(
        &format!("blake3/{label}"),
        iters,
        rounds,
        vec![
            sha("chrysalis", HashAlgorithm::Blake3),
            (
                "blake3",
                Box::new(|| drop(black_box(blake3::hash(black_box(data))))),
            ),
        ],
    );
}

/// AES-256-GCM seal against ring and aws-lc-rs.
fn aes_ratios(label: &str, data: &[u8], iters: u32, rounds: usize) {
    let key = [9u8; 32];
    let nonce = [3u8; 12];
    let ours = AeadKey::from_bytes(AeadAlgorithm::Aes256Gcm, &key).unwrap();
    let ring_key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &key).unwrap(),
    );
    let aws_key = aws_lc_rs::aead::LessSafeKey::new(
        aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &key).unwrap(),
    );
    let len = data.len();
    let (mut b1, mut b2, mut b3) = (data.to_vec(), data.to_vec(), data.to_vec());
    interleaved(
        &format!("aes-256-gcm-seal/{label}"),
        iters,
        rounds,
        vec![
            (
                "chrysalis",
                Box::new(move || {
                    b1.truncate(len);
                    ours.seal_in_place(&nonce, b"aad", black_box(&mut b1))
                        .unwrap();
                }),
            ),
            (
                "ring",
                Box::new(move || {
                    b2.truncate(len);
                    let n = ring::aead::Nonce::assume_unique_for_key(nonce);
                    ring_key
                        .seal_in_place_append_tag(
                            n,
                            ring::aead::Aad::from(b"aad"),
                            black_box(&mut b2),
                        )
                        .unwrap();
                }),
            ),
            (
                "aws-lc-rs",
                Box::new(move || {
                    b3.truncate(len);
                    let n = aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce);
                    aws_key
                        .seal_in_place_append_tag(
                            n,
                            aws_lc_rs::aead::Aad::from(b"aad"),
                            black_box(&mut b3),
                        )
                        .unwrap();
                }),
            ),
        ],
    );
}

/// Ed25519 signing against ring and aws-lc-rs.
fn sign_ratios(rounds: usize) {
    let seed = [7u8; 32];
    let msg = [0x42u8; 100];
    let ours = SigningKey::from_seed(&seed);
    let ring_key = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let aws_key = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    interleaved(
        "ed25519-sign",
        20,
        rounds,
        vec![
            (
                "chrysalis",
                Box::new(|| drop(black_box(ours.sign(black_box(&msg))))),
            ),
            (
                "ring",
                Box::new(|| drop(black_box(ring_key.sign(black_box(&msg))))),
            ),
            (
                "aws-lc-rs",
                Box::new(|| drop(black_box(aws_key.sign(black_box(&msg))))),
            ),
        ],
    );
}

fn main() {
    rfc7914_vector_4();
    let smoke = std::env::args().any(|a| a == "--test");
    ratios(if smoke { 3 } else { 301 });
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
