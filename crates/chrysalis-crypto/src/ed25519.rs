//! Ed25519 signatures (RFC 8032), on `ed25519-dalek`.
//!
//! Verification is always strict: non-canonical signatures and small-order
//! ("weak") public keys are refused, so one message has one valid signature
//! per key. Batch verification refuses weak keys before batching.
//!
//! Messages that cross a trust boundary are signed with
//! [`SigningKey::sign_domain`]: the signature covers a domain string (by
//! convention `"chrysalis/v1/<kind>"`) and a list of length-prefixed fields,
//! so a signature made for one kind of message never verifies as another,
//! and no two different field lists share an encoding.

use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};
use ed25519_dalek::Signer;
use std::fmt;

/// Why a signature or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature does not verify for this key and message.
    #[error("signature does not verify")]
    Invalid,
    /// The public key has small order: anyone could forge for it.
    #[error("public key is weak (small order)")]
    WeakKey,
    /// The bytes are not a valid public key.
    #[error("malformed public key")]
    MalformedKey,
    /// A batch had a different number of keys, messages and signatures.
    #[error("batch lengths differ: {messages} messages, {signatures} signatures, {keys} keys")]
    BatchShape {
        /// Messages given.
        messages: usize,
        /// Signatures given.
        signatures: usize,
        /// Keys given.
        keys: usize,
    },
}

/// The byte string a domain-separated signature covers: the domain and every
/// field, each length-prefixed, preceded by the field count.
pub fn domain_message(domain: &str, fields: &[&[u8]]) -> Vec<u8> {
    let mut w = Writer::new();
    w.put_bytes(b"chrysalis-signed-message");
    w.put_bytes(domain.as_bytes());
    w.put_len(fields.len());
    for field in fields {
        w.put_bytes(field);
    }
    w.into_bytes()
}

/// An Ed25519 secret key. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> Self {
        Self(ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng))
    }

    /// The key whose RFC 8032 secret seed is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The 32-byte secret seed. Handle with care: it is the key.
    pub fn to_seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.0.verifying_key())
    }

    /// Signs `message` as it is. Prefer [`SigningKey::sign_domain`] for
    /// anything that crosses a trust boundary.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message))
    }

    /// Signs `fields` under `domain` (see [`domain_message`]).
    pub fn sign_domain(&self, domain: &str, fields: &[&[u8]]) -> Signature {
        self.sign(&domain_message(domain, fields))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey([REDACTED], public: {})",
            self.verifying_key()
        )
    }
}

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl VerifyingKey {
    /// Parses a compressed public key; refuses bytes that are not a curve point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, SignatureError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| SignatureError::MalformedKey)
    }

    /// The compressed public key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The compressed public key, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Whether the key has small order (and so must never be trusted).
    pub fn is_weak(&self) -> bool {
        self.0.is_weak()
    }

    /// Strict verification of a signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        if self.is_weak() {
            return Err(SignatureError::WeakKey);
        }
        self.0
            .verify_strict(message, &signature.0)
            .map_err(|_| SignatureError::Invalid)
    }

    /// Strict verification of a domain-separated signature.
    pub fn verify_domain(
        &self,
        domain: &str,
        fields: &[&[u8]],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        self.verify(&domain_message(domain, fields), signature)
    }
}

impl fmt::Display for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.as_bytes()))
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", self)
    }
}

impl Encode for VerifyingKey {
    fn encode(&self, w: &mut Writer) {
        w.put_raw(self.as_bytes());
    }
}

impl Decode for VerifyingKey {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::from_bytes(&r.take_array()?).map_err(|_| DecodeError::Invalid {
            what: "Ed25519 public key",
            reason: "not a point on the curve",
        })
    }
}

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(ed25519_dalek::Signature);

impl Signature {
    /// A signature from its 64 bytes (checked when verified, not here).
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        Self(ed25519_dalek::Signature::from_bytes(bytes))
    }

    /// The signature's 64 bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0.to_bytes()
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.to_bytes()))
    }
}

impl Encode for Signature {
    fn encode(&self, w: &mut Writer) {
        w.put_raw(&self.to_bytes());
    }
}

impl Decode for Signature {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self::from_bytes(&r.take_array()?))
    }
}

/// Verifies many signatures at once, faster than one by one. Weak keys are
/// refused before batching; on failure, verify one by one to find the culprit.
pub fn verify_batch(
    messages: &[&[u8]],
    signatures: &[Signature],
    keys: &[VerifyingKey],
) -> Result<(), SignatureError> {
    if messages.len() != signatures.len() || messages.len() != keys.len() {
        return Err(SignatureError::BatchShape {
            messages: messages.len(),
            signatures: signatures.len(),
            keys: keys.len(),
        });
    }
    if keys.iter().any(VerifyingKey::is_weak) {
        return Err(SignatureError::WeakKey);
    }
    let sigs: Vec<_> = signatures.iter().map(|s| s.0).collect();
    let keys: Vec<_> = keys.iter().map(|k| k.0).collect();
    ed25519_dalek::verify_batch(messages, &sigs, &keys).map_err(|_| SignatureError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_separation_prevents_replay_across_kinds() {
        let key = SigningKey::from_seed(&[7; 32]);
        let public = key.verifying_key();
        let sig = key.sign_domain("chrysalis/v1/crdt-delta", &[b"ab", b"c"]);
        assert_eq!(
            public.verify_domain("chrysalis/v1/crdt-delta", &[b"ab", b"c"], &sig),
            Ok(())
        );
        assert_eq!(
            public.verify_domain("chrysalis/v1/vote", &[b"ab", b"c"], &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            public.verify_domain("chrysalis/v1/crdt-delta", &[b"a", b"bc"], &sig),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn secret_keys_never_print() {
        let key = SigningKey::from_seed(&[1; 32]);
        let shown = format!("{key:?}");
        assert!(shown.contains("[REDACTED]"));
        assert!(!shown.contains(&hex::encode([1u8; 32])));
    }

    #[test]
    fn batch_refuses_a_single_bad_signature() {
        let keys: Vec<_> = (0..8u8).map(|i| SigningKey::from_seed(&[i; 32])).collect();
        let messages: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 10]).collect();
        let msgs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let mut sigs: Vec<_> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        let publics: Vec<_> = keys.iter().map(SigningKey::verifying_key).collect();
        assert_eq!(verify_batch(&msgs, &sigs, &publics), Ok(()));
        sigs.swap(0, 1);
        assert_eq!(
            verify_batch(&msgs, &sigs, &publics),
            Err(SignatureError::Invalid)
        );
        assert!(matches!(
            verify_batch(&msgs[..2], &sigs, &publics),
            Err(SignatureError::BatchShape { .. })
        ));
    }
}
