//! The sealed vault format: the vault's contents encrypted under a key
//! derived from a passphrase.
//!
//! | field | encoding |
//! |---|---|
//! | magic | 8 bytes, `CHRYSVLT` |
//! | format version | 1 byte, [`SEALED_VERSION`] |
//! | KDF and parameters | [`PasswordKdf`] canonical encoding (capped on read) |
//! | salt | `u32` length + bytes ([`SALT_LEN`] written; 16–64 read) |
//! | AEAD algorithm | 1 byte ([`AeadAlgorithm::id`]; XChaCha20-Poly1305 written) |
//! | nonce | the algorithm's nonce length |
//! | ciphertext length | `u32` |
//! | ciphertext | ciphertext ‖ tag of the contents' canonical encoding |
//!
//! Everything before the ciphertext is the AEAD's associated data, so no
//! header byte (parameters, salt, algorithm) can change unnoticed. The
//! length prefix lets a truncated file be told from a modified one.

use super::VaultError;
use crate::aead::{AeadAlgorithm, AeadKey};
use crate::kdf::{MIN_SALT_LEN, PasswordKdf};
use crate::secret::{SecretBytes, fill_random};
use chrysalis_types::codec::{DecodeError, Reader, Writer};
use std::fmt;

/// The first eight bytes of a sealed vault.
pub const SEALED_MAGIC: [u8; 8] = *b"CHRYSVLT";

/// The sealed format version this build writes and reads.
pub const SEALED_VERSION: u8 = 1;

/// The salt length written.
pub const SALT_LEN: usize = 32;

/// The longest salt read.
const MAX_SALT_LEN: usize = 64;

/// The algorithm vaults are sealed with: 192-bit random nonces, so one
/// derived key can seal any number of saves.
const SEAL_ALGORITHM: AeadAlgorithm = AeadAlgorithm::XChaCha20Poly1305;

/// A key derived from a passphrase, with the KDF parameters and salt it was
/// derived with. Keeping it lets a vault be saved again without the
/// passphrase and without rerunning the (deliberately slow) KDF.
pub struct VaultKey {
    kdf: PasswordKdf,
    salt: Vec<u8>,
    key: AeadKey,
}

impl VaultKey {
    /// Derives a key from `passphrase` with `kdf` and a fresh random salt.
    /// Refuses an empty passphrase and parameters over the caps.
    pub fn derive(passphrase: &[u8], kdf: PasswordKdf) -> Result<Self, VaultError> {
        let mut salt = vec![0u8; SALT_LEN];
        fill_random(&mut salt);
        Self::derive_with_salt(passphrase, kdf, salt)
    }

    fn derive_with_salt(
        passphrase: &[u8],
        kdf: PasswordKdf,
        salt: Vec<u8>,
    ) -> Result<Self, VaultError> {
        if passphrase.is_empty() {
            return Err(VaultError::EmptyPassphrase);
        }
        kdf.validate().map_err(VaultError::Kdf)?;
        let derived = kdf.derive_key(passphrase, &salt).map_err(VaultError::Kdf)?;
        let key = AeadKey::from_secret(SEAL_ALGORITHM, derived)
            .map_err(|_| VaultError::Malformed("derived key has the wrong length"))?;
        Ok(Self { kdf, salt, key })
    }

