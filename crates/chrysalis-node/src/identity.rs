//! The node's identity and API token, sealed in the node's vault.
//!
//! On first start the node draws an Ed25519 key (its [`NodeId`] is the
//! public key) and a bearer token for the HTTP API, and seals both in
//! `<data_dir>/node.vault` (chrysalis-store's `VaultFile`, AES-256-GCM under
//! a key derived by Argon2id).
//!
//! What opens the vault:
//! - **with a passphrase** (`CHRYSALIS_PASSPHRASE`, passed in by the CLI):
//!   Argon2id at RFC 9106's second recommended parameters (64 MiB, t = 3).
//!   Nothing on disk opens the vault without the passphrase.
//! - **unattended** (no passphrase at first start): a random 256-bit
//!   key-encryption key in `<data_dir>/node.kek`, mode 0600, inside a 0700
//!   data directory. This protects the key against someone who copies the
//!   vault alone, and nothing more: anyone who can read the data directory
//!   as the node's user can open the vault. Use a passphrase where that
//!   matters.
//!
//! The key-encryption key is full-entropy, so its KDF is a single light
//! Argon2id pass; the passphrase path keeps the expensive one.

use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_crypto::kdf::{Argon2Params, PasswordKdf};
use chrysalis_crypto::secret::{Secret, random_array};
use chrysalis_crypto::vault::{Provider, SecurityContext};
use chrysalis_store::atomic::{AtomicWriteError, write_atomic};
use chrysalis_store::vault_file::{VaultFile, VaultFileError};
use chrysalis_types::NodeId;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The vault's file name inside the data directory.
pub const VAULT_FILE: &str = "node.vault";
/// The unattended key-encryption key's file name inside the data directory.
pub const KEK_FILE: &str = "node.kek";

const NODE_KEY_SLOT: &str = "chrysalis-node-key";
const API_TOKEN_SLOT: &str = "chrysalis-api-token";
const TOKEN_PREFIX: &str = "chr_";

