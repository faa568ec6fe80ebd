//! Cryptographic hashing: SHA-2, SHA-3 and BLAKE3, one-shot and streaming.
//!
//! Each algorithm runs on the fastest sound backend measured on our
//! machines (`benches/crypto.rs`, 2-core AMD EPYC with SHA-NI):
//!
//! - SHA-256: RustCrypto `sha2` (SHA-NI intrinsics): level with aws-lc and
//!   about 6% faster than ring at 1 KiB (lower per-call overhead), level
//!   with both at 1 MiB.
//! - SHA-384 and SHA-512: aws-lc (`aws-lc-rs`): level with ring, about 8%
//!   faster than `sha2`.
//! - SHA3-256 and SHA3-512: RustCrypto `sha3` (neither ring nor aws-lc-rs
//!   offers SHA-3).
//! - BLAKE3: the `blake3` crate (SIMD, runtime-detected).
//!
//! [`sha256`] and [`blake3()`] are the convenience functions the rest of
//! Chrysalis uses for content addressing; [`HashAlgorithm`] and [`Digest`]
//! are for data that says which hash it uses (and encode canonically, so a
//! stored digest names its algorithm).

use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};
use sha2::Digest as _;
use std::fmt;
use std::str::FromStr;

/// The largest digest any supported algorithm produces, in bytes.
pub const MAX_OUTPUT_LEN: usize = 64;

/// A supported hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgorithm {
    /// SHA-256 (FIPS 180-4).
    Sha256,
    /// SHA-384 (FIPS 180-4).
    Sha384,
    /// SHA-512 (FIPS 180-4).
    Sha512,
    /// SHA3-256 (FIPS 202).
    Sha3_256,
    /// SHA3-512 (FIPS 202).
    Sha3_512,
    /// BLAKE3 with its default 32-byte output.
    Blake3,
}

/// Why a hash algorithm name or id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The name is not one we know.
    #[error(
        "unknown hash algorithm {0:?}; accepted: sha256, sha384, sha512, sha3-256, sha3-512, blake3 \
         (case-insensitive; '-' and '_' optional, e.g. SHA-256, sha3_512)"
    )]
    UnknownName(String),
    /// The numeric id is not one we know.
    #[error("unknown hash algorithm id {0}")]
    UnknownId(u8),
}

impl HashAlgorithm {
    /// Every supported algorithm, in id order.
    pub fn all() -> [HashAlgorithm; 6] {
        use HashAlgorithm::*;
        [Sha256, Sha384, Sha512, Sha3_256, Sha3_512, Blake3]
    }

    /// The digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 | Self::Sha3_256 | Self::Blake3 => 32,
            Self::Sha384 => 48,
            Self::Sha512 | Self::Sha3_512 => 64,
        }
    }

    /// The canonical name (what `Display` prints and `FromStr` accepts).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
            Self::Sha3_256 => "sha3-256",
            Self::Sha3_512 => "sha3-512",
            Self::Blake3 => "blake3",
        }
    }

    /// The stable numeric id used in encodings (1-based).
    pub const fn id(self) -> u8 {
        match self {
            Self::Sha256 => 1,
            Self::Sha384 => 2,
            Self::Sha512 => 3,
            Self::Sha3_256 => 4,
            Self::Sha3_512 => 5,
            Self::Blake3 => 6,
        }
    }

    /// The algorithm with numeric id `id`.
    pub fn from_id(id: u8) -> Result<Self, HashError> {
        Self::all()
            .into_iter()
            .find(|alg| alg.id() == id)
            .ok_or(HashError::UnknownId(id))
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Digest {
        match self {
            Self::Sha256 => Digest::new(self, &sha256(data)),
            Self::Sha384 => Digest::new(self, aws_sha::digest(&aws_sha::SHA384, data).as_ref()),
            Self::Sha512 => Digest::new(self, aws_sha::digest(&aws_sha::SHA512, data).as_ref()),
            Self::Sha3_256 => Digest::new(self, &sha3::Sha3_256::digest(data)),
            Self::Sha3_512 => Digest::new(self, &sha3::Sha3_512::digest(data)),
            Self::Blake3 => Digest::new(self, blake3::hash(data).as_bytes()),
        }
    }

    /// A streaming hasher.
    pub fn hasher(self) -> Hasher {
        let state = match self {
            Self::Sha256 => State::Sha256(sha2::Sha256::new()),
            Self::Sha384 => State::AwsLc(aws_sha::Context::new(&aws_sha::SHA384)),
            Self::Sha512 => State::AwsLc(aws_sha::Context::new(&aws_sha::SHA512)),
            Self::Sha3_256 => State::Sha3_256(sha3::Sha3_256::new()),
            Self::Sha3_512 => State::Sha3_512(sha3::Sha3_512::new()),
            Self::Blake3 => State::Blake3(Box::new(blake3::Hasher::new())),
        };
        Hasher {
            algorithm: self,
            state,
        }
    }
}

