//! The vault: API keys, agent signing keys, session keys and a storage
//! keyring, held in a [`SecurityContext`] and sealed under a passphrase.
//!
//! - **API keys** per [`Provider`], checked against the provider's key
//!   format on the way in (see [`validate_key_format`]), handed back as
//!   [`Secret`]s and listed only in [`redact`]ed form.
//! - **Agent key pairs** ([`AgentKeypair`]), by [`AgentId`].
//! - **Session keys**: 32-byte keys derived from a session id and the
//!   vault's session secret with BLAKE3 in keyed mode
//!   (`BLAKE3-keyed(secret, len ‖ "chrysalis/v1/vault-session-key" ‖ len ‖ session id ‖ epoch)`,
//!   lengths as little-endian `u64`s, the epoch a little-endian `u32`).
//!   [`SecurityContext::rotate_session_secret`] draws a new secret, so every
//!   earlier session key stops matching.
//! - **Storage encryption** through an internal AES-256-GCM [`Keyring`]
//!   ([`SecurityContext::encrypt_for_storage`]), with rotation and
//!   self-describing ciphertexts.
//!
//! [`SecurityContext::seal`] encrypts all of it under a key derived from a
//! passphrase (format in [`sealed`]); [`SecurityContext::unseal`] reverses
//! it. Changing the passphrase is sealing again with the new one. The file
//! itself is written by `chrysalis-store`'s `VaultFile` (this crate does no I/O).
//!
//! Time comes in as an argument (`now_ms`); randomness comes from the
//! operating system through [`crate::secret`].

mod provider;
pub mod sealed;

pub use provider::{
    MAX_API_KEY_BYTES, MAX_PROVIDER_NAME_BYTES, MIN_PARTIAL_REDACTION_CHARS, Provider,
    ProviderParseError, redact,
};
pub use sealed::{SALT_LEN, SEALED_MAGIC, SEALED_VERSION, VaultKey, sealed_kdf};

use crate::aead::AeadAlgorithm;
use crate::identity::{AgentIdentity, AgentKeypair};
use crate::kdf::{KdfError, PasswordKdf};
use crate::keyring::{Keyring, KeyringError};
use crate::secret::{Secret, SecretBytes, ct_eq, random_array};
use chrysalis_types::AgentId;
use chrysalis_types::codec::{Decode, DecodeError, Reader, Writer};
use std::collections::BTreeMap;
use std::fmt;
use zeroize::Zeroizing;

/// The domain string of session-key derivation.
pub const SESSION_KEY_DOMAIN: &str = "chrysalis/v1/vault-session-key";