/// Why the node's identity could not be created or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The data directory could not be created or secured.
    #[error("could not prepare data directory {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The vault is sealed with a passphrase and none was given.
    #[error(
        "{} is sealed with a passphrase: set CHRYSALIS_PASSPHRASE",
        path.display()
    )]
    PassphraseRequired {
        /// The vault.
        path: PathBuf,
    },
    /// The key-encryption key file is unreadable or malformed.
    #[error("{} is not a key-encryption key file", path.display())]
    BadKek {
        /// The file.
        path: PathBuf,
    },
    /// The key-encryption key could not be written.
    #[error(transparent)]
    WriteKek(#[from] AtomicWriteError),
    /// The vault could not be created or opened.
    #[error(transparent)]
    Vault(#[from] VaultFileError),
    /// The vault opened but does not hold a node identity.
    #[error("{} holds no node identity (is it a node's vault?)", path.display())]
    NotANodeVault {
        /// The vault.
        path: PathBuf,
    },
}

/// The node's secrets, unsealed.
pub struct NodeIdentity {
    /// The node's signing key.
    pub key: SigningKey,
    /// The HTTP API's bearer token.
    pub api_token: Secret<String>,
    /// Whether this start created them (the token is shown only then).
    pub created: bool,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("node_id", &self.node_id())
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

impl NodeIdentity {
    /// The node's id: its public key.
    pub fn node_id(&self) -> NodeId {
        NodeId::new(self.key.verifying_key().to_bytes())
    }

    /// Opens the vault in `data_dir`, or creates it (and the directory) on
    /// first start. `passphrase` seals a new vault, and is required to open
    /// one sealed with it.
    pub fn load_or_create(
        data_dir: &Path,
        passphrase: Option<&[u8]>,
        now_ms: u64,
    ) -> Result<Self, IdentityError> {
        let vault_path = data_dir.join(VAULT_FILE);
        if vault_path.exists() {
            let ctx = open_vault(data_dir, passphrase)?;
            return from_vault(&ctx, &vault_path, false);
        }
        prepare_dir(data_dir)?;
        let mut ctx = SecurityContext::new();
        let key = SigningKey::generate();
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(random_array::<32>()));
        let seed_hex = Zeroizing::new(hex::encode(*key.to_seed()));
        store(&mut ctx, NODE_KEY_SLOT, &seed_hex, now_ms, &vault_path)?;
        store(&mut ctx, API_TOKEN_SLOT, &token, now_ms, &vault_path)?;
        match passphrase {
            Some(pass) => {
                VaultFile::create_with(&vault_path, &ctx, pass, PasswordKdf::default())?;
            }
            None => {
                let kek = Zeroizing::new(hex::encode(random_array::<32>()));
                let kek_path = data_dir.join(KEK_FILE);
                write_atomic(&kek_path, kek.as_bytes())?;
                restrict(&kek_path, 0o600)?;
                VaultFile::create_with(&vault_path, &ctx, kek.as_bytes(), kek_kdf())?;
            }
        }
        Ok(Self {
            key,
            api_token: Secret::new(token),
            created: true,
        })
    }
}

/// The API token of the node whose data directory is `data_dir` (for the
/// CLI talking to a local node).
pub fn read_api_token(
    data_dir: &Path,
    passphrase: Option<&[u8]>,
) -> Result<Secret<String>, IdentityError> {
    let vault_path = data_dir.join(VAULT_FILE);
    let ctx = open_vault(data_dir, passphrase)?;
    Ok(from_vault(&ctx, &vault_path, false)?.api_token)
}

fn open_vault(
    data_dir: &Path,
    passphrase: Option<&[u8]>,
) -> Result<SecurityContext, IdentityError> {
    let vault_path = data_dir.join(VAULT_FILE);
    let kek_path = data_dir.join(KEK_FILE);
    if kek_path.exists() {
        let kek =
            std::fs::read(&kek_path)
                .map(Zeroizing::new)
                .map_err(|_| IdentityError::BadKek {
                    path: kek_path.clone(),
                })?;
        if kek.len() != 64 {
            return Err(IdentityError::BadKek { path: kek_path });
        }
        return Ok(VaultFile::open(&vault_path, &kek)?.1);
    }
    match passphrase {
        Some(pass) => Ok(VaultFile::open(&vault_path, pass)?.1),
        None => Err(IdentityError::PassphraseRequired { path: vault_path }),
    }
}

fn from_vault(
    ctx: &SecurityContext,
    vault_path: &Path,
    created: bool,
) -> Result<NodeIdentity, IdentityError> {
    let not_node = || IdentityError::NotANodeVault {
        path: vault_path.to_path_buf(),
    };
    let seed_hex = ctx
        .api_key(&Provider::Custom(NODE_KEY_SLOT.to_owned()))
        .map_err(|_| not_node())?;
    let mut seed = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(seed_hex.expose_secret(), seed.as_mut()).map_err(|_| not_node())?;
    let token = ctx
        .api_key(&Provider::Custom(API_TOKEN_SLOT.to_owned()))
        .map_err(|_| not_node())?;
    Ok(NodeIdentity {
        key: SigningKey::from_seed(&seed),
        api_token: token.clone(),
        created,
    })
}

fn store(
    ctx: &mut SecurityContext,
    slot: &str,
    value: &str,
    now_ms: u64,
    vault_path: &Path,
) -> Result<(), IdentityError> {
    ctx.store_api_key(Provider::Custom(slot.to_owned()), value, now_ms)
        .map(|_| ())
        .map_err(|source| {
            IdentityError::Vault(VaultFileError::Vault {
                path: vault_path.to_path_buf(),
                source,
            })
        })
}

/// A single light Argon2id pass: enough for a full-entropy key.
fn kek_kdf() -> PasswordKdf {
    PasswordKdf::Argon2id(Argon2Params {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    })
}

fn prepare_dir(dir: &Path) -> Result<(), IdentityError> {
    std::fs::create_dir_all(dir).map_err(|source| IdentityError::DataDir {
        path: dir.to_path_buf(),
        source,
    })?;
    restrict(dir, 0o700)
}

fn restrict(path: &Path, mode: u32) -> Result<(), IdentityError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        IdentityError::DataDir {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unattended_identity_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = NodeIdentity::load_or_create(&data, None, 1).unwrap();
        assert!(first.created);
        assert!(first.api_token.expose_secret().starts_with(TOKEN_PREFIX));
        let again = NodeIdentity::load_or_create(&data, None, 2).unwrap();
        assert!(!again.created);
        assert_eq!(again.node_id(), first.node_id());
        assert_eq!(
            again.api_token.expose_secret(),
            first.api_token.expose_secret()
        );
        let token = read_api_token(&data, None).unwrap();
        assert_eq!(token.expose_secret(), first.api_token.expose_secret());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join(KEK_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_damaged_kek_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        NodeIdentity::load_or_create(dir.path(), None, 1).unwrap();
        std::fs::write(dir.path().join(KEK_FILE), "short").unwrap();
        let err = NodeIdentity::load_or_create(dir.path(), None, 2).unwrap_err();
        assert!(matches!(err, IdentityError::BadKek { .. }), "{err}");
    }

    #[test]
    fn a_vault_without_kek_needs_the_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        NodeIdentity::load_or_create(dir.path(), None, 1).unwrap();
        std::fs::remove_file(dir.path().join(KEK_FILE)).unwrap();
        let err = NodeIdentity::load_or_create(dir.path(), None, 2).unwrap_err();
        assert!(matches!(err, IdentityError::PassphraseRequired { .. }));
        let err = NodeIdentity::load_or_create(dir.path(), Some(b"wrong"), 2).unwrap_err();
        assert!(matches!(err, IdentityError::Vault(_)));
    }
}