/// aws-lc's digests, under a name that does not shadow ours.
use aws_lc_rs::digest as aws_sha;

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashAlgorithm {
    type Err = HashError;

    /// Accepts the canonical names and common spellings, ignoring case,
    /// `-` and `_`: `sha256`, `SHA-256`, `sha2-256`, `sha3_512`, `BLAKE3`, ….
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let folded: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match folded.as_str() {
            "sha256" | "sha2256" => Ok(Self::Sha256),
            "sha384" | "sha2384" => Ok(Self::Sha384),
            "sha512" | "sha2512" => Ok(Self::Sha512),
            "sha3256" => Ok(Self::Sha3_256),
            "sha3512" => Ok(Self::Sha3_512),
            "blake3" => Ok(Self::Blake3),
            _ => Err(HashError::UnknownName(s.to_owned())),
        }
    }
}

impl Encode for HashAlgorithm {
    fn encode(&self, w: &mut Writer) {
        w.put_u8(self.id());
    }
}

impl Decode for HashAlgorithm {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let id = r.u8()?;
        Self::from_id(id).map_err(|_| r.invalid_tag("HashAlgorithm", id))
    }
}

/// The backend state of a [`Hasher`].
enum State {
    Sha256(sha2::Sha256),
    AwsLc(aws_sha::Context),
    Sha3_256(sha3::Sha3_256),
    Sha3_512(sha3::Sha3_512),
    Blake3(Box<blake3::Hasher>),
}

/// A streaming hash: feed it with [`Hasher::update`], then
/// [`Hasher::finalize`]. Equal to [`HashAlgorithm::digest`] of the
/// concatenated input, however the input is split.
pub struct Hasher {
    algorithm: HashAlgorithm,
    state: State,
}

impl Hasher {
    /// Appends `data` to the input.
    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        match &mut self.state {
            State::Sha256(h) => h.update(data),
            State::AwsLc(ctx) => ctx.update(data),
            State::Sha3_256(h) => h.update(data),
            State::Sha3_512(h) => h.update(data),
            State::Blake3(h) => {
                h.update(data);
            }
        }
        self
    }

    /// The digest of everything fed so far.
    pub fn finalize(self) -> Digest {
        let alg = self.algorithm;
        match self.state {
            State::Sha256(h) => Digest::new(alg, &h.finalize()),
            State::AwsLc(ctx) => Digest::new(alg, ctx.finish().as_ref()),
            State::Sha3_256(h) => Digest::new(alg, &h.finalize()),
            State::Sha3_512(h) => Digest::new(alg, &h.finalize()),
            State::Blake3(h) => Digest::new(alg, h.finalize().as_bytes()),
        }
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hasher({})", self.algorithm)
    }
}

/// A digest, tagged with the algorithm that made it.
#[derive(Clone, Copy)]
pub struct Digest {
    algorithm: HashAlgorithm,
    bytes: [u8; MAX_OUTPUT_LEN],
}

impl Digest {
    /// Wraps a backend's output; `bytes` has `algorithm.output_len()` bytes.
    fn new(algorithm: HashAlgorithm, bytes: &[u8]) -> Self {
        let mut out = [0u8; MAX_OUTPUT_LEN];
        out[..bytes.len()].copy_from_slice(bytes);
        Self {
            algorithm,
            bytes: out,
        }
    }

    /// A digest from its algorithm and bytes, checking the length.
    pub fn from_parts(algorithm: HashAlgorithm, bytes: &[u8]) -> Option<Self> {
        (bytes.len() == algorithm.output_len()).then(|| Self::new(algorithm, bytes))
    }

