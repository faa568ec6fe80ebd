//! transparency-dev/merkle's RFC 6962 vectors (tests/data/rfc6962): the
//! 8-leaf tree's roots, every inclusion and consistency happy path, and every
//! corruption probe (which must be refused).

use chrysalis_ledger::merkle::{
    self, Hash, MerkleTree, ProofError, hash_from_slice, verify_consistency, verify_inclusion,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc6962")
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Standard base64 with padding, enough for the vector files.
fn base64(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::new();
    for chunk in s.trim_end_matches('=').as_bytes().chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= u32::from(value(*c)) << (18 - 6 * i);
        }
        out.extend_from_slice(&acc.to_be_bytes()[1..chunk.len()]);
    }
    out
}

fn eight_leaf_tree() -> MerkleTree {
    let mut tree = MerkleTree::new();
    for leaf in LEAVES {
        tree.push(merkle::leaf_hash(&unhex(leaf)));
    }
    tree
}

fn vector_files(kind: &str) -> Vec<(PathBuf, Value)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&data_dir().join("testdata").join(kind), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p, v)
        })
        .collect()
}

fn hash_field(v: &Value, name: &str) -> Result<Hash, ProofError> {
    hash_from_slice(&base64(v[name].as_str().unwrap()))
}

/// A few happy-path vectors use short "don't care" placeholders for roots
/// that only need to compare equal. Our API types a root as 32 bytes, so a
/// placeholder is zero-padded to 32 bytes (equal placeholders stay equal).
fn placeholder_field(v: &Value, name: &str) -> Hash {
    let bytes = base64(v[name].as_str().unwrap());
    assert!(bytes.len() < 32, "only short placeholders are padded");
    let mut out = [0u8; 32];
    out[..bytes.len()].copy_from_slice(&bytes);
    out
}

fn proof_field(v: &Value) -> Result<Vec<Hash>, ProofError> {
    match v["proof"].as_array() {
        None => Ok(Vec::new()),
        Some(items) => items
            .iter()
            .map(|h| hash_from_slice(&base64(h.as_str().unwrap())))
            .collect(),
    }
}

#[test]
fn hasher_values_and_the_roots_of_sizes_one_to_eight() {
    assert_eq!(
        merkle::empty_root().to_vec(),
        unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    let tree = eight_leaf_tree();
    let roots = std::fs::read_to_string(data_dir().join("roots.txt")).unwrap();
    let mut checked = 0;
    for line in roots.lines().filter(|l| !l.starts_with('#')) {
        let (size, root) = line.split_once(' ').unwrap();
        let size: u64 = size.parse().unwrap();
        assert_eq!(
            tree.root_at(size).unwrap().to_vec(),
            unhex(root),
            "size {size}"
        );
        checked += 1;
    }
    assert_eq!(checked, 8);
}

fn check_inclusion(v: &Value) -> Result<(), ProofError> {
    let index = v["leafIdx"].as_u64().unwrap();
    let size = v["treeSize"].as_u64().unwrap();
    let leaf = hash_field(v, "leafHash")?;
    let root = hash_field(v, "root")?;
    verify_inclusion(index, size, &leaf, &proof_field(v)?, &root)
}

#[test]
fn inclusion_vectors() {
    let tree = eight_leaf_tree();
    let (mut happy, mut refused) = (0, 0);
    for (path, v) in vector_files("inclusion") {
        let result = check_inclusion(&v);
        if v["wantErr"].as_bool().unwrap() {
            assert!(result.is_err(), "{} was accepted", path.display());
            refused += 1;
        } else {
            assert_eq!(result, Ok(()), "{}", path.display());
            let index = v["leafIdx"].as_u64().unwrap();
            let size = v["treeSize"].as_u64().unwrap();
            if size <= 8 && hash_field(&v, "root") == tree.root_at(size) {
                let ours = tree.inclusion_proof(index, size).unwrap();
                assert_eq!(Ok(ours.hashes), proof_field(&v), "{}", path.display());
            }
            happy += 1;
        }
    }
    assert!(happy >= 5, "only {happy} happy paths");
    assert!(refused >= 50, "only {refused} probes");
}

fn check_consistency(v: &Value) -> Result<(), ProofError> {
    let old = v["size1"].as_u64().unwrap();
    let new = v["size2"].as_u64().unwrap();
    let old_root = hash_field(v, "root1")?;
    let new_root = hash_field(v, "root2")?;
    verify_consistency(old, new, &old_root, &new_root, &proof_field(v)?)
}

fn check_consistency_with_placeholders(v: &Value) -> Result<(), ProofError> {
    let old = v["size1"].as_u64().unwrap();
    let new = v["size2"].as_u64().unwrap();
    let old_root = hash_field(v, "root1").unwrap_or_else(|_| placeholder_field(v, "root1"));
    let new_root = hash_field(v, "root2").unwrap_or_else(|_| placeholder_field(v, "root2"));
    verify_consistency(old, new, &old_root, &new_root, &proof_field(v)?)
}

#[test]
fn consistency_vectors() {
    let tree = eight_leaf_tree();
    let (mut happy, mut refused) = (0, 0);
    for (path, v) in vector_files("consistency") {
        let result = check_consistency(&v);
        if v["wantErr"].as_bool().unwrap() {
            assert!(result.is_err(), "{} was accepted", path.display());
            refused += 1;
        } else {
            let result = match result {
                Err(ProofError::BadHashLength { .. }) => check_consistency_with_placeholders(&v),
                other => other,
            };
            assert_eq!(result, Ok(()), "{}", path.display());
            let old = v["size1"].as_u64().unwrap();
            let new = v["size2"].as_u64().unwrap();
            if new <= 8 && hash_field(&v, "root2") == tree.root_at(new) {
                let ours = tree.consistency_proof(old, new).unwrap();
                assert_eq!(Ok(ours.hashes), proof_field(&v), "{}", path.display());
            }
            happy += 1;
        }
    }
    assert!(happy >= 5, "only {happy} happy paths");
    assert!(refused >= 50, "only {refused} probes");
}
