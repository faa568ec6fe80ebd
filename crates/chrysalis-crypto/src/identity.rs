//! Agent identities and their fingerprints.
//!
//! An [`AgentIdentity`] is the public face of an agent: its random
//! [`AgentId`], a human-chosen name, its creation time and its Ed25519
//! public key. An [`AgentKeypair`] adds the signing key.
//!
//! The [`Fingerprint`] is what people compare out of band ("is this really
//! the agent I think it is?"). It binds all four fields: the BLAKE3 hash of
//! a domain string followed by the identity's canonical encoding. In that
//! encoding the name is length-prefixed and every other field has a fixed
//! width, so no two different identities share an encoding ("ab" + "c" and
//! "a" + "bc" hash differently). Fingerprints are shown as 16 groups of four
//! hex digits and compared in constant time.

use crate::ed25519::{Signature, SignatureError, SigningKey, VerifyingKey};
use chrysalis_types::AgentId;
use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};
use rand_core::CryptoRngCore;
use std::fmt;
use std::str::FromStr;
use subtle::ConstantTimeEq;

/// The longest agent name accepted, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 128;

/// The domain string hashed in front of an identity to make its fingerprint.
pub const FINGERPRINT_DOMAIN: &str = "chrysalis/v1/agent-fingerprint";

/// Why an agent name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("agent name is empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_BYTES`].
    #[error("agent name is {len_bytes} bytes long; the limit is {max_bytes}")]
    TooLong {
        /// The name's length in bytes.
        len_bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// The name holds a control character (newline, tab, escape, …), which
    /// could forge or hide text where the name is shown.
    #[error("agent name holds a control character at byte {position}")]
    ControlCharacter {
        /// Byte offset of the character.
        position: usize,
    },
    /// The name starts or ends with whitespace, which makes look-alikes.
    #[error("agent name starts or ends with whitespace")]
    SurroundingWhitespace,
}

/// Why an identity or key pair could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The name is not acceptable.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// The signing key does not belong to the identity's public key.
    #[error("the signing key does not match the identity's public key")]
    KeyMismatch,
    /// The public key has small order and must never be trusted.
    #[error("the identity's public key is weak (small order)")]
    WeakKey,
}

/// Why a fingerprint string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FingerprintParseError {
    /// Not 64 hex digits once separators are removed.
    #[error("a fingerprint is 64 hex digits, got {found}")]
    Length {
        /// Hex digits found.
        found: usize,
    },
    /// A character that is neither a hex digit nor a separator.
    #[error("a fingerprint is hex digits (optionally grouped by ' ' or ':'), found {found:?}")]
    NotHex {
        /// The offending character.
        found: char,
    },
}

/// Checks an agent name: non-empty, at most [`MAX_NAME_BYTES`], no control
/// characters, no leading or trailing whitespace.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong {
            len_bytes: name.len(),
            max_bytes: MAX_NAME_BYTES,
        });
    }
    if let Some((position, _)) = name.char_indices().find(|(_, c)| c.is_control()) {
        return Err(NameError::ControlCharacter { position });
    }
    if name.trim() != name {
        return Err(NameError::SurroundingWhitespace);
    }
    Ok(())
}

/// The public identity of an agent. The name is always valid (see
/// [`validate_name`]) and the key is never weak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentity {
    id: AgentId,
    name: String,
    created_at_ms: u64,
    public_key: VerifyingKey,
}

impl AgentIdentity {
    /// An identity from its parts, refusing a bad name or a weak key.
    pub fn new(
        id: AgentId,
        name: impl Into<String>,
        created_at_ms: u64,
        public_key: VerifyingKey,
    ) -> Result<Self, IdentityError> {
        let name = name.into();
        validate_name(&name)?;
        if public_key.is_weak() {
            return Err(IdentityError::WeakKey);
        }
        Ok(Self {
            id,
            name,
            created_at_ms,
            public_key,
        })
    }

    /// The agent's id.
    pub fn id(&self) -> AgentId {
        self.id
    }

    /// The agent's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When the identity was created, in milliseconds since the Unix epoch.
    pub fn created_at_ms(&self) -> u64 {
        self.created_at_ms
    }

    /// The agent's public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.public_key
    }

    /// The fingerprint binding id, name, creation time and public key.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut w = Writer::new();
        w.put_bytes(FINGERPRINT_DOMAIN.as_bytes());
        self.encode(&mut w);
        Fingerprint(*blake3::hash(w.as_bytes()).as_bytes())
    }

    /// Strictly verifies a domain-separated signature made by this agent.
    pub fn verify_domain(
        &self,
        domain: &str,
        fields: &[&[u8]],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        self.public_key.verify_domain(domain, fields, signature)
    }
}

impl Encode for AgentIdentity {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.id);
        w.put(&self.name);
        w.put(&self.created_at_ms);
        w.put(&self.public_key);
    }
}

