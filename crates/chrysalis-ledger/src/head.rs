//! Signed tree heads and the checkpoints clients keep.
//!
//! A [`SignedTreeHead`] is the ledger operator's Ed25519 statement "the
//! ledger held `tree_size` entries with root `root` at `timestamp`", signed
//! under the domain [`TREE_HEAD_DOMAIN`]. A client keeps the last head it
//! verified as a [`Checkpoint`]; it accepts a newer head only with a
//! consistency proof from the old one, so any rewrite of history is detected.

use crate::merkle::{ConsistencyProof, Hash, ProofError};
use chrysalis_crypto::ed25519::{Signature, SignatureError, SigningKey, VerifyingKey};
use chrysalis_types::Timestamp;
use chrysalis_types::codec::Encode;

/// The signature domain of tree heads.
pub const TREE_HEAD_DOMAIN: &str = "chrysalis/v1/tree-head";

/// Why a tree head was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// The head was signed by a key other than the one trusted.
    #[error("tree head signed by an untrusted key")]
    UntrustedSigner,
    /// The signature does not verify.
    #[error("tree head signature: {0}")]
    Signature(#[from] SignatureError),
    /// The new head is smaller than the checkpoint: the ledger shrank.
    #[error("tree head of size {new} is older than the checkpoint of size {checkpoint}")]
    Shrunk {
        /// The checkpoint's size.
        checkpoint: u64,
        /// The new head's size.
        new: u64,
    },
    /// The proof is for other sizes than the checkpoint and the new head.
    #[error("consistency proof is for sizes {proof_old}..{proof_new}, not {checkpoint}..{new}")]
    ProofSizes {
        /// The proof's old size.
        proof_old: u64,
        /// The proof's new size.
        proof_new: u64,
        /// The checkpoint's size.
        checkpoint: u64,
        /// The new head's size.
        new: u64,
    },
    /// The new head is not an extension of the checkpoint: history was rewritten.
    #[error("tree head is not consistent with the checkpoint: {0}")]
    Inconsistent(ProofError),
}

/// The signed statement of a ledger's size and root at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTreeHead {
    /// How many entries the ledger held.
    pub tree_size: u64,
    /// The Merkle root over those entries.
    pub root: Hash,
    /// When the head was signed, in the signer's hybrid logical time.
    pub timestamp: Timestamp,
    /// Who signed.
    pub signer: VerifyingKey,
    /// The Ed25519 signature over the fields above.
    pub signature: Signature,
}
chrysalis_types::impl_codec!(SignedTreeHead {
    tree_size,
    root,
    timestamp,
    signer,
    signature
});

fn signed_fields(tree_size: u64, root: &Hash, timestamp: Timestamp) -> [Vec<u8>; 3] {
    [
        tree_size.to_le_bytes().to_vec(),
        root.to_vec(),
        timestamp.encode_body(),
    ]
}

impl SignedTreeHead {
    /// Signs `(tree_size, root, timestamp)` with `key`.
    pub fn sign(key: &SigningKey, tree_size: u64, root: Hash, timestamp: Timestamp) -> Self {
        let fields = signed_fields(tree_size, &root, timestamp);
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        Self {
            tree_size,
            root,
            timestamp,
            signer: key.verifying_key(),
            signature: key.sign_domain(TREE_HEAD_DOMAIN, &refs),
        }
    }

    /// Verifies the signature against the embedded signer and checks that
    /// the signer is `trusted`.
    pub fn verify(&self, trusted: &VerifyingKey) -> Result<(), HeadError> {
        if self.signer != *trusted {
            return Err(HeadError::UntrustedSigner);
        }
        let fields = signed_fields(self.tree_size, &self.root, self.timestamp);
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        self.signer
            .verify_domain(TREE_HEAD_DOMAIN, &refs, &self.signature)?;
        Ok(())
    }
}

/// What a client remembers of a ledger: the last head it verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    trusted: VerifyingKey,
    head: SignedTreeHead,
}

