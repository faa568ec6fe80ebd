//! The demo's keyring and vault sections.

use super::show::{Show, format_duration, timed};
use anyhow::Result;
use chrysalis_crypto::aead::AeadAlgorithm;
use chrysalis_crypto::kdf::{Argon2Params, PasswordKdf};
use chrysalis_crypto::keyring::{Keyring, RotationPolicy};
use chrysalis_crypto::vault::Provider;
use chrysalis_store::vault_file::VaultFile;
use std::path::Path;

pub(super) fn keyring(show: &mut Show) -> Result<()> {
    show.section("A keyring that rotates itself");
    show.say("Every ciphertext names its key in an authenticated header; old keys keep working until destroyed.");
    let policy = RotationPolicy {
        max_encryptions_per_key: 3,
    };
    let mut ring = Keyring::with_policy(AeadAlgorithm::Aes256Gcm, policy)?;
    let first_key = ring.primary_id();
    let memo = b"bob's episode 17: the build went green";
    let old = ring.encrypt(memo, b"episode")?;
    show.fact(
        "encrypted",
        format!("{} bytes under key {first_key}", old.len()),
    );
    for _ in 0..3 {
        ring.encrypt(b"filler", b"episode")?;
    }
    let rotated = ring.primary_id() != first_key;
    show.check(
        rotated,
        "after 3 encryptions (the demo's limit) the keyring rotated on its own",
        format!("primary is now {}", ring.primary_id()),
    );
    let opened = ring.decrypt(&old, b"episode")?;
    show.check(
        opened.expose_secret() == memo,
        "the old ciphertext still opens with its old key",
        "",
    );
    show.refused(
        "the same ciphertext under other associated data is refused",
        ring.decrypt(&old, b"skill"),
    );
    let rewrapped = ring.rewrap(&old, b"episode")?;
    ring.destroy(first_key)?;
    show.refused(
        "once its key is destroyed, the old ciphertext is refused",
        ring.decrypt(&old, b"episode"),
    );
    show.check(
        ring.decrypt(&rewrapped, b"episode").is_ok(),
        "the copy rewrapped under the new key before destruction still opens",
        "",
    );
    Ok(())
}

pub(super) fn vault(show: &mut Show, dir: &Path) -> Result<()> {
    show.section("The vault: API keys sealed under a passphrase");
    let path = dir.join("demo-vault");
    let _ = std::fs::remove_file(&path);
    let kdf = PasswordKdf::Argon2id(Argon2Params::DEFAULT);
    let (created, took) = timed(|| VaultFile::create(&path, b"open sesame", kdf));
    let (file, mut ctx) = created?;
    show.fact("vault", path.display());
    show.fact(
        "sealed with",
        format!(
            "Argon2id, 64 MiB, t=3, p=4 ({} to derive)",
            format_duration(took)
        ),
    );
    ctx.store_api_key(
        Provider::OpenAI,
        "sk-demo-0123456789abcdefghijklmnopqrstuvwxyz",
        crate::now_ms(),
    )?;
    ctx.store_api_key(
        Provider::Anthropic,
        "sk-ant-demo-0123456789abcdefghijklmnopqrstuvwxyz",
        crate::now_ms(),
    )?;
    file.save(&ctx)?;
    for info in ctx.list_api_keys() {
        show.fact(&info.provider.to_string(), info.redacted);
    }
    show.refused(
        "a key pasted for the wrong provider is refused",
        ctx.store_api_key(
            Provider::Anthropic,
            "sk-demo-0123456789abcdefghijklmnopqrstuvwxyz",
            0,
        ),
    );
    show.refused(
        "the wrong passphrase is refused",
        VaultFile::open(&path, b"open sesame!"),
    );
    let sealed = std::fs::read(&path)?;
    let mut tampered = sealed.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x20;
    std::fs::write(&path, &tampered)?;
    show.refused(
        "a vault with one flipped bit is refused",
        VaultFile::open(&path, b"open sesame"),
    );
    std::fs::write(&path, &sealed)?;
    let (_, reopened) = VaultFile::open(&path, b"open sesame")?;
    let same = reopened.api_key(&Provider::OpenAI)?.expose_secret()
        == ctx.api_key(&Provider::OpenAI)?.expose_secret();
    show.check(
        same,
        "reopened with the right passphrase, every key is there",
        "",
    );
    Ok(())
}