impl Decode for AgentIdentity {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let id = r.get()?;
        let name: String = r.get()?;
        let created_at_ms = r.get()?;
        let public_key: VerifyingKey = r.get()?;
        Self::new(id, name, created_at_ms, public_key).map_err(|err| DecodeError::Invalid {
            what: "agent identity",
            reason: match err {
                IdentityError::WeakKey => "weak public key",
                _ => "invalid agent name",
            },
        })
    }
}

/// An agent identity together with its signing key.
#[derive(Clone)]
pub struct AgentKeypair {
    identity: AgentIdentity,
    signing_key: SigningKey,
}

impl AgentKeypair {
    /// A fresh agent: random id and key drawn from `rng`.
    pub fn generate(
        name: impl Into<String>,
        created_at_ms: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, IdentityError> {
        let mut id = [0u8; AgentId::LEN];
        rng.fill_bytes(&mut id);
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(AgentId::new(id), name, created_at_ms, &seed)
    }

    /// The agent whose signing key has the RFC 8032 secret `seed`.
    pub fn from_seed(
        id: AgentId,
        name: impl Into<String>,
        created_at_ms: u64,
        seed: &[u8; 32],
    ) -> Result<Self, IdentityError> {
        let signing_key = SigningKey::from_seed(seed);
        let identity = AgentIdentity::new(id, name, created_at_ms, signing_key.verifying_key())?;
        Ok(Self {
            identity,
            signing_key,
        })
    }

    /// Pairs an identity with its signing key, refusing a key that does not match.
    pub fn from_parts(
        identity: AgentIdentity,
        signing_key: SigningKey,
    ) -> Result<Self, IdentityError> {
        if signing_key.verifying_key() != identity.public_key {
            return Err(IdentityError::KeyMismatch);
        }
        Ok(Self {
            identity,
            signing_key,
        })
    }

    /// The public identity.
    pub fn identity(&self) -> &AgentIdentity {
        &self.identity
    }

    /// The signing key. Handle with care.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    /// The identity's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.identity.fingerprint()
    }

    /// Signs `fields` under `domain` as this agent.
    pub fn sign_domain(&self, domain: &str, fields: &[&[u8]]) -> Signature {
        self.signing_key.sign_domain(domain, fields)
    }
}

impl fmt::Debug for AgentKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentKeypair")
            .field("identity", &self.identity)
            .field("signing_key", &"[REDACTED]")
            .finish()
    }
}

/// A 32-byte BLAKE3 fingerprint of an [`AgentIdentity`].
///
/// Equality is constant-time. Displayed as 16 space-separated groups of four
/// lowercase hex digits; parsed back with or without separators.
#[derive(Clone, Copy)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// A fingerprint from its bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The fingerprint's bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 8 bytes as four groups: enough to tell agents apart at a glance,
    /// not enough to authenticate one.
    pub fn short(&self) -> String {
        group_hex(&self.0[..8])
    }

    /// Constant-time comparison.
    pub fn ct_eq(&self, other: &Fingerprint) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }
}

fn group_hex(bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    let groups: Vec<&str> = hex
        .as_bytes()
        .chunks(4)
        .map(|g| std::str::from_utf8(g).unwrap_or_default())
        .collect();
    groups.join(" ")
}

impl PartialEq for Fingerprint {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

impl Eq for Fingerprint {}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&group_hex(&self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.short())
    }
}

impl FromStr for Fingerprint {
    type Err = FingerprintParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut digits = Vec::with_capacity(64);
        for c in s.chars() {
            match c {
                ' ' | ':' => {}
                c if c.is_ascii_hexdigit() => digits.push(c as u8),
                found => return Err(FingerprintParseError::NotHex { found }),
            }
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(&digits, &mut out).map_err(|_| FingerprintParseError::Length {
            found: digits.len(),
        })?;
        Ok(Self(out))
    }
}

impl Encode for Fingerprint {
    fn encode(&self, w: &mut Writer) {
        w.put_raw(&self.0);
    }
}

impl Decode for Fingerprint {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.take_array().map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn identity(id: u8, name: &str, created_at_ms: u64, seed: u8) -> AgentIdentity {
        AgentKeypair::from_seed(AgentId::new([id; 16]), name, created_at_ms, &[seed; 32])
            .unwrap()
            .identity()
            .clone()
    }

    #[test]
    fn fingerprint_binds_every_field() {
        let base = identity(1, "scout", 1_000, 9);
        let fp = base.fingerprint();
        assert_eq!(fp, identity(1, "scout", 1_000, 9).fingerprint());
        assert_ne!(fp, identity(2, "scout", 1_000, 9).fingerprint());
        assert_ne!(fp, identity(1, "scout2", 1_000, 9).fingerprint());
        assert_ne!(fp, identity(1, "scout", 1_001, 9).fingerprint());
        assert_ne!(fp, identity(1, "scout", 1_000, 8).fingerprint());
    }

