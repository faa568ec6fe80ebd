//! The higher layer side by side with what it is built on, in one run:
//!
//! - keyring encrypt/decrypt (header, AAD framing, counting, key lookup;
//!   `decrypt` into page-locked memory, `decrypt_to_vec` into a plain `Vec`)
//!   next to a bare AES-256-GCM seal/open with ring;
//! - vault unseal with the default Argon2id parameters next to the bare
//!   Argon2id derivation (the unseal cost is the KDF, by design);
//! - chain validation next to calling rustls-webpki directly;
//! - fingerprinting an identity next to one BLAKE3 hash of the public key.
//!
//! `cargo bench -p chrysalis-crypto --bench keyring`.

#![allow(missing_docs, clippy::unwrap_used)]

use chrysalis_crypto::aead::AeadAlgorithm;
use chrysalis_crypto::identity::AgentKeypair;
use chrysalis_crypto::kdf::{Argon2Params, PasswordKdf};
use chrysalis_crypto::keyring::Keyring;
use chrysalis_crypto::tls::ChainVerifier;
use chrysalis_crypto::vault::{Provider, SecurityContext};
use chrysalis_types::AgentId;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::hint::black_box;
use std::time::Duration;

fn keyring_vs_ring(c: &mut Criterion) {
    let data = vec![0x5au8; 1024];
    let mut group = c.benchmark_group("aes-256-gcm-1KiB");
    group.throughput(Throughput::Bytes(1024));

    let mut ring_kr = Keyring::new(AeadAlgorithm::Aes256Gcm);
    group.bench_function("keyring-encrypt", |b| {
        b.iter(|| ring_kr.encrypt(black_box(&data), b"aad").unwrap())
    });
    let sealed = ring_kr.encrypt(&data, b"aad").unwrap();
    group.bench_function("keyring-decrypt", |b| {
        b.iter(|| ring_kr.decrypt(black_box(&sealed), b"aad").unwrap())
    });
    group.bench_function("keyring-decrypt-to-vec", |b| {
        b.iter(|| ring_kr.decrypt_to_vec(black_box(&sealed), b"aad").unwrap())
    });

    let key_bytes = [7u8; 32];
    let key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &key_bytes).unwrap(),
    );
    let rng = ring::rand::SystemRandom::new();
    group.bench_function("ring-seal", |b| {
        b.iter(|| {
            let nonce: [u8; 12] = ring::rand::generate(&rng).unwrap().expose();
            let mut buf = black_box(&data).clone();
            key.seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(b"aad"),
                &mut buf,
            )
            .unwrap();
            buf
        })
    });
    let mut ct = data.clone();
    key.seal_in_place_append_tag(
        ring::aead::Nonce::assume_unique_for_key([1; 12]),
        ring::aead::Aad::from(b"aad"),
        &mut ct,
    )
    .unwrap();
    group.bench_function("ring-open", |b| {
        b.iter(|| {
            let mut buf = black_box(&ct).clone();
            key.open_in_place(
                ring::aead::Nonce::assume_unique_for_key([1; 12]),
                ring::aead::Aad::from(b"aad"),
                &mut buf,
            )
            .unwrap()
            .len()
        })
    });
    group.finish();
}

fn unseal_vs_argon2(c: &mut Criterion) {
    let kdf = PasswordKdf::default();
    let mut ctx = SecurityContext::new();
    ctx.store_api_key(
        Provider::OpenAI,
        "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789wxyz",
        0,
    )
    .unwrap();
    let sealed = ctx.seal(b"correct horse", kdf).unwrap();

    let mut group = c.benchmark_group("vault-unseal-argon2id-default");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("chrysalis-unseal", |b| {
        b.iter(|| SecurityContext::unseal(black_box(&sealed), b"correct horse").unwrap())
    });
    let Argon2Params {
        memory_kib,
        iterations,
        parallelism,
    } = Argon2Params::DEFAULT;
    let params = argon2::Params::new(memory_kib, iterations, parallelism, Some(32)).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    group.bench_function("argon2-crate-derive", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            argon
                .hash_password_into(b"correct horse", &[9u8; 32], &mut out)
                .unwrap();
            out
        })
    });
    group.finish();
}

fn chain_validation(c: &mut Criterion) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Bench Root");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["node.bench".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let now_unix_s = 1_700_000_000; // inside rcgen's default validity (1975 to 4096)
    let verifier = ChainVerifier::new(&[ca.der()]).unwrap();
    let none: [&[u8]; 0] = [];

    let mut group = c.benchmark_group("chain-validation-p256");
    group.bench_function("chrysalis-verify-server", |b| {
        b.iter(|| {
            verifier
                .verify_server(black_box(leaf.der()), &none, "node.bench", now_unix_s)
                .unwrap()
        })
    });
    let anchors = [webpki::anchor_from_trusted_cert(ca.der()).unwrap()];
    let name = ServerName::try_from("node.bench").unwrap();
    let now = UnixTime::since_unix_epoch(Duration::from_secs(now_unix_s));
    group.bench_function("webpki-direct", |b| {
        b.iter(|| {
            let der = CertificateDer::from(black_box(leaf.der().as_ref()));
            let cert = webpki::EndEntityCert::try_from(&der).unwrap();
            cert.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &[],
                now,
                webpki::KeyUsage::server_auth(),
                None,
                None,
            )
            .unwrap();
            cert.verify_is_valid_for_subject_name(&name).unwrap();
        })
    });
    group.finish();
}

fn fingerprint(c: &mut Criterion) {
    let agent = AgentKeypair::from_seed(AgentId::new([3; 16]), "scout", 1, &[4; 32]).unwrap();
    let identity = agent.identity().clone();
    let mut group = c.benchmark_group("fingerprint");
    group.bench_function("chrysalis-identity", |b| {
        b.iter(|| black_box(&identity).fingerprint())
    });
    group.bench_function("blake3-public-key-only", |b| {
        b.iter(|| blake3::hash(black_box(identity.public_key().as_bytes())))
    });
    group.finish();
}

criterion_group!(
    benches,
    keyring_vs_ring,
    unseal_vs_argon2,
    chain_validation,
    fingerprint
);
criterion_main!(benches);