    /// The algorithm that made this digest.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The digest bytes (`algorithm().output_len()` of them).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.algorithm.output_len()]
    }

    /// Lower-case hexadecimal.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }
}

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        self.algorithm == other.algorithm && self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Digest {}

impl std::hash::Hash for Digest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.algorithm.hash(state);
        self.as_bytes().hash(state);
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({}:{})", self.algorithm, self.to_hex())
    }
}

/// Encoded as the algorithm id, then the digest bytes (no length prefix:
/// the algorithm fixes the length).
impl Encode for Digest {
    fn encode(&self, w: &mut Writer) {
        self.algorithm.encode(w);
        w.put_raw(self.as_bytes());
    }
}

impl Decode for Digest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let algorithm = HashAlgorithm::decode(r)?;
        let bytes = r.take(algorithm.output_len())?;
        Ok(Self::new(algorithm, bytes))
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// BLAKE3 of `data` (32-byte output).
pub fn blake3(data: &[u8]) -> [u8; 32] {
    *::blake3::hash(data).as_bytes()
}

/// BLAKE3 in keyed mode: a MAC or PRF under a 32-byte key.
pub fn blake3_keyed(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    *::blake3::keyed_hash(key, data).as_bytes()
}

/// BLAKE3 in key-derivation mode: a 32-byte key for `context` (a
/// hard-coded, globally unique string such as
/// `"chrysalis 2026-01 vault subkey"`) from `key_material`.
pub fn blake3_derive_key(context: &str, key_material: &[u8]) -> [u8; 32] {
    ::blake3::derive_key(context, key_material)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            HashAlgorithm::Sha3_256.digest(b"abc").to_hex(),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
        );
        assert_eq!(
            HashAlgorithm::Sha384.digest(b"abc").to_hex(),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7"
        );
        assert_eq!(
            hex::encode(blake3(b"")),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn sha256_agrees_with_ring() {
        for len in [0, 1, 55, 56, 64, 8191, 100_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut h = HashAlgorithm::Sha256.hasher();
            h.update(&data);
            assert_eq!(h.finalize().as_bytes(), &sha256(&data)[..], "len {len}");
            assert_eq!(
                ring::digest::digest(&ring::digest::SHA256, &data).as_ref(),
                &sha256(&data)[..]
            );
        }
    }

    #[test]
    fn every_algorithm_has_its_length_and_streams() {
        for alg in HashAlgorithm::all() {
            let one_shot = alg.digest(b"hello world");
            assert_eq!(one_shot.as_bytes().len(), alg.output_len());
            let mut h = alg.hasher();
            h.update(b"hello").update(b" ").update(b"world");
            assert_eq!(h.finalize(), one_shot);
            assert_eq!(HashAlgorithm::from_id(alg.id()), Ok(alg));
        }
    }

    #[test]
    fn names_parse_in_common_spellings() {
        for (name, alg) in [
            ("sha256", HashAlgorithm::Sha256),
            ("SHA-256", HashAlgorithm::Sha256),
            ("sha2-384", HashAlgorithm::Sha384),
            ("SHA512", HashAlgorithm::Sha512),
            ("sha3-256", HashAlgorithm::Sha3_256),
            ("sha3_512", HashAlgorithm::Sha3_512),
            ("BLAKE3", HashAlgorithm::Blake3),
        ] {
            assert_eq!(name.parse::<HashAlgorithm>(), Ok(alg), "{name}");
        }
        let err = "md5".parse::<HashAlgorithm>().unwrap_err();
        assert!(err.to_string().contains("sha3-256"));
    }

    #[test]
    fn digests_encode_with_their_algorithm() {
        let d = HashAlgorithm::Sha384.digest(b"x");
        let bytes = d.to_bytes();
        assert_eq!(bytes.len(), 1 + 1 + 48);
        assert_eq!(Digest::from_bytes(&bytes), Ok(d));
        let mut bad = bytes.clone();
        bad[1] = 99;
        assert!(matches!(
            Digest::from_bytes(&bad),
            Err(DecodeError::InvalidTag { .. })
        ));
        assert!(Digest::from_bytes(&bytes[..20]).is_err());
    }
}
