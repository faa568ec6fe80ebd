//! Versioned symmetric keys with rotation and self-describing ciphertexts,
//! in the manner of Tink keysets and Vault's transit engine.
//!
//! A [`Keyring`] holds AEAD keys, each with a random 32-bit [`KeyId`], a
//! version number (1, 2, 3, … in order of creation) and a [`KeyStatus`].
//! Exactly one key is the *primary*: it encrypts. Every other key that is
//! [`KeyStatus::Enabled`] still decrypts, so data written before a
//! [`Keyring::rotate`] stays readable until its key is destroyed.
//!
//! # Ciphertext format
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `CRYK` |
//! | 1 | format version ([`CIPHERTEXT_VERSION`]) |
//! | 1 | AEAD algorithm id ([`AeadAlgorithm::id`]) |
//! | 4 | key id, big-endian |
//! | 12 or 24 | nonce (random, length fixed by the algorithm) |
//! | rest | ciphertext, then the 16-byte tag |
//!
//! The AEAD's associated data is the whole header (magic through nonce)
//! followed by the caller's AAD, prefixed by its length (`u64`,
//! little-endian), so no header bit can be changed and no ciphertext can be
//! replayed under other AAD.
//!
//! # Statuses
//!
//! - *Enabled* keys decrypt; the primary also encrypts.
//! - *Disabled* keys neither encrypt nor decrypt (as in Tink). Disabling is
//!   the reversible rehearsal of destruction: if nothing breaks while a key
//!   is disabled, nothing still needs it. [`Keyring::enable`] undoes it.
//! - *Destroyed* keys have had their material zeroized; the id is kept so
//!   that decryption fails with [`KeyringError::KeyDestroyed`] rather than
//!   "unknown key". Destruction is final.
//!
//! The primary can be neither disabled nor destroyed: promote another key
//! first.
//!
//! # Nonce limit
//!
//! AES-GCM with random 96-bit nonces must not be used for more than 2^32
//! encryptions under one key (NIST SP 800-38D, §8.3). The keyring counts
//! encryptions per key and, when the primary has done
//! [`RotationPolicy::max_encryptions_per_key`] of them, rotates to a fresh
//! key *before* the next encryption. The default, 2^30, leaves a 4× margin
//! for encryptions counted in a copy of the keyring that was never saved.
//! The same policy applies to XChaCha20-Poly1305, whose 192-bit nonces need
//! it far less, to keep one rule.
//!
//! # Serialization
//!
//! A keyring encodes with the canonical codec, **key material included**.
//! That encoding is a secret: it is only ever written inside the sealed
//! vault ([`crate::vault`]). [`Keyring::keys`] lists what is safe to show.

use crate::aead::{AeadAlgorithm, AeadError, AeadKey};
use crate::secret::{SecretBytes, fill_random};
use chrysalis_types::KeyId;
use chrysalis_types::codec::{Decode, DecodeError, Encode, Reader, Writer};
use std::collections::BTreeMap;
use std::fmt;

/// The first four bytes of every keyring ciphertext.
pub const CIPHERTEXT_MAGIC: [u8; 4] = *b"CRYK";

/// The ciphertext format version this build writes and reads.
pub const CIPHERTEXT_VERSION: u8 = 1;

/// Header bytes before the nonce: magic, version, algorithm, key id.
const FIXED_HEADER_LEN: usize = 4 + 1 + 1 + 4;

/// NIST SP 800-38D's bound on AES-GCM encryptions with random 96-bit nonces
/// under one key.
pub const AES_GCM_RANDOM_NONCE_LIMIT: u64 = 1 << 32;

/// Encryptions per key before automatic rotation, by default: a quarter of
/// [`AES_GCM_RANDOM_NONCE_LIMIT`].
pub const DEFAULT_MAX_ENCRYPTIONS_PER_KEY: u64 = 1 << 30;

