//! Chrysalis crypto primitives side by side with ring, aws-lc-rs and the
//! RustCrypto / blake3 crates, in one run so the ratios survive a noisy
//! machine. `cargo bench -p chrysalis-crypto --bench crypto`.

#![allow(missing_docs, clippy::unwrap_used)]

use chrysalis_crypto::aead::{AeadAlgorithm, AeadKey};
use chrysalis_crypto::ed25519::{self, SigningKey};
use chrysalis_crypto::hash::{self, HashAlgorithm};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
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

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = sha2_family, blake3_hash, ed25519_sign_verify, ed25519_batch, aes_gcm_seal
}
criterion_main!(benches);