/// Why a vault operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The key does not look like a key for this provider.
    #[error("invalid {provider} API key: {reason}")]
    InvalidKeyFormat {
        /// The provider the key was given for.
        provider: Provider,
        /// What is wrong (never the key itself).
        reason: &'static str,
    },
    /// No API key is stored for this provider.
    #[error("no API key stored for {provider}")]
    NotFound {
        /// The provider asked for.
        provider: Provider,
    },
    /// No agent with this id is stored.
    #[error("no agent {0} in the vault")]
    AgentNotFound(AgentId),
    /// An agent with this id is already stored.
    #[error("agent {0} is already in the vault")]
    AgentExists(AgentId),
    /// The passphrase is empty.
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    /// The KDF parameters asked for are invalid or over the caps.
    #[error(transparent)]
    Kdf(KdfError),
    /// The sealed vault asks for KDF parameters over the caps (or invalid):
    /// refused before running the KDF.
    #[error("the vault's key-derivation parameters are invalid or exceed the limits")]
    KdfParamsRefused,
    /// The bytes are not a sealed vault (bad magic).
    #[error("not a Chrysalis vault (bad magic bytes)")]
    NotAVault,
    /// The sealed vault ends early.
    #[error("the vault file is truncated")]
    Truncated,
    /// The sealed vault was written in a format version this build does not read.
    #[error("unsupported vault format version {found} (this build reads {supported})")]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
        /// The version this build reads.
        supported: u8,
    },
    /// The sealed vault's header is structurally wrong.
    #[error("malformed vault: {0}")]
    Malformed(&'static str),
    /// Decryption failed. Cryptographically a wrong passphrase and modified
    /// bytes are indistinguishable.
    #[error("wrong passphrase, or the vault file was modified")]
    WrongPassphraseOrModified,
    /// The contents decrypted but do not decode (a bug or a foreign writer).
    #[error("vault contents are corrupt: {0}")]
    Corrupt(DecodeError),
    /// Storage encryption or decryption failed.
    #[error(transparent)]
    Storage(#[from] KeyringError),
}

/// Checks `key` against `provider`'s key format. On failure the error says
/// why, never echoing the key. These rules catch paste mistakes and keys
/// given for the wrong provider; they do not prove a key is live.
///
/// Every key: non-empty, at most [`MAX_API_KEY_BYTES`], printable ASCII with
/// no spaces (a pasted newline or space is the commonest mistake). Then, by
/// provider:
///
/// | provider | prefix | shortest (bytes) | characters after the prefix |
/// |---|---|---|---|
/// | OpenAI | `sk-` (but not `sk-ant-`) | 40 | letters, digits, `-`, `_` |
/// | Anthropic | `sk-ant-` | 40 | letters, digits, `-`, `_` |
/// | Nomic | `nk-` | 20 | letters, digits, `-`, `_` |
/// | Groq | `gsk_` | 40 | letters, digits, `-`, `_` |
/// | Hugging Face | `hf_` | 30 | letters, digits, `-`, `_` |
/// | Cohere, Mistral | none | 32 | letters and digits |
/// | custom | none | 1 | any printable ASCII but space |
pub fn validate_key_format(provider: &Provider, key: &str) -> Result<(), VaultError> {
    provider::check_key_format(provider, key).map_err(|reason| VaultError::InvalidKeyFormat {
        provider: provider.clone(),
        reason,
    })
}

/// What may be shown about a stored API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    /// The provider.
    pub provider: Provider,
    /// The key, [`redact`]ed.
    pub redacted: String,
    /// When it was stored, in milliseconds since the Unix epoch.
    pub added_at_ms: u64,
}

struct StoredKey {
    key: Secret<String>,
    added_at_ms: u64,
}

/// The vault's contents. See the module docs.
pub struct SecurityContext {
    api_keys: BTreeMap<Provider, StoredKey>,
    agents: BTreeMap<AgentId, AgentKeypair>,
    session_secret: Secret<[u8; 32]>,
    session_epoch: u32,
    keyring: Keyring,
}

impl Default for SecurityContext {
    fn default() -> Self {
        Self::new()
    }
}

impl SecurityContext {
    /// An empty vault with a fresh session secret and storage keyring.
    pub fn new() -> Self {
        Self {
            api_keys: BTreeMap::new(),
            agents: BTreeMap::new(),
            session_secret: Secret::new(random_array()),
            session_epoch: 1,
            keyring: Keyring::new(AeadAlgorithm::Aes256Gcm),
        }
    }

    /// Stores `key` for `provider` after checking its format, replacing any
    /// earlier key. Returns whether one was replaced.
    pub fn store_api_key(
        &mut self,
        provider: Provider,
        key: &str,
        now_ms: u64,
    ) -> Result<bool, VaultError> {
        validate_key_format(&provider, key)?;
        let stored = StoredKey {
            key: Secret::new(key.to_owned()),
            added_at_ms: now_ms,
        };
        Ok(self.api_keys.insert(provider, stored).is_some())
    }

    /// The key stored for `provider`.
    pub fn api_key(&self, provider: &Provider) -> Result<&Secret<String>, VaultError> {
        self.api_keys
            .get(provider)
            .map(|stored| &stored.key)
            .ok_or_else(|| VaultError::NotFound {
                provider: provider.clone(),
            })
    }

    /// Every stored key, redacted, in provider order.
    pub fn list_api_keys(&self) -> Vec<ApiKeyInfo> {
        self.api_keys
            .iter()
            .map(|(provider, stored)| ApiKeyInfo {
                provider: provider.clone(),
                redacted: redact(stored.key.expose_secret()),
                added_at_ms: stored.added_at_ms,
            })
            .collect()
    }