/// Why a keyring operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// The ciphertext is shorter than its header and tag.
    #[error("ciphertext truncated: {len} bytes, at least {needed} needed")]
    Truncated {
        /// Bytes given.
        len: usize,
        /// Bytes the header and tag alone need.
        needed: usize,
    },
    /// The ciphertext does not start with [`CIPHERTEXT_MAGIC`].
    #[error("not a keyring ciphertext (bad magic bytes)")]
    BadMagic,
    /// The ciphertext was written in a format this build does not read.
    #[error("unsupported ciphertext format version {found} (this build reads {supported})")]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
        /// The version this build reads.
        supported: u8,
    },
    /// The algorithm id is not one this build knows.
    #[error("unknown AEAD algorithm id {id}")]
    UnknownAlgorithm {
        /// The id found.
        id: u8,
    },
    /// The header names a different algorithm from the key it names.
    #[error("ciphertext algorithm does not match key {key_id}")]
    AlgorithmMismatch {
        /// The key.
        key_id: KeyId,
    },
    /// No key in the ring has this id.
    #[error("no key {0} in the keyring")]
    UnknownKey(KeyId),
    /// The key is disabled: it neither encrypts nor decrypts.
    #[error("key {0} is disabled")]
    KeyDisabled(KeyId),
    /// The key was destroyed: what it encrypted can never be read again.
    #[error("key {0} was destroyed")]
    KeyDestroyed(KeyId),
    /// The primary key cannot be disabled or destroyed; promote another first.
    #[error("key {0} is the primary; promote another key first")]
    PrimaryKey(KeyId),
    /// The ciphertext does not authenticate: wrong AAD, or modified bytes.
    #[error("decryption failed: the ciphertext or its associated data was modified")]
    Decrypt,
    /// The rotation threshold is outside `1..=2^32`.
    #[error("max_encryptions_per_key must be in 1..=2^32, got {0}")]
    InvalidPolicy(u64),
    /// The underlying AEAD refused (e.g. a plaintext over its size limit).
    #[error(transparent)]
    Aead(AeadError),
}

/// The lifecycle state of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyStatus {
    /// Decrypts; encrypts too if it is the primary.
    Enabled,
    /// Neither encrypts nor decrypts, reversibly.
    Disabled,
    /// Material zeroized; final.
    Destroyed,
}

impl KeyStatus {
    fn tag(self) -> u8 {
        match self {
            Self::Enabled => 1,
            Self::Disabled => 2,
            Self::Destroyed => 3,
        }
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::Destroyed => "destroyed",
        })
    }
}

/// When the keyring rotates on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Encryptions a key may perform before the keyring rotates to a new
    /// primary. In `1..=`[`AES_GCM_RANDOM_NONCE_LIMIT`].
    pub max_encryptions_per_key: u64,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        Self {
            max_encryptions_per_key: DEFAULT_MAX_ENCRYPTIONS_PER_KEY,
        }
    }
}

impl RotationPolicy {
    fn validate(self) -> Result<Self, KeyringError> {
        match self.max_encryptions_per_key {
            1..=AES_GCM_RANDOM_NONCE_LIMIT => Ok(self),
            bad => Err(KeyringError::InvalidPolicy(bad)),
        }
    }
}

/// What may be shown about a key: everything but its material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's id, as written in ciphertext headers.
    pub id: KeyId,
    /// 1 for the first key, then one more for each key added.
    pub version: u32,
    /// Lifecycle state.
    pub status: KeyStatus,
    /// Whether this key encrypts.
    pub is_primary: bool,
    /// The key's algorithm.
    pub algorithm: AeadAlgorithm,
    /// Encryptions performed with this key so far.
    pub encryptions: u64,
}

struct KeyEntry {
    version: u32,
    status: KeyStatus,
    algorithm: AeadAlgorithm,
    encryptions: u64,
    /// `None` once destroyed (the key is zeroized when dropped).
    material: Option<AeadKey>,
}

/// A set of versioned AEAD keys with one primary. See the module docs.
pub struct Keyring {
    algorithm: AeadAlgorithm,
    policy: RotationPolicy,
    primary: KeyId,
    next_version: u32,
    keys: BTreeMap<KeyId, KeyEntry>,
}

/// A parsed ciphertext header.
struct Header<'a> {
    algorithm: AeadAlgorithm,
    key_id: KeyId,
    nonce: &'a [u8],
    len: usize,
}

impl Keyring {
    /// A keyring with one fresh primary key of `algorithm` and the default policy.
    pub fn new(algorithm: AeadAlgorithm) -> Self {
        let mut ring = Self {
            algorithm,
            policy: RotationPolicy::default(),
            primary: KeyId::new(0),
            next_version: 1,
            keys: BTreeMap::new(),
        };
        ring.primary = ring.add_key();
        ring
    }

