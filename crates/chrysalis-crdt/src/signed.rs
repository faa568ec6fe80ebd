//! Signed deltas: a delta that carries its author's domain-separated
//! Ed25519 signature and is verified before it is applied.
//!
//! The signature covers, under the domain `"chrysalis/v1/crdt-delta"`, the
//! CRDT type ([`DeltaCrdt::KIND`]), the author's node id and the delta's
//! canonical encoding: a delta signed for one type never verifies as
//! another, and one author's signature never passes for another's. A node
//! id is the node's Ed25519 public key, so the key used to verify must be
//! exactly the author's id.

use crate::DeltaCrdt;
use chrysalis_crypto::ed25519::{Signature, SignatureError, SigningKey, VerifyingKey};
use chrysalis_types::NodeId;
use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};
use std::marker::PhantomData;

/// The signature domain of CRDT deltas.
pub const DELTA_DOMAIN: &str = "chrysalis/v1/crdt-delta";

/// Why a signed delta was refused. Nothing is applied on error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignedDeltaError {
    /// No key is known for the author.
    #[error("no key known for author {0}")]
    UnknownAuthor(NodeId),
    /// The key found for the author is not the author's id.
    #[error("the key found for author {0} is a different key")]
    KeyMismatch(NodeId),
    /// The signature does not verify.
    #[error("bad signature from {author}: {source}")]
    BadSignature {
        /// The claimed author.
        author: NodeId,
        /// Why verification failed.
        source: SignatureError,
    },
    /// The signed bytes are not a valid delta.
    #[error("signed delta does not decode: {0}")]
    Decode(#[from] DecodeError),
}

/// A delta of `S`, its author and the author's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDelta<S> {
    delta: Vec<u8>,
    author: NodeId,
    signature: Signature,
    _kind: PhantomData<fn() -> S>,
}

impl<S: DeltaCrdt> SignedDelta<S> {
    /// Signs `delta` with `key`; the author is the key's node id.
    pub fn sign(delta: &S::Delta, key: &SigningKey) -> Self {
        let author = NodeId::new(key.verifying_key().to_bytes());
        let bytes = delta.encode_body();
        let signature = key.sign_domain(DELTA_DOMAIN, &Self::fields(&author, &bytes));
        Self {
            delta: bytes,
            author,
            signature,
            _kind: PhantomData,
        }
    }

    fn fields<'a>(author: &'a NodeId, bytes: &'a [u8]) -> [&'a [u8]; 3] {
        [S::KIND.as_bytes(), author.as_bytes(), bytes]
    }

    /// The claimed author.
    pub fn author(&self) -> NodeId {
        self.author
    }

    /// The delta's canonical encoding, as signed.
    pub fn delta_bytes(&self) -> &[u8] {
        &self.delta
    }

    /// Checks the signature with the key `keys` gives for the author, then
    /// decodes the delta.
    pub fn verify(
        &self,
        keys: impl Fn(&NodeId) -> Option<VerifyingKey>,
    ) -> Result<S::Delta, SignedDeltaError> {
        let key = keys(&self.author).ok_or(SignedDeltaError::UnknownAuthor(self.author))?;
        if key.as_bytes() != self.author.as_bytes() {
            return Err(SignedDeltaError::KeyMismatch(self.author));
        }
        key.verify_domain(
            DELTA_DOMAIN,
            &Self::fields(&self.author, &self.delta),
            &self.signature,
        )
        .map_err(|source| SignedDeltaError::BadSignature {
            author: self.author,
            source,
        })?;
        Ok(S::Delta::from_body(&self.delta)?)
    }
}

/// Verifies `signed` against `keys`, then applies it to `state`; returns the
/// author. On any error `state` is untouched.
pub fn apply_signed<S: DeltaCrdt>(
    state: &mut S,
    signed: &SignedDelta<S>,
    keys: impl Fn(&NodeId) -> Option<VerifyingKey>,
) -> Result<NodeId, SignedDeltaError> {
    let delta = signed.verify(keys)?;
    state.apply_delta(&delta);
    Ok(signed.author)
}

impl<S> Encode for SignedDelta<S> {
    fn encode(&self, w: &mut Writer) {
        w.put_bytes(&self.delta);
        w.put(&self.author);
        w.put(&self.signature);
    }
}

impl<S> Decode for SignedDelta<S> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            delta: r.bytes()?.to_vec(),
            author: r.get()?,
            signature: r.get()?,
            _kind: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GCounter, ORSet};

    #[test]
    fn verifies_before_applying() {
        let key = SigningKey::from_seed(&[9; 32]);
        let author = NodeId::new(key.verifying_key().to_bytes());
        let mut origin = ORSet::<u64>::new();
        let delta = origin.add(author, 42);
        let signed = SignedDelta::<ORSet<u64>>::sign(&delta, &key);
        let wire = SignedDelta::<ORSet<u64>>::from_bytes(&signed.to_bytes()).unwrap();
        let lookup = |id: &NodeId| VerifyingKey::from_bytes(id.as_bytes()).ok();
        let mut replica = ORSet::new();
        assert_eq!(apply_signed(&mut replica, &wire, lookup), Ok(author));
        assert!(replica.contains(&42));

        // A different key claiming the same author is refused.
        let other = SigningKey::from_seed(&[8; 32]).verifying_key();
        let mut fresh = ORSet::new();
        assert_eq!(
            apply_signed(&mut fresh, &wire, |_| Some(other)),
            Err(SignedDeltaError::KeyMismatch(author))
        );
        assert_eq!(
            apply_signed(&mut fresh, &wire, |_| None),
            Err(SignedDeltaError::UnknownAuthor(author))
        );
        // A tampered delta fails verification and changes nothing.
        let mut bytes = wire.to_bytes();
        let last_of_delta = 1 + 4 + wire.delta_bytes().len() - 1;
        bytes[last_of_delta] ^= 1;
        let tampered = SignedDelta::<ORSet<u64>>::from_bytes(&bytes).unwrap();
        assert!(matches!(
            apply_signed(&mut fresh, &tampered, lookup),
            Err(SignedDeltaError::BadSignature { .. })
        ));
        assert!(fresh.is_empty());
    }

    #[test]
    fn a_delta_signed_for_one_type_does_not_verify_as_another() {
        let key = SigningKey::from_seed(&[9; 32]);
        let author = NodeId::new(key.verifying_key().to_bytes());
        let mut counter = GCounter::new();
        let delta = counter.increment(author, 1).unwrap();
        let signed = SignedDelta::<GCounter>::sign(&delta, &key);
        let as_clock = SignedDelta::<crate::VectorClock>::from_bytes(&signed.to_bytes()).unwrap();
        let lookup = |id: &NodeId| VerifyingKey::from_bytes(id.as_bytes()).ok();
        assert!(matches!(
            as_clock.verify(lookup),
            Err(SignedDeltaError::BadSignature { .. })
        ));
    }
}