impl Checkpoint {
    /// Starts from a head, verified against the operator's `trusted` key.
    pub fn new(trusted: VerifyingKey, head: SignedTreeHead) -> Result<Self, HeadError> {
        head.verify(&trusted)?;
        Ok(Self { trusted, head })
    }

    /// The last verified head.
    pub fn head(&self) -> &SignedTreeHead {
        &self.head
    }

    /// Moves to `new` if it is signed by the trusted key and `proof` shows the
    /// checkpoint's tree is a prefix of it. On any error the checkpoint is
    /// unchanged; [`HeadError::Inconsistent`] means history was rewritten.
    pub fn advance(
        &mut self,
        new: SignedTreeHead,
        proof: &ConsistencyProof,
    ) -> Result<(), HeadError> {
        new.verify(&self.trusted)?;
        let old = &self.head;
        if new.tree_size < old.tree_size {
            return Err(HeadError::Shrunk {
                checkpoint: old.tree_size,
                new: new.tree_size,
            });
        }
        // From the empty tree every head is consistent; otherwise prove it.
        if old.tree_size > 0 {
            if proof.old_size != old.tree_size || proof.new_size != new.tree_size {
                return Err(HeadError::ProofSizes {
                    proof_old: proof.old_size,
                    proof_new: proof.new_size,
                    checkpoint: old.tree_size,
                    new: new.tree_size,
                });
            }
            proof
                .verify(&old.root, &new.root)
                .map_err(HeadError::Inconsistent)?;
        }
        self.head = new;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{MerkleTree, leaf_hash};
    use chrysalis_types::codec::Decode;

    fn tree(n: u64, salt: u8) -> MerkleTree {
        let mut t = MerkleTree::new();
        for i in 0..n {
            t.push(leaf_hash(&[salt, i as u8]));
        }
        t
    }

    #[test]
    fn heads_sign_verify_and_round_trip() {
        let key = SigningKey::from_seed(&[9; 32]);
        let head = SignedTreeHead::sign(&key, 3, [7; 32], Timestamp::new(10, 2));
        head.verify(&key.verifying_key()).unwrap();
        let back = SignedTreeHead::from_bytes(&head.to_bytes()).unwrap();
        assert_eq!(back, head);
        let other = SigningKey::from_seed(&[8; 32]).verifying_key();
        assert_eq!(head.verify(&other), Err(HeadError::UntrustedSigner));
        let mut forged = head.clone();
        forged.tree_size = 4;
        assert!(matches!(
            forged.verify(&key.verifying_key()),
            Err(HeadError::Signature(_))
        ));
    }

    #[test]
    fn checkpoint_accepts_extensions_and_detects_rewrites() {
        let key = SigningKey::from_seed(&[9; 32]);
        let honest = tree(20, 0);
        let ts = Timestamp::new(1, 0);
        let h5 = SignedTreeHead::sign(&key, 5, honest.root_at(5).unwrap(), ts);
        let mut cp = Checkpoint::new(key.verifying_key(), h5).unwrap();
        let h20 = SignedTreeHead::sign(&key, 20, honest.root(), ts);
        cp.advance(h20.clone(), &honest.consistency_proof(5, 20).unwrap())
            .unwrap();
        assert_eq!(cp.head(), &h20);

        // A rewritten ledger: same key, same size, different history.
        let mut rewritten = tree(3, 0);
        for i in 3..25 {
            rewritten.push(leaf_hash(&[1, i]));
        }
        let h25 = SignedTreeHead::sign(&key, 25, rewritten.root(), ts);
        let proof = rewritten.consistency_proof(20, 25).unwrap();
        assert!(matches!(
            cp.advance(h25, &proof),
            Err(HeadError::Inconsistent(_))
        ));
        let h10 = SignedTreeHead::sign(&key, 10, honest.root_at(10).unwrap(), ts);
        assert!(matches!(
            cp.advance(h10, &proof),
            Err(HeadError::Shrunk { .. })
        ));
        assert_eq!(cp.head(), &h20, "a refused head leaves the checkpoint");
    }
}