    /// A keyring with one fresh primary key and the given rotation policy.
    pub fn with_policy(
        algorithm: AeadAlgorithm,
        policy: RotationPolicy,
    ) -> Result<Self, KeyringError> {
        let mut ring = Self::new(algorithm);
        ring.policy = policy.validate()?;
        Ok(ring)
    }

    /// The algorithm new keys are made for.
    pub fn algorithm(&self) -> AeadAlgorithm {
        self.algorithm
    }

    /// The rotation policy in force.
    pub fn policy(&self) -> RotationPolicy {
        self.policy
    }

    /// Changes the rotation policy. Takes effect at the next encryption.
    pub fn set_policy(&mut self, policy: RotationPolicy) -> Result<(), KeyringError> {
        self.policy = policy.validate()?;
        Ok(())
    }

    /// The id of the key that encrypts.
    pub fn primary_id(&self) -> KeyId {
        self.primary
    }

    /// Every key, oldest first, without material.
    pub fn keys(&self) -> Vec<KeyInfo> {
        let mut out: Vec<KeyInfo> = self
            .keys
            .keys()
            .filter_map(|id| self.key_info(*id))
            .collect();
        out.sort_by_key(|info| info.version);
        out
    }

    /// One key's public facts, if the ring holds it.
    pub fn key_info(&self, id: KeyId) -> Option<KeyInfo> {
        self.keys.get(&id).map(|entry| KeyInfo {
            id,
            version: entry.version,
            status: entry.status,
            is_primary: id == self.primary,
            algorithm: entry.algorithm,
            encryptions: entry.encryptions,
        })
    }

    /// Adds a fresh key and makes it the primary. Returns its id.
    pub fn rotate(&mut self) -> KeyId {
        self.primary = self.add_key();
        self.primary
    }

    /// Makes an enabled key the primary.
    pub fn promote(&mut self, id: KeyId) -> Result<(), KeyringError> {
        self.usable(id)?;
        self.primary = id;
        Ok(())
    }

    /// Disables a key (reversible). The primary cannot be disabled.
    pub fn disable(&mut self, id: KeyId) -> Result<(), KeyringError> {
        let primary = self.primary;
        let entry = self.entry_mut(id)?;
        match entry.status {
            KeyStatus::Destroyed => Err(KeyringError::KeyDestroyed(id)),
            _ if id == primary => Err(KeyringError::PrimaryKey(id)),
            _ => {
                entry.status = KeyStatus::Disabled;
                Ok(())
            }
        }
    }

    /// Re-enables a disabled key. Destroyed keys stay destroyed.
    pub fn enable(&mut self, id: KeyId) -> Result<(), KeyringError> {
        let entry = self.entry_mut(id)?;
        match entry.status {
            KeyStatus::Destroyed => Err(KeyringError::KeyDestroyed(id)),
            _ => {
                entry.status = KeyStatus::Enabled;
                Ok(())
            }
        }
    }

    /// Zeroizes a key's material, forever. The primary cannot be destroyed.
    /// Destroying an already destroyed key is a no-op.
    pub fn destroy(&mut self, id: KeyId) -> Result<(), KeyringError> {
        if id == self.primary {
            return Err(KeyringError::PrimaryKey(id));
        }
        let entry = self.entry_mut(id)?;
        entry.status = KeyStatus::Destroyed;
        // Dropping the key zeroizes it.
        entry.material = None;
        Ok(())
    }