    /// The KDF and parameters this key was derived with.
    pub fn kdf(&self) -> PasswordKdf {
        self.kdf
    }
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultKey")
            .field("kdf", &self.kdf)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// Encrypts `contents` (a canonical encoding) under `key`.
pub(super) fn seal(contents: &[u8], key: &VaultKey) -> Result<Vec<u8>, VaultError> {
    let too_large = VaultError::Malformed("contents too large to seal");
    let ct_len = contents
        .len()
        .checked_add(SEAL_ALGORITHM.tag_len())
        .filter(|len| u32::try_from(*len).is_ok())
        .ok_or(too_large.clone())?;
    let nonce = key.key.random_nonce();
    let mut w = Writer::new();
    w.put_raw(&SEALED_MAGIC);
    w.put_u8(SEALED_VERSION);
    w.put(&key.kdf);
    w.put_bytes(&key.salt);
    w.put_u8(SEAL_ALGORITHM.id());
    w.put_raw(&nonce);
    w.put_len(ct_len);
    let mut out = w.into_bytes();
    let sealed = key
        .key
        .seal(&nonce, &out, contents)
        .map_err(|_| too_large)?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The structure of a sealed vault, parsed but not yet decrypted.
pub(super) struct Parsed<'a> {
    kdf: PasswordKdf,
    salt: &'a [u8],
    nonce: &'a [u8],
    header: &'a [u8],
    ciphertext: &'a [u8],
}

fn structural(err: DecodeError) -> VaultError {
    match err {
        DecodeError::Truncated { .. } => VaultError::Truncated,
        DecodeError::Invalid {
            what: "PasswordKdf",
            ..
        } => VaultError::KdfParamsRefused,
        DecodeError::InvalidTag {
            what: "PasswordKdf",
            ..
        } => VaultError::Malformed("unknown KDF"),
        DecodeError::Oversized { .. } => VaultError::Malformed("a length field is too large"),
        _ => VaultError::Malformed("header does not decode"),
    }
}

/// Parses the header, refusing bad magic, unknown versions, parameters over
/// the caps, and truncated or over-long input.
pub(super) fn parse(bytes: &[u8]) -> Result<Parsed<'_>, VaultError> {
    let mut r = Reader::new(bytes);
    let magic = r.take(SEALED_MAGIC.len()).map_err(|_| {
        if SEALED_MAGIC.starts_with(bytes) {
            VaultError::Truncated
        } else {
            VaultError::NotAVault
        }
    })?;
    if magic != SEALED_MAGIC {
        return Err(VaultError::NotAVault);
    }
    let version = r.u8().map_err(structural)?;
    if version != SEALED_VERSION {
        return Err(VaultError::UnsupportedVersion {
            found: version,
            supported: SEALED_VERSION,
        });
    }
    let kdf: PasswordKdf = r.get().map_err(structural)?;
    let salt = r.bytes().map_err(structural)?;
    if !(MIN_SALT_LEN..=MAX_SALT_LEN).contains(&salt.len()) {
        return Err(VaultError::Malformed("salt length out of range"));
    }
    let alg_id = r.u8().map_err(structural)?;
    if alg_id != SEAL_ALGORITHM.id() {
        return Err(VaultError::Malformed("unsupported sealing algorithm"));
    }
    let nonce = r.take(SEAL_ALGORITHM.nonce_len()).map_err(structural)?;
    let ct_len = r.len("sealed ciphertext").map_err(structural)?;
    let header_len = r.offset();
    if ct_len < SEAL_ALGORITHM.tag_len() {
        return Err(VaultError::Malformed("ciphertext shorter than its tag"));
    }
    let ciphertext = r.take(ct_len).map_err(structural)?;
    if r.remaining() != 0 {
        return Err(VaultError::Malformed("bytes after the ciphertext"));
    }
    Ok(Parsed {
        kdf,
        salt,
        nonce,
        header: &bytes[..header_len],
        ciphertext,
    })
}

impl Parsed<'_> {
    /// The KDF and parameters the vault was sealed with.
    pub(super) fn kdf(&self) -> PasswordKdf {
        self.kdf
    }

    /// Derives the key from `passphrase` and decrypts. A wrong passphrase
    /// and modified bytes are the same failure: the tag does not verify.
    pub(super) fn open(&self, passphrase: &[u8]) -> Result<(SecretBytes, VaultKey), VaultError> {
        let key = VaultKey::derive_with_salt(passphrase, self.kdf, self.salt.to_vec())?;
        let contents = key
            .key
            .open(self.nonce, self.header, self.ciphertext)
            .map_err(|_| VaultError::WrongPassphraseOrModified)?;
        Ok((contents, key))
    }
}

/// Reads the KDF parameters of a sealed vault without decrypting it.
pub fn sealed_kdf(bytes: &[u8]) -> Result<PasswordKdf, VaultError> {
    parse(bytes).map(|p| p.kdf())
}
