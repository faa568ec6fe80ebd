//! The passphrase-sealed vault on disk.
//!
//! A [`VaultFile`] is a path plus the key derived from the vault's
//! passphrase. [`VaultFile::open`] reads and decrypts the file (running the
//! slow KDF once); [`VaultFile::save`] seals the current
//! [`SecurityContext`] with that key and a fresh nonce and replaces the file
//! atomically ([`crate::atomic`]), so no passphrase is needed again and a
//! crash at any moment leaves either the old vault or the new one.
//!
//! Nothing on disk is touched when opening fails (wrong passphrase,
//! modified or truncated file), and [`VaultFile::create`] never overwrites
//! an existing file.

use crate::atomic::{self, AtomicWriteError, StagedWrite};
use chrysalis_crypto::kdf::PasswordKdf;
use chrysalis_crypto::vault::{SecurityContext, VaultError, VaultKey};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The largest vault file read, in bytes: a vault holds keys, not data.
pub const MAX_VAULT_FILE_BYTES: u64 = 16 << 20;

/// Why a vault file could not be created, opened or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultFileError {
    /// There is no vault at this path.
    #[error("no vault at {}", path.display())]
    NotFound {
        /// The path looked at.
        path: PathBuf,
    },
    /// A file already exists where a new vault was to be created.
    #[error("{} already exists; refusing to overwrite it", path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// The file is larger than [`MAX_VAULT_FILE_BYTES`]: not a vault.
    #[error("{} is larger than {max_bytes} bytes: too large to be a vault", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max_bytes: u64,
    },
    /// The file could not be read.
    #[error("could not read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The vault could not be written; the file on disk is unchanged.
    #[error(transparent)]
    Write(AtomicWriteError),
    /// The vault could not be sealed or unsealed: wrong passphrase, modified
    /// or truncated file, bad parameters.
    #[error("{}: {source}", path.display())]
    Vault {
        /// The vault file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: VaultError,
    },
}

/// A vault file and the key that opens it.
#[derive(Debug)]
pub struct VaultFile {
    path: PathBuf,
    key: VaultKey,
}

impl VaultFile {
    /// Creates a new, empty vault at `path`, sealed under `passphrase` with
    /// `kdf`. Refuses if anything exists at `path`.
    pub fn create(
        path: impl AsRef<Path>,
        passphrase: &[u8],
        kdf: PasswordKdf,
    ) -> Result<(Self, SecurityContext), VaultFileError> {
        let ctx = SecurityContext::new();
        let file = Self::create_with(path, &ctx, passphrase, kdf)?;
        Ok((file, ctx))
    }

    /// Creates a new vault at `path` holding `ctx` (e.g. an import).
    /// Refuses if anything exists at `path`.
    pub fn create_with(
        path: impl AsRef<Path>,
        ctx: &SecurityContext,
        passphrase: &[u8],
        kdf: PasswordKdf,
    ) -> Result<Self, VaultFileError> {
        let path = path.as_ref().to_path_buf();
        if fs::symlink_metadata(&path).is_ok() {
            return Err(VaultFileError::AlreadyExists { path });
        }
        let vault_err = |source| VaultFileError::Vault {
            path: path.clone(),
            source,
        };
        let key = VaultKey::derive(passphrase, kdf).map_err(vault_err)?;
        let sealed = ctx.seal_with_key(&key).map_err(vault_err)?;
        match atomic::create_atomic(&path, &sealed) {
            Ok(()) => Ok(Self { path, key }),
            Err(AtomicWriteError::AlreadyExists { path }) => {
                Err(VaultFileError::AlreadyExists { path })
            }
            Err(err) => Err(VaultFileError::Write(err)),
        }
    }

    /// Opens the vault at `path` with `passphrase`.
    pub fn open(
        path: impl AsRef<Path>,
        passphrase: &[u8],
    ) -> Result<(Self, SecurityContext), VaultFileError> {
        let path = path.as_ref().to_path_buf();
        let bytes = read_vault_bytes(&path)?;
        match SecurityContext::unseal_keeping_key(&bytes, passphrase) {
            Ok((ctx, key)) => Ok((Self { path, key }, ctx)),
            Err(source) => Err(VaultFileError::Vault { path, source }),
        }
    }

    /// The vault's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The KDF and parameters the vault is sealed with.
    pub fn kdf(&self) -> PasswordKdf {
        self.key.kdf()
    }

    /// Seals `ctx` and atomically replaces the file with it.
    pub fn save(&self, ctx: &SecurityContext) -> Result<(), VaultFileError> {
        self.stage_save(ctx)?
            .commit()
            .map_err(VaultFileError::Write)
    }

    /// The first half of [`VaultFile::save`]: the sealed vault written and
    /// fsynced to a temp file beside the vault, not yet in place. Commit it
    /// to finish; drop it to cancel. Crash tests stop here.
    pub fn stage_save(&self, ctx: &SecurityContext) -> Result<StagedWrite, VaultFileError> {
        let sealed = ctx
            .seal_with_key(&self.key)
            .map_err(|source| VaultFileError::Vault {
                path: self.path.clone(),
                source,
            })?;
        atomic::stage(&self.path, &sealed).map_err(VaultFileError::Write)
    }

    /// Reseals the vault under `new_passphrase` (and `kdf`, with a fresh
    /// salt) and atomically replaces the file. The old passphrase stops
    /// working once this returns; if it fails, the old file and passphrase
    /// stay as they were.
    pub fn change_passphrase(
        &mut self,
        ctx: &SecurityContext,
        new_passphrase: &[u8],
        kdf: PasswordKdf,
    ) -> Result<(), VaultFileError> {
        let key =
            VaultKey::derive(new_passphrase, kdf).map_err(|source| VaultFileError::Vault {
                path: self.path.clone(),
                source,
            })?;
        let old = std::mem::replace(&mut self.key, key);
        match self.save(ctx) {
            Ok(()) => Ok(()),
            Err(err) => {
                self.key = old;
                Err(err)
            }
        }
    }
}

/// Reads the whole vault file, refusing anything over [`MAX_VAULT_FILE_BYTES`].
fn read_vault_bytes(path: &Path) -> Result<Vec<u8>, VaultFileError> {
    let read_err = |source: io::Error| {
        if source.kind() == io::ErrorKind::NotFound {
            VaultFileError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            VaultFileError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let file = fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_VAULT_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_VAULT_FILE_BYTES {
        return Err(VaultFileError::TooLarge {
            path: path.to_path_buf(),
            max_bytes: MAX_VAULT_FILE_BYTES,
        });
    }
    Ok(bytes)
}
