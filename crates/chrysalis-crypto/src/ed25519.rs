//! Ed25519 signatures (RFC 8032).
//!
//! Verification is always strict (`ed25519-dalek`'s `verify_strict`):
//! non-canonical signatures and small-order ("weak") public keys are
//! refused, so one message has one valid signature per key.
//!
//! Signing runs on aws-lc (`aws-lc-rs`), which signs about twice as fast as
//! `ed25519-dalek` on x86-64 (`benches/crypto.rs`). Ed25519 is
//! deterministic, so the bytes are the same whichever library signs
//! (`tests/it/ed25519_vectors.rs` checks it against RFC 8032, ring and
//! dalek). Both copies of the secret are wiped on drop: dalek's by
//! `zeroize`, aws-lc's by `OPENSSL_free`, which cleanses before freeing.
//!
//! [`verify_batch`] checks many signatures at once, about twice as fast per
//! signature. Before batching it refuses weak keys, non-canonical `R`
//! encodings and small-order `R` points, exactly as strict single
//! verification does, so for keys made by honest key generation the batch
//! verdict equals the one-by-one verdict (checked on every Wycheproof case).
//! The one residual difference: for a maliciously made public key with a
//! torsion component (never produced by [`SigningKey`]), a forged signature
//! that strict verification refuses may pass a batch, because batching
//! multiplies each equation by a random scalar. Where nodes must agree
//! bit-for-bit on such adversarial input (consensus), either verify one by
//! one or admit only keys for which [`VerifyingKey::is_torsion_free`] holds,
//! checked once when the key is registered.
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
pub struct SigningKey {
    /// The key, for everything but signing.
    dalek: ed25519_dalek::SigningKey,
    /// The same key in aws-lc, which signs faster. `None` only if aws-lc
    /// refused the seed (it accepts every 32-byte seed); then dalek signs.
    fast: Option<aws_lc_rs::signature::Ed25519KeyPair>,
}

impl SigningKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> Self {
        let seed = zeroize::Zeroizing::new(crate::secret::random_array::<32>());
        Self::from_seed(&seed)
    }

    /// The key whose RFC 8032 secret seed is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            dalek: ed25519_dalek::SigningKey::from_bytes(seed),
            fast: aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(seed).ok(),
        }
    }

    /// The 32-byte secret seed. Handle with care: it is the key.
    pub fn to_seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.dalek.to_bytes())
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.dalek.verifying_key())
    }

    /// Signs `message` as it is. Prefer [`SigningKey::sign_domain`] for
    /// anything that crosses a trust boundary.
    pub fn sign(&self, message: &[u8]) -> Signature {
        if let Some(fast) = &self.fast
            && let Ok(bytes) = <[u8; 64]>::try_from(fast.sign(message).as_ref())
        {
            return Signature::from_bytes(&bytes);
        }
        Signature(self.dalek.sign(message))
    }

    /// Signs `fields` under `domain` (see [`domain_message`]).
    pub fn sign_domain(&self, domain: &str, fields: &[&[u8]]) -> Signature {
        self.sign(&domain_message(domain, fields))
    }
}

