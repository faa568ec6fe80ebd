//! Agent key files: a secret file (`alice.key`, mode 0600) and a public
//! identity file (`alice.key.pub`), both small JSON documents a person can
//! read. The public file carries the fingerprint, which is checked on load.

use anyhow::{Context, Result, bail};
use chrysalis_crypto::ed25519::VerifyingKey;
use chrysalis_crypto::identity::{AgentIdentity, AgentKeypair};
use chrysalis_types::AgentId;
use serde::{Deserialize, Serialize};
use std::path::Path;

const SECRET_FORMAT: &str = "chrysalis-agent-key/v1";
const PUBLIC_FORMAT: &str = "chrysalis-agent/v1";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretFile {
    format: String,
    id: String,
    name: String,
    created_at_ms: u64,
    secret_seed: String,
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret_seed);
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicFile {
    format: String,
    id: String,
    name: String,
    created_at_ms: u64,
    public_key: String,
    fingerprint: String,
}

/// The public identity file's text.
pub(crate) fn public_json(identity: &AgentIdentity) -> Result<String> {
    let file = PublicFile {
        format: PUBLIC_FORMAT.into(),
        id: identity.id().to_string(),
        name: identity.name().into(),
        created_at_ms: identity.created_at_ms(),
        public_key: identity.public_key().to_string(),
        fingerprint: identity.fingerprint().to_string(),
    };
    Ok(serde_json::to_string_pretty(&file)? + "\n")
}

/// The secret key file's text (zeroized when dropped).
pub(crate) fn secret_json(keypair: &AgentKeypair) -> Result<zeroize::Zeroizing<String>> {
    let identity = keypair.identity();
    let file = SecretFile {
        format: SECRET_FORMAT.into(),
        id: identity.id().to_string(),
        name: identity.name().into(),
        created_at_ms: identity.created_at_ms(),
        secret_seed: hex::encode(keypair.signing_key().to_seed().as_ref()),
    };
    let mut text = zeroize::Zeroizing::new(serde_json::to_string_pretty(&file)?);
    text.push('\n');
    Ok(text)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path, what: &str) -> Result<T> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid {what} file", path.display()))
}

fn check_format(path: &Path, found: &str, expected: &str) -> Result<()> {
    if found != expected {
        bail!(
            "{} has format {found:?}; expected {expected:?}",
            path.display()
        );
    }
    Ok(())
}

/// Loads an agent's secret key file.
pub(crate) fn load_secret(path: &Path) -> Result<AgentKeypair> {
    let file: SecretFile = read_json(path, "agent secret key")?;
    check_format(path, &file.format, SECRET_FORMAT)?;
    let id: AgentId = file
        .id
        .parse()
        .with_context(|| format!("{}: bad id", path.display()))?;
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(&file.secret_seed, seed.as_mut())
        .with_context(|| format!("{}: secret_seed must be 64 hex digits", path.display()))?;
    AgentKeypair::from_seed(id, file.name.as_str(), file.created_at_ms, &seed)
        .with_context(|| format!("{}: invalid identity", path.display()))
}

/// Loads an identity from a public file, or from a secret file (whose public part is used).
pub(crate) fn load_identity(path: &Path) -> Result<AgentIdentity> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    // A secret key file holds the identity too: dispatch on its declared format.
    #[derive(Deserialize)]
    struct Format {
        format: String,
    }
    if serde_json::from_str::<Format>(&text).is_ok_and(|f| f.format == SECRET_FORMAT) {
        return load_secret(path).map(|k| k.identity().clone());
    }
    let file: PublicFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid agent identity file", path.display()))?;
    check_format(path, &file.format, PUBLIC_FORMAT)?;
    let id: AgentId = file
        .id
        .parse()
        .with_context(|| format!("{}: bad id", path.display()))?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(&file.public_key, &mut key)
        .with_context(|| format!("{}: public_key must be 64 hex digits", path.display()))?;
    let key = VerifyingKey::from_bytes(&key)
        .with_context(|| format!("{}: bad public_key", path.display()))?;
    let identity = AgentIdentity::new(id, file.name, file.created_at_ms, key)
        .with_context(|| format!("{}: invalid identity", path.display()))?;
    let recorded = file
        .fingerprint
        .parse()
        .with_context(|| format!("{}: bad fingerprint", path.display()))?;
    if !identity.fingerprint().ct_eq(&recorded) {
        bail!(
            "{}: the recorded fingerprint does not match the identity (the file was altered)",
            path.display()
        );
    }
    Ok(identity)
}