    #[test]
    fn fingerprint_encoding_is_unambiguous() {
        // The name's length prefix keeps "ab" + "c…" apart from "a" + "bc…":
        // shift one byte between the name and the next field.
        let key = SigningKey::from_seed(&[3; 32]).verifying_key();
        let a = AgentIdentity::new(AgentId::new([0; 16]), "ab", u64::from(b'c'), key).unwrap();
        let b = AgentIdentity::new(AgentId::new([0; 16]), "a", u64::from(b'b'), key).unwrap();
        assert_ne!(a.encode_body(), b.encode_body());
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn fingerprint_display_parse_round_trip() {
        let fp = identity(1, "scout", 1_000, 9).fingerprint();
        let shown = fp.to_string();
        assert_eq!(shown.len(), 64 + 15);
        assert_eq!(shown.split(' ').count(), 16);
        assert!(shown.split(' ').all(|g| g.len() == 4));
        assert_eq!(shown.parse::<Fingerprint>().unwrap(), fp);
        assert_eq!(shown.replace(' ', ":").parse::<Fingerprint>().unwrap(), fp);
        assert_eq!(
            shown
                .replace(' ', "")
                .to_uppercase()
                .parse::<Fingerprint>()
                .unwrap(),
            fp
        );
        assert!(shown.starts_with(&fp.short()));
        assert_eq!(
            "abcd".parse::<Fingerprint>().map(|f| f.short()),
            Err(FingerprintParseError::Length { found: 4 })
        );
        assert_eq!(
            "zz".parse::<Fingerprint>().map(|f| f.short()),
            Err(FingerprintParseError::NotHex { found: 'z' })
        );
    }

    #[test]
    fn names_are_validated() {
        assert_eq!(validate_name("scout-7 (west)"), Ok(()));
        assert_eq!(validate_name("éclaireur"), Ok(()));
        assert_eq!(validate_name(""), Err(NameError::Empty));
        assert_eq!(
            validate_name(&"x".repeat(MAX_NAME_BYTES + 1)),
            Err(NameError::TooLong {
                len_bytes: MAX_NAME_BYTES + 1,
                max_bytes: MAX_NAME_BYTES
            })
        );
        assert_eq!(validate_name(&"x".repeat(MAX_NAME_BYTES)), Ok(()));
        assert_eq!(
            validate_name("evil\nname"),
            Err(NameError::ControlCharacter { position: 4 })
        );
        assert_eq!(
            validate_name("bell\u{7}"),
            Err(NameError::ControlCharacter { position: 4 })
        );
        assert_eq!(
            validate_name(" scout"),
            Err(NameError::SurroundingWhitespace)
        );
        let err = AgentKeypair::from_seed(AgentId::new([1; 16]), "a\tb", 0, &[1; 32]);
        assert!(matches!(
            err,
            Err(IdentityError::InvalidName(
                NameError::ControlCharacter { .. }
            ))
        ));
    }

    #[test]
    fn identity_codec_round_trips_and_validates() {
        let id = identity(4, "scribe", 77, 5);
        let bytes = id.to_bytes();
        assert_eq!(AgentIdentity::from_bytes(&bytes).unwrap(), id);
        // Forge a control character into the name: decoding refuses it.
        let mut forged = bytes.clone();
        let name_at = 1 + 16 + 4; // version, id, length prefix
        forged[name_at] = b'\n';
        assert!(matches!(
            AgentIdentity::from_bytes(&forged),
            Err(DecodeError::Invalid { .. })
        ));
        assert!(AgentIdentity::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn keypair_signs_and_refuses_mismatched_parts() {
        let kp = AgentKeypair::generate("worker", 5, &mut rand_core::OsRng).unwrap();
        let sig = kp.sign_domain("chrysalis/v1/test", &[b"hello"]);
        assert_eq!(
            kp.identity()
                .verify_domain("chrysalis/v1/test", &[b"hello"], &sig),
            Ok(())
        );
        let other = SigningKey::from_seed(&[8; 32]);
        assert!(matches!(
            AgentKeypair::from_parts(kp.identity().clone(), other),
            Err(IdentityError::KeyMismatch)
        ));
        let again = AgentKeypair::from_parts(kp.identity().clone(), kp.signing_key().clone());
        assert_eq!(again.unwrap().fingerprint(), kp.fingerprint());
        assert!(format!("{kp:?}").contains("[REDACTED]"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn distinct_identities_have_distinct_fingerprints(
            a in "[a-z]{1,6}", b in "[a-z]{1,6}", t1 in 0u64..4, t2 in 0u64..4,
        ) {
            let x = identity(1, &a, t1, 2);
            let y = identity(1, &b, t2, 2);
            prop_assert_eq!(x == y, x.fingerprint() == y.fingerprint());
            prop_assert_eq!(AgentIdentity::from_bytes(&x.to_bytes()).unwrap(), x);
        }
    }
}