impl Clone for SigningKey {
    fn clone(&self) -> Self {
        Self::from_seed(&self.to_seed())
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

    /// Whether the key lies in the prime-order subgroup, as every key that
    /// honest key generation makes does. Costs one scalar multiplication
    /// (tens of microseconds): check once, when a key is registered, not
    /// per message. See the module docs on batch verification.
    pub fn is_torsion_free(&self) -> bool {
        self.0.to_edwards().is_torsion_free()
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

/// Compressed encodings of the eight small-order points (both sign bits
/// where the encoding allows one). A signature whose `R` is one of them is
/// refused by strict verification, so batches refuse it up front too.
const SMALL_ORDER_ENCODINGS: [[u8; 32]; 10] = {
    const fn enc(first: u8, fill: u8, last: u8) -> [u8; 32] {
        let mut out = [fill; 32];
        out[0] = first;
        out[31] = last;
        out
    }
    const fn hex32(s: &[u8; 64]) -> [u8; 32] {
        const fn nibble(c: u8) -> u8 {
            match c {
                b'0'..=b'9' => c - b'0',
                _ => c - b'a' + 10,
            }
        }
        let mut out = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            out[i] = nibble(s[2 * i]) << 4 | nibble(s[2 * i + 1]);
            i += 1;
        }
        out
    }
    const ORDER8_A: [u8; 32] =
        hex32(b"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");
    const ORDER8_B: [u8; 32] =
        hex32(b"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05");
    const fn with_sign(mut p: [u8; 32]) -> [u8; 32] {
        p[31] |= 0x80;
        p
    }
    [
        enc(1, 0, 0),          // identity (y = 1)
        enc(1, 0, 0x80),       // identity, sign bit set
        enc(0xec, 0xff, 0x7f), // order 2 (y = -1)
        enc(0xec, 0xff, 0xff), // order 2, sign bit set
        enc(0, 0, 0),          // order 4 (y = 0)
        enc(0, 0, 0x80),       // order 4, the other x
        ORDER8_A,
        with_sign(ORDER8_A),
        ORDER8_B,
        with_sign(ORDER8_B),
    ]
};

/// Whether `r` is a canonical encoding (y < 2^255 - 19) of a point that is
/// not of small order: what strict verification demands of `R`.
fn r_is_strict(r: &[u8]) -> bool {
    let non_canonical = r[0] >= 0xed && r[1..31].iter().all(|&b| b == 0xff) && r[31] & 0x7f == 0x7f;
    !non_canonical && !SMALL_ORDER_ENCODINGS.iter().any(|s| s[..] == r[..32])
}

/// Verifies many signatures at once, about twice as fast per signature as
/// one by one. Refuses weak keys ([`SignatureError::WeakKey`]) and, as strict
/// verification would, signatures with a non-canonical or small-order `R`,
/// before batching. One bad signature fails the whole batch with
/// [`SignatureError::Invalid`]; verify one by one to find it. See the module
/// docs for the one case (adversarial keys with a torsion component) where
/// a batch may accept what strict verification refuses.
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
    if !signatures.iter().all(|s| r_is_strict(&s.0.r_bytes()[..])) {
        return Err(SignatureError::Invalid);
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

    #[test]
    fn small_order_list_is_exactly_the_small_order_points() {
        for enc in SMALL_ORDER_ENCODINGS {
            let key = VerifyingKey::from_bytes(&enc).unwrap();
            assert!(key.is_weak(), "{}", hex::encode(enc));
        }
        // The multiples of an order-8 point are all eight small-order points.
        let t = VerifyingKey::from_bytes(&SMALL_ORDER_ENCODINGS[6])
            .unwrap()
            .0
            .to_edwards();
        let mut p = t;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..8 {
            let enc = p.compress().to_bytes();
            assert!(SMALL_ORDER_ENCODINGS.contains(&enc));
            seen.insert(enc);
            p += t;
        }
        assert_eq!(seen.len(), 8);
    }

    #[test]
    fn batch_refuses_what_strict_refuses_about_r() {
        let key = SigningKey::from_seed(&[3; 32]);
        let public = key.verifying_key();
        let good = key.sign(b"m");
        for bad_r in [SMALL_ORDER_ENCODINGS[0], [0xff; 32], {
            let mut r = [0xff; 32];
            r[0] = 0xee;
            r[31] = 0x7f;
            r
        }] {
            let mut bytes = good.to_bytes();
            bytes[..32].copy_from_slice(&bad_r);
            let sig = Signature::from_bytes(&bytes);
            assert!(public.verify(b"m", &sig).is_err());
            assert_eq!(
                verify_batch(&[b"m"], &[sig], &[public]),
                Err(SignatureError::Invalid)
            );
        }
        let weak = VerifyingKey::from_bytes(&SMALL_ORDER_ENCODINGS[2]).unwrap();
        assert_eq!(
            verify_batch(&[b"m"], &[good], &[weak]),
            Err(SignatureError::WeakKey)
        );
    }

    #[test]
    fn fast_signer_equals_dalek_and_keys_clone() {
        for i in 0..8u8 {
            let key = SigningKey::from_seed(&[i; 32]);
            assert!(key.fast.is_some());
            let msg = vec![i; i as usize * 50];
            let dalek = key.dalek.sign(&msg).to_bytes();
            assert_eq!(key.sign(&msg).to_bytes(), dalek);
            assert_eq!(key.clone().sign(&msg).to_bytes(), dalek);
        }
    }

    #[test]
    fn torsion_is_detected() {
        let honest = SigningKey::generate().verifying_key();
        assert!(honest.is_torsion_free());
        let torsion = VerifyingKey::from_bytes(&SMALL_ORDER_ENCODINGS[6])
            .unwrap()
            .0;
        let mixed = honest.0.to_edwards() + torsion.to_edwards();
        let mixed = VerifyingKey::from_bytes(&mixed.compress().to_bytes()).unwrap();
        assert!(!mixed.is_weak());
        assert!(!mixed.is_torsion_free());
    }
}