    /// Encrypts `plaintext` under the primary key, bound to `aad`, rotating
    /// first if the primary has reached the policy's encryption limit.
    pub fn encrypt(&mut self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyringError> {
        let needs_rotation = self
            .keys
            .get(&self.primary)
            .is_none_or(|e| e.encryptions >= self.policy.max_encryptions_per_key);
        if needs_rotation {
            self.rotate();
        }
        let id = self.primary;
        let entry = self.entry_mut(id)?;
        let key = entry
            .material
            .as_ref()
            .ok_or(KeyringError::KeyDestroyed(id))?;
        let nonce = key.random_nonce();
        let mut out = encode_header(entry.algorithm, id, &nonce);
        let sealed = key
            .seal(&nonce, &full_aad(&out, aad), plaintext)
            .map_err(KeyringError::Aead)?;
        entry.encryptions += 1;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts a ciphertext made by this keyring (by any enabled key).
    pub fn decrypt(&self, ciphertext: &[u8], aad: &[u8]) -> Result<SecretBytes, KeyringError> {
        let (key, header) = self.opening_key(ciphertext)?;
        let aad = full_aad(&ciphertext[..header.len], aad);
        key.open(header.nonce, &aad, &ciphertext[header.len..])
            .map_err(|_| KeyringError::Decrypt)
    }

    /// Like [`Keyring::decrypt`], but returns the plaintext in an ordinary
    /// `Vec`: no page locking, so an order of magnitude cheaper for bulk
    /// data (episodes, ledger payloads) whose plaintext is not a credential.
    /// The caller owns wiping it, if it matters.
    pub fn decrypt_to_vec(&self, ciphertext: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyringError> {
        let (key, header) = self.opening_key(ciphertext)?;
        let aad = full_aad(&ciphertext[..header.len], aad);
        let mut buf = ciphertext[header.len..].to_vec();
        key.open_in_place(header.nonce, &aad, &mut buf)
            .map_err(|_| KeyringError::Decrypt)?;
        Ok(buf)
    }

    /// The enabled key that made `ciphertext`, and its parsed header.
    fn opening_key<'c>(
        &self,
        ciphertext: &'c [u8],
    ) -> Result<(&AeadKey, Header<'c>), KeyringError> {
        let header = parse_header(ciphertext)?;
        let key = self.usable(header.key_id)?;
        if key.algorithm() != header.algorithm {
            return Err(KeyringError::AlgorithmMismatch {
                key_id: header.key_id,
            });
        }
        Ok((key, header))
    }

    /// Decrypts with whichever key made `ciphertext` and encrypts again under
    /// the primary, keeping `aad`. Run it over stored data before destroying
    /// old keys.
    pub fn rewrap(&mut self, ciphertext: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyringError> {
        let plaintext = self.decrypt(ciphertext, aad)?;
        self.encrypt(plaintext.expose_secret(), aad)
    }

    /// The id of the key that made `ciphertext`, read from its header.
    pub fn key_id_of(ciphertext: &[u8]) -> Result<KeyId, KeyringError> {
        parse_header(ciphertext).map(|h| h.key_id)
    }

    fn entry_mut(&mut self, id: KeyId) -> Result<&mut KeyEntry, KeyringError> {
        self.keys.get_mut(&id).ok_or(KeyringError::UnknownKey(id))
    }

    /// The material of an enabled key.
    fn usable(&self, id: KeyId) -> Result<&AeadKey, KeyringError> {
        let entry = self.keys.get(&id).ok_or(KeyringError::UnknownKey(id))?;
        match (entry.status, &entry.material) {
            (KeyStatus::Enabled, Some(key)) => Ok(key),
            (KeyStatus::Disabled, _) => Err(KeyringError::KeyDisabled(id)),
            _ => Err(KeyringError::KeyDestroyed(id)),
        }
    }

    /// Adds a fresh enabled key under an unused random id.
    fn add_key(&mut self) -> KeyId {
        let id = loop {
            let mut bytes = [0u8; 4];
            fill_random(&mut bytes);
            let id = KeyId::new(u32::from_be_bytes(bytes));
            if !self.keys.contains_key(&id) {
                break id;
            }
        };
        let entry = KeyEntry {
            version: self.next_version,
            status: KeyStatus::Enabled,
            algorithm: self.algorithm,
            encryptions: 0,
            material: Some(AeadKey::generate(self.algorithm)),
        };
        self.next_version = self.next_version.saturating_add(1);
        self.keys.insert(id, entry);
        id
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("primary", &self.primary)
            .field("policy", &self.policy)
            .field("keys", &self.keys())
            .finish()
    }
}

fn encode_header(algorithm: AeadAlgorithm, key_id: KeyId, nonce: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FIXED_HEADER_LEN + nonce.len() + 64);
    out.extend_from_slice(&CIPHERTEXT_MAGIC);
    out.push(CIPHERTEXT_VERSION);
    out.push(algorithm.id());
    out.extend_from_slice(&key_id.get().to_be_bytes());
    out.extend_from_slice(nonce);
    out
}

/// The AEAD associated data: the header, then the caller's AAD prefixed by
/// its length as a little-endian `u64` (so no length can overflow the prefix).
fn full_aad(header: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + 8 + aad.len());
    out.extend_from_slice(header);
    out.extend_from_slice(&(aad.len() as u64).to_le_bytes());
    out.extend_from_slice(aad);
    out
}

fn parse_header(ct: &[u8]) -> Result<Header<'_>, KeyringError> {
    let truncated = |needed| KeyringError::Truncated {
        len: ct.len(),
        needed,
    };
    if ct.len() < FIXED_HEADER_LEN {
        return Err(truncated(FIXED_HEADER_LEN));
    }
    if ct[..4] != CIPHERTEXT_MAGIC {
        return Err(KeyringError::BadMagic);
    }
    if ct[4] != CIPHERTEXT_VERSION {
        return Err(KeyringError::UnsupportedVersion {
            found: ct[4],
            supported: CIPHERTEXT_VERSION,
        });
    }
    let algorithm =
        AeadAlgorithm::from_id(ct[5]).map_err(|_| KeyringError::UnknownAlgorithm { id: ct[5] })?;
    let key_id = KeyId::new(u32::from_be_bytes([ct[6], ct[7], ct[8], ct[9]]));
    let len = FIXED_HEADER_LEN + algorithm.nonce_len();
    let needed = len + algorithm.tag_len();
    if ct.len() < needed {
        return Err(truncated(needed));
    }
    Ok(Header {
        algorithm,
        key_id,
        nonce: &ct[FIXED_HEADER_LEN..len],
        len,
    })
}