    /// Removes (and zeroizes) the key stored for `provider`.
    pub fn remove_api_key(&mut self, provider: &Provider) -> Result<(), VaultError> {
        self.api_keys
            .remove(provider)
            .map(drop)
            .ok_or_else(|| VaultError::NotFound {
                provider: provider.clone(),
            })
    }

    /// Stores an agent's key pair. Refuses an id already stored.
    pub fn add_agent(&mut self, keypair: AgentKeypair) -> Result<(), VaultError> {
        let id = keypair.identity().id();
        if self.agents.contains_key(&id) {
            return Err(VaultError::AgentExists(id));
        }
        self.agents.insert(id, keypair);
        Ok(())
    }

    /// The key pair of agent `id`.
    pub fn agent(&self, id: AgentId) -> Result<&AgentKeypair, VaultError> {
        self.agents.get(&id).ok_or(VaultError::AgentNotFound(id))
    }

    /// Every stored agent's public identity, in id order.
    pub fn agents(&self) -> Vec<&AgentIdentity> {
        self.agents.values().map(AgentKeypair::identity).collect()
    }

    /// Removes agent `id` and its signing key.
    pub fn remove_agent(&mut self, id: AgentId) -> Result<(), VaultError> {
        self.agents
            .remove(&id)
            .map(drop)
            .ok_or(VaultError::AgentNotFound(id))
    }

    /// The 32-byte key of session `session_id` under the current session secret.
    pub fn session_key(&self, session_id: &str) -> SecretBytes {
        let mut hasher = blake3::Hasher::new_keyed(self.session_secret.expose_secret());
        for field in [SESSION_KEY_DOMAIN.as_bytes(), session_id.as_bytes()] {
            hasher.update(&(field.len() as u64).to_le_bytes());
            hasher.update(field);
        }
        hasher.update(&self.session_epoch.to_le_bytes());
        SecretBytes::new(hasher.finalize().as_bytes().to_vec())
    }

    /// Whether `candidate` is session `session_id`'s current key (constant time).
    pub fn verify_session_key(&self, session_id: &str, candidate: &[u8]) -> bool {
        ct_eq(self.session_key(session_id).expose_secret(), candidate)
    }

    /// Draws a new session secret: every session key derived so far stops matching.
    pub fn rotate_session_secret(&mut self) {
        self.session_secret = Secret::new(random_array());
        self.session_epoch = self.session_epoch.wrapping_add(1);
    }

    /// How many session secrets this vault has had (1 at creation).
    pub fn session_epoch(&self) -> u32 {
        self.session_epoch
    }

    /// Encrypts data for storage outside the vault under the storage
    /// keyring's primary key, bound to `aad`. The keyring counts the
    /// encryption (and may rotate): save the vault afterwards to keep that.
    pub fn encrypt_for_storage(
        &mut self,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        Ok(self.keyring.encrypt(plaintext, aad)?)
    }

