//! Ledger benchmarks: the Merkle tree over 1M entries next to the raw SHA-256
//! work it cannot avoid, proof generation and verification, and TraceNode
//! creation.
//!
//! The tree hashes each 64-byte entry once as a leaf (`0x00 || entry`, 65
//! bytes) and each of the `n - 1` inner nodes once (`0x01 || l || r`, 65
//! bytes): `2n - 1` SHA-256 calls of 65 bytes, two compressions each. The
//! reference does exactly those calls on a buffer and nothing else.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use chrysalis_ledger::merkle::{self, MerkleTree, verify_inclusion};
use chrysalis_ledger::{PayloadRef, TraceKind, TraceNode};
use chrysalis_types::{AgentId, Timestamp};
use criterion::{BatchSize, Criterion, black_box, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use std::time::Duration;

const ENTRIES: usize = 1_000_000;

fn payloads() -> Vec<[u8; 64]> {
    (0..ENTRIES)
        .map(|i| {
            let mut p = [0u8; 64];
            p[..8].copy_from_slice(&(i as u64).to_le_bytes());
            p
        })
        .collect()
}

fn merkle_vs_sha256(c: &mut Criterion) {
    let payloads = payloads();
    let mut group = c.benchmark_group("merkle_1m_entries");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("sha256_sha2_reference_2n-1_x_65B", |b| {
        b.iter(|| {
            let mut buf = [0u8; 65];
            for i in 0..2 * ENTRIES - 1 {
                buf[1..9].copy_from_slice(&(i as u64).to_le_bytes());
                let out: [u8; 32] = Sha256::digest(buf).into();
                buf[33] ^= out[0];
            }
            black_box(buf)
        })
    });
    group.bench_function("sha256_ring_reference_2n-1_x_65B", |b| {
        b.iter(|| {
            let mut buf = [0u8; 65];
            for i in 0..2 * ENTRIES - 1 {
                buf[1..9].copy_from_slice(&(i as u64).to_le_bytes());
                let out = chrysalis_crypto::hash::sha256(&buf);
                buf[33] ^= out[0];
            }
            black_box(buf)
        })
    });
    group.bench_function("chrysalis_tree_leaves_and_nodes", |b| {
        b.iter(|| {
            let mut tree = MerkleTree::new();
            tree.reserve(ENTRIES);
            for p in &payloads {
                tree.push(merkle::leaf_hash(p));
            }
            black_box(tree.root())
        })
    });
    group.finish();
}

fn proofs(c: &mut Criterion) {
    let mut tree = MerkleTree::new();
    for p in payloads() {
        tree.push(merkle::leaf_hash(&p));
    }
    let size = tree.len();
    let root = tree.root();
    let mut group = c.benchmark_group("proofs_at_1m");
    let mut index = 0u64;
    group.bench_function("inclusion_proof_generate", |b| {
        b.iter(|| {
            index = (index + 7919) % size;
            black_box(tree.inclusion_proof(index, size))
        })
    });
    let proof = tree.inclusion_proof(123_457, size).expect("in range");
    let leaf = tree.leaf(123_457).expect("in range");
    group.bench_function("inclusion_proof_verify", |b| {
        b.iter(|| black_box(verify_inclusion(123_457, size, &leaf, &proof.hashes, &root)))
    });
    group.bench_function("consistency_proof_generate", |b| {
        b.iter(|| black_box(tree.consistency_proof(333_333, size)))
    });
    let cons = tree.consistency_proof(333_333, size).expect("in range");
    let old_root = tree.root_at(333_333).expect("in range");
    group.bench_function("consistency_proof_verify", |b| {
        b.iter(|| black_box(cons.verify(&old_root, &root)))
    });
    group.finish();
}

fn node_creation(c: &mut Criterion) {
    let kind = TraceKind::new("agent.tool_call").expect("valid kind");
    let mut group = c.benchmark_group("trace_node");
    // The floor: the one SHA-256 call over the same leaf input (0x00, then
    // the node's 121-byte encoding: three compressions), already in a buffer.
    let node = TraceNode::builder(AgentId::new([1; 16]), Timestamp::new(1, 2), kind.clone())
        .payload_bytes([7u8; 64])
        .build()
        .expect("valid node");
    let mut leaf_input = vec![0u8];
    leaf_input.extend_from_slice(node.encoding());
    group.bench_function("sha256_of_the_same_leaf_input", |b| {
        b.iter(|| black_box(Sha256::digest(black_box(&leaf_input))))
    });
    group.bench_function("build_64B_payload", |b| {
        b.iter_batched(
            || kind.clone(),
            |kind| {
                TraceNode::builder(AgentId::new([1; 16]), Timestamp::new(1, 2), kind)
                    .payload_bytes([7u8; 64])
                    .build()
            },
            BatchSize::SmallInput,
        )
    });
    // The bindings' path: the payload borrowed from the caller's buffer and
    // copied once, into the encoding.
    let payload = [7u8; 64];
    group.bench_function("from_parts_64B_borrowed_payload", |b| {
        b.iter_batched(
            || kind.clone(),
            |kind| {
                TraceNode::from_parts(
                    AgentId::new([1; 16]),
                    Timestamp::new(1, 2),
                    kind,
                    PayloadRef::Bytes(black_box(&payload)),
                    Vec::new(),
                )
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, merkle_vs_sha256, proofs, node_creation);
criterion_main!(benches);