impl Encode for KeyStatus {
    fn encode(&self, w: &mut Writer) {
        w.put_u8(self.tag());
    }
}

impl Decode for KeyStatus {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            1 => Ok(Self::Enabled),
            2 => Ok(Self::Disabled),
            3 => Ok(Self::Destroyed),
            tag => Err(r.invalid_tag("key status", tag)),
        }
    }
}

fn decode_algorithm(r: &mut Reader<'_>) -> Result<AeadAlgorithm, DecodeError> {
    let id = r.u8()?;
    AeadAlgorithm::from_id(id).map_err(|_| r.invalid_tag("AEAD algorithm", id))
}

impl Encode for KeyEntry {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.version);
        w.put(&self.status);
        w.put_u8(self.algorithm.id());
        w.put(&self.encryptions);
        match &self.material {
            Some(key) => w.put_bytes(key.expose_secret()),
            None => w.put_bytes(&[]),
        }
    }
}

impl Decode for KeyEntry {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.get()?;
        let status: KeyStatus = r.get()?;
        let algorithm = decode_algorithm(r)?;
        let encryptions = r.get()?;
        let bytes = r.bytes()?;
        let invalid = |reason| DecodeError::Invalid {
            what: "keyring key",
            reason,
        };
        let material = match (status, bytes.is_empty()) {
            (KeyStatus::Destroyed, true) => None,
            (KeyStatus::Destroyed, false) => return Err(invalid("destroyed key has material")),
            (_, true) => return Err(invalid("live key has no material")),
            (_, false) => Some(
                AeadKey::from_bytes(algorithm, bytes)
                    .map_err(|_| invalid("wrong key length for the algorithm"))?,
            ),
        };
        Ok(Self {
            version,
            status,
            algorithm,
            encryptions,
            material,
        })
    }
}

/// The encoding holds secret key material: only write it inside a sealed vault.
impl Encode for Keyring {
    fn encode(&self, w: &mut Writer) {
        w.put_u8(self.algorithm.id());
        w.put(&self.policy.max_encryptions_per_key);
        w.put(&self.primary);
        w.put(&self.next_version);
        w.put(&self.keys);
    }
}

impl Decode for Keyring {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let algorithm = decode_algorithm(r)?;
        let policy = RotationPolicy {
            max_encryptions_per_key: r.get()?,
        };
        let invalid = |reason| DecodeError::Invalid {
            what: "keyring",
            reason,
        };
        let policy = policy
            .validate()
            .map_err(|_| invalid("rotation threshold out of range"))?;
        let primary = r.get()?;
        let next_version = r.get()?;
        let keys: BTreeMap<KeyId, KeyEntry> = r.get()?;
        let ring = Self {
            algorithm,
            policy,
            primary,
            next_version,
            keys,
        };
        ring.usable(primary)
            .map_err(|_| invalid("primary key missing or not enabled"))?;
        if ring.keys.values().any(|e| e.version >= ring.next_version) {
            return Err(invalid("key version not below the next version"));
        }
        Ok(ring)
    }
}

#[cfg(test)]
mod tests;