    /// Decrypts what [`SecurityContext::encrypt_for_storage`] produced.
    pub fn decrypt_from_storage(
        &self,
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<SecretBytes, VaultError> {
        Ok(self.keyring.decrypt(ciphertext, aad)?)
    }

    /// The storage keyring (ids, statuses, counts; never material).
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The storage keyring, to rotate, promote, disable or destroy keys.
    pub fn keyring_mut(&mut self) -> &mut Keyring {
        &mut self.keyring
    }

    /// Seals the vault under `passphrase`, with `kdf` and a fresh salt.
    pub fn seal(&self, passphrase: &[u8], kdf: PasswordKdf) -> Result<Vec<u8>, VaultError> {
        self.seal_with_key(&VaultKey::derive(passphrase, kdf)?)
    }

    /// Seals the vault under an already derived key (fresh nonce each time).
    pub fn seal_with_key(&self, key: &VaultKey) -> Result<Vec<u8>, VaultError> {
        sealed::seal(&self.encode_contents(), key)
    }

    /// Opens a sealed vault.
    pub fn unseal(bytes: &[u8], passphrase: &[u8]) -> Result<Self, VaultError> {
        Self::unseal_keeping_key(bytes, passphrase).map(|(ctx, _)| ctx)
    }

    /// Opens a sealed vault and returns the derived key too, so the vault
    /// can be sealed again ([`SecurityContext::seal_with_key`]) without the
    /// passphrase or another run of the KDF.
    pub fn unseal_keeping_key(
        bytes: &[u8],
        passphrase: &[u8],
    ) -> Result<(Self, VaultKey), VaultError> {
        let parsed = sealed::parse(bytes)?;
        if passphrase.is_empty() {
            return Err(VaultError::EmptyPassphrase);
        }
        let (contents, key) = parsed.open(passphrase)?;
        let ctx = Self::decode_contents(contents.expose_secret()).map_err(VaultError::Corrupt)?;
        Ok((ctx, key))
    }

    /// The canonical encoding of everything in the vault. Secret.
    fn encode_contents(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.put_u8(chrysalis_types::codec::FORMAT_VERSION);
        w.put_len(self.api_keys.len());
        for (provider, stored) in &self.api_keys {
            w.put(provider);
            w.put(stored.key.expose_secret());
            w.put(&stored.added_at_ms);
        }
        w.put_len(self.agents.len());
        for keypair in self.agents.values() {
            w.put(keypair.identity());
            w.put_raw(keypair.signing_key().to_seed().as_ref());
        }
        w.put_raw(self.session_secret.expose_secret());
        w.put(&self.session_epoch);
        w.put(&self.keyring);
        Zeroizing::new(w.into_bytes())
    }

    fn decode_contents(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != chrysalis_types::codec::FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                found: version,
                supported: chrysalis_types::codec::FORMAT_VERSION,
            });
        }
        let api_keys = decode_api_keys(&mut r)?;
        let agents = decode_agents(&mut r)?;
        let session_secret = Secret::new(r.take_array()?);
        let session_epoch = r.get()?;
        let keyring = r.get()?;
        r.finish()?;
        Ok(Self {
            api_keys,
            agents,
            session_secret,
            session_epoch,
            keyring,
        })
    }
}

fn non_canonical(offset: usize) -> DecodeError {
    DecodeError::NonCanonical {
        offset,
        reason: "entries must be in strictly increasing order",
    }
}

fn decode_api_keys(r: &mut Reader<'_>) -> Result<BTreeMap<Provider, StoredKey>, DecodeError> {
    let count = r.len("API keys")?;
    let mut out = BTreeMap::new();
    for _ in 0..count {
        let offset = r.offset();
        let provider: Provider = r.get()?;
        let key = Secret::new(String::decode(r)?);
        let added_at_ms = r.get()?;
        if out
            .last_key_value()
            .is_some_and(|(last, _)| *last >= provider)
        {
            return Err(non_canonical(offset));
        }
        out.insert(provider, StoredKey { key, added_at_ms });
    }
    Ok(out)
}

fn decode_agents(r: &mut Reader<'_>) -> Result<BTreeMap<AgentId, AgentKeypair>, DecodeError> {
    let count = r.len("agents")?;
    let mut out = BTreeMap::new();
    for _ in 0..count {
        let offset = r.offset();
        let identity: AgentIdentity = r.get()?;
        let seed = Zeroizing::new(r.take_array::<32>()?);
        let id = identity.id();
        let keypair =
            AgentKeypair::from_parts(identity, crate::ed25519::SigningKey::from_seed(&seed))
                .map_err(|_| DecodeError::Invalid {
                    what: "vault agent",
                    reason: "signing key does not match the identity",
                })?;
        if out.last_key_value().is_some_and(|(last, _)| *last >= id) {
            return Err(non_canonical(offset));
        }
        out.insert(id, keypair);
    }
    Ok(out)
}

impl fmt::Debug for SecurityContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityContext")
            .field("api_keys", &self.list_api_keys())
            .field("agents", &self.agents.keys().collect::<Vec<_>>())
            .field("session_epoch", &self.session_epoch)
            .field("keyring", &self.keyring)
            .finish()
    }
}

#[cfg(test)]
mod tests;
