use super::*;
use proptest::prelude::*;

fn hex32(s: &str) -> Hash {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// MTH straight from RFC 6962 §2.1, recursing over leaf hashes: the
/// reference the cached tree is checked against.
fn reference_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

fn tree_of(n: u64) -> (MerkleTree, Vec<Hash>) {
    let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect();
    let mut tree = MerkleTree::new();
    leaves.iter().for_each(|l| tree.push(*l));
    (tree, leaves)
}

#[test]
fn transparency_dev_hasher_vectors() {
    // transparency-dev/merkle rfc6962/rfc6962_test.go.
    assert_eq!(
        empty_root(),
        hex32("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    assert_eq!(
        leaf_hash(b"L123456"),
        hex32("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
    );
}

#[test]
fn root_at_matches_reference_for_every_prefix() {
    let (tree, leaves) = tree_of(70);
    for size in 0..=70 {
        assert_eq!(
            tree.root_at(size).unwrap(),
            reference_root(&leaves[..size as usize])
        );
    }
    assert_eq!(tree.root(), reference_root(&leaves));
    assert!(matches!(
        tree.root_at(71),
        Err(ProofError::SizeOutOfRange { .. })
    ));
}

#[test]
fn every_proof_of_small_trees_verifies_and_has_exact_length() {
    let (tree, leaves) = tree_of(33);
    for size in 1..=33u64 {
        let root = tree.root_at(size).unwrap();
        for index in 0..size {
            let proof = tree.inclusion_proof(index, size).unwrap();
            assert_eq!(proof.hashes.len(), inclusion_len(index, size));
            proof.verify(&leaves[index as usize], &root).unwrap();
        }
        for old in 1..=size {
            let proof = tree.consistency_proof(old, size).unwrap();
            proof.verify(&tree.root_at(old).unwrap(), &root).unwrap();
        }
    }
}

#[test]
fn bad_parameters_are_refused() {
    let (tree, leaves) = tree_of(5);
    let root = tree.root();
    assert!(matches!(
        tree.inclusion_proof(5, 5),
        Err(ProofError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        tree.inclusion_proof(0, 6),
        Err(ProofError::SizeOutOfRange { .. })
    ));
    assert!(matches!(
        tree.consistency_proof(4, 3),
        Err(ProofError::SizesOutOfOrder { .. })
    ));
    assert!(matches!(
        tree.consistency_proof(0, 3),
        Err(ProofError::EmptyOldTree { .. })
    ));
    assert!(matches!(
        verify_inclusion(5, 5, &leaves[0], &[], &root),
        Err(ProofError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        hash_from_slice(&[0; 31]),
        Err(ProofError::BadHashLength { len: 31 })
    ));
}

#[test]
fn wire_form_round_trips_and_bounds_length() {
    let (tree, _) = tree_of(9);
    let proof = tree.inclusion_proof(3, 9).unwrap();
    assert_eq!(InclusionProof::from_wire(&proof.to_wire()).unwrap(), proof);
    let cons = tree.consistency_proof(3, 9).unwrap();
    assert_eq!(ConsistencyProof::from_wire(&cons.to_wire()).unwrap(), cons);
    let huge = InclusionProof {
        leaf_index: 0,
        tree_size: 1,
        hashes: vec![[0; 32]; MAX_PROOF_HASHES + 1],
    };
    assert!(InclusionProof::from_wire(&huge.to_wire()).is_err());
}

fn tamper(hashes: &mut Vec<Hash>, how: u8, at: usize, bit: u8) {
    match how % 4 {
        0 if !hashes.is_empty() => {
            let i = at % hashes.len();
            hashes[i][usize::from(bit) % 32] ^= 1 << (bit % 8);
        }
        1 => hashes.insert(at % (hashes.len() + 1), [bit; 32]),
        2 if !hashes.is_empty() => {
            hashes.remove(at % hashes.len());
        }
        _ if hashes.len() >= 2 => {
            let i = at % (hashes.len() - 1);
            if hashes[i] == hashes[i + 1] {
                hashes[i][0] ^= 1;
            }
            hashes.swap(i, i + 1);
        }
        _ => hashes.push([bit; 32]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Proofs verify for every (index, size) and every (old, new), and are
    /// refused after any single tampering.
    #[test]
    fn proofs_verify_and_tampering_is_refused(
        n in 1u64..300,
        a in any::<u64>(),
        b in any::<u64>(),
        how in any::<u8>(),
        at in any::<usize>(),
        bit in any::<u8>(),
    ) {
        let (tree, leaves) = tree_of(n);
        let size = 1 + a % n;
        let index = b % size;
        let root = tree.root_at(size).unwrap();
        let proof = tree.inclusion_proof(index, size).unwrap();
        prop_assert!(proof.verify(&leaves[index as usize], &root).is_ok());
        let mut bad = proof.clone();
        tamper(&mut bad.hashes, how, at, bit);
        prop_assert!(bad.verify(&leaves[index as usize], &root).is_err());
        if size > 1 {
            let other = (index + 1 + b % (size - 1)) % size;
            prop_assert!(verify_inclusion(other, size, &leaves[index as usize], &proof.hashes, &root).is_err());
        }

        let old = 1 + b % size;
        let old_root = tree.root_at(old).unwrap();
        let cons = tree.consistency_proof(old, size).unwrap();
        prop_assert!(cons.verify(&old_root, &root).is_ok());
        let mut bad = cons.clone();
        tamper(&mut bad.hashes, how, at, bit);
        prop_assert!(bad.verify(&old_root, &root).is_err());
        let mut forged = old_root;
        forged[usize::from(bit) % 32] ^= 1;
        prop_assert!(cons.verify(&forged, &root).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Deferred leaves give the same roots and proofs before and after settling.
    #[test]
    fn deferred_pushes_match_eager_ones(settled in 0u64..100, deferred in 1u64..100, probe in any::<u64>()) {
        let (eager, leaves) = tree_of(settled + deferred);
        let mut lazy = MerkleTree::new();
        leaves[..settled as usize].iter().for_each(|l| lazy.push(*l));
        leaves[settled as usize..].iter().for_each(|l| lazy.push_deferred(*l));
        let size = 1 + probe % (settled + deferred);
        let index = probe % size;
        for _ in 0..2 {
            prop_assert_eq!(lazy.root(), eager.root());
            prop_assert_eq!(lazy.root_at(size).unwrap(), eager.root_at(size).unwrap());
            prop_assert_eq!(lazy.inclusion_proof(index, size).unwrap(), eager.inclusion_proof(index, size).unwrap());
            prop_assert_eq!(lazy.consistency_proof(1 + index, size).unwrap(), eager.consistency_proof(1 + index, size).unwrap());
            lazy.settle();
            prop_assert!(lazy.is_settled());
        }
    }
}
