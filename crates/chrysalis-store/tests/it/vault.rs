//! The vault file: round trips, refusals that leave the file alone, and a
//! crash between staging and committing a save.

use chrysalis_crypto::kdf::{Argon2Params, PasswordKdf};
use chrysalis_crypto::vault::{Provider, SecurityContext, VaultError};
use chrysalis_store::atomic::write_atomic;
use chrysalis_store::vault_file::{VaultFile, VaultFileError};
use std::fs;
use std::path::{Path, PathBuf};

/// Cheap Argon2id parameters so the suite stays fast.
const FAST_KDF: PasswordKdf = PasswordKdf::Argon2id(Argon2Params {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
});

const PASS: &[u8] = b"correct horse battery staple";
const OPENAI_KEY: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789wxyz";
const GROQ_KEY: &str = "gsk_abcdefghijklmnopqrstuvwxyz0123456789ABCD";

fn new_vault(dir: &Path) -> (PathBuf, VaultFile, SecurityContext) {
    let path = dir.join("vault.chrysalis");
    let (file, mut ctx) = VaultFile::create(&path, PASS, FAST_KDF).unwrap();
    ctx.store_api_key(Provider::OpenAI, OPENAI_KEY, 1).unwrap();
    file.save(&ctx).unwrap();
    (path, file, ctx)
}

fn vault_error(result: Result<(VaultFile, SecurityContext), VaultFileError>) -> VaultError {
    match result {
        Err(VaultFileError::Vault { source, .. }) => source,
        Err(other) => panic!("expected a vault error, got {other}"),
        Ok(_) => panic!("expected a vault error, but the vault opened"),
    }
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect()
}

#[test]
fn create_save_open_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (path, file, ctx) = new_vault(dir.path());
    assert_eq!(file.path(), path);
    assert_eq!(file.kdf(), FAST_KDF);

    let (reopened, mut back) = VaultFile::open(&path, PASS).unwrap();
    assert_eq!(
        back.api_key(&Provider::OpenAI).unwrap().expose_secret(),
        OPENAI_KEY
    );
    assert_eq!(back.session_key("s"), ctx.session_key("s"));
    // Saving again needs no passphrase, and keeps the KDF parameters.
    back.store_api_key(Provider::Groq, GROQ_KEY, 2).unwrap();
    reopened.save(&back).unwrap();
    let (_, again) = VaultFile::open(&path, PASS).unwrap();
    assert_eq!(again.list_api_keys().len(), 2);
    assert_eq!(
        chrysalis_crypto::vault::sealed_kdf(&fs::read(&path).unwrap()),
        Ok(FAST_KDF)
    );
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn create_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = new_vault(dir.path());
    let before = fs::read(&path).unwrap();
    let result = VaultFile::create(&path, b"other", FAST_KDF);
    assert!(matches!(result, Err(VaultFileError::AlreadyExists { .. })));
    assert_eq!(fs::read(&path).unwrap(), before);
    // Not even over a file that is not a vault.
    let other = dir.path().join("notes.txt");
    fs::write(&other, b"keep me").unwrap();
    assert!(matches!(
        VaultFile::create(&other, PASS, FAST_KDF),
        Err(VaultFileError::AlreadyExists { .. })
    ));
    assert_eq!(fs::read(&other).unwrap(), b"keep me");
}

#[test]
fn wrong_passphrase_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = new_vault(dir.path());
    let before = fs::read(&path).unwrap();
    let err = vault_error(VaultFile::open(&path, b"wrong"));
    assert_eq!(err, VaultError::WrongPassphraseOrModified);
    assert_eq!(
        err.to_string(),
        "wrong passphrase, or the vault file was modified"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    assert!(VaultFile::open(&path, PASS).is_ok());
}

#[test]
fn a_tampered_file_is_refused_and_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = new_vault(dir.path());
    let good = fs::read(&path).unwrap();
    for at in (0..good.len()).step_by(7).chain([good.len() - 1]) {
        let mut bad = good.clone();
        bad[at] ^= 0x20;
        fs::write(&path, &bad).unwrap();
        let result = VaultFile::open(&path, PASS);
        assert!(result.is_err(), "flipped byte {at} was accepted");
        assert_eq!(fs::read(&path).unwrap(), bad, "open must not write");
    }
}

#[test]
fn a_truncated_file_is_refused_at_every_length_tried() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = new_vault(dir.path());
    let good = fs::read(&path).unwrap();
    for len in [0, 1, 7, 8, 9, 12, 30, 60, good.len() / 2, good.len() - 1] {
        fs::write(&path, &good[..len]).unwrap();
        assert_eq!(
            vault_error(VaultFile::open(&path, PASS)),
            VaultError::Truncated,
            "length {len}"
        );
        assert_eq!(fs::read(&path).unwrap(), &good[..len]);
    }
    fs::write(&path, b"definitely not a vault").unwrap();
    assert_eq!(
        vault_error(VaultFile::open(&path, PASS)),
        VaultError::NotAVault
    );
}

#[test]
fn a_crash_before_the_rename_leaves_the_old_vault() {
    let dir = tempfile::tempdir().unwrap();
    let (path, file, mut ctx) = new_vault(dir.path());
    let old_bytes = fs::read(&path).unwrap();

    // Stage the new vault, then "crash": the temp file stays, no rename.
    ctx.store_api_key(Provider::Groq, GROQ_KEY, 2).unwrap();
    let staged = file.stage_save(&ctx).unwrap();
    assert!(staged.temp_path().exists());
    let leftover = staged.abandon();
    assert_eq!(temp_files(dir.path()), vec![leftover.clone()]);

    // The old vault still opens with the old contents; the leftover is ignored.
    assert_eq!(fs::read(&path).unwrap(), old_bytes);
    let (file, back) = VaultFile::open(&path, PASS).unwrap();
    assert_eq!(back.list_api_keys().len(), 1);
    assert!(back.api_key(&Provider::Groq).is_err());

    // The next save replaces the vault and cleans the leftover up.
    ctx.store_api_key(Provider::Groq, GROQ_KEY, 3).unwrap();
    file.save(&ctx).unwrap();
    assert!(temp_files(dir.path()).is_empty());
    let (_, back) = VaultFile::open(&path, PASS).unwrap();
    assert_eq!(
        back.api_key(&Provider::Groq).unwrap().expose_secret(),
        GROQ_KEY
    );
}

#[test]
fn a_cancelled_save_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let (path, file, ctx) = new_vault(dir.path());
    let before = fs::read(&path).unwrap();
    drop(file.stage_save(&ctx).unwrap());
    assert!(temp_files(dir.path()).is_empty());
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn changing_the_passphrase_reseals() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut file, ctx) = new_vault(dir.path());
    file.change_passphrase(&ctx, b"new passphrase", FAST_KDF)
        .unwrap();
    assert_eq!(
        vault_error(VaultFile::open(&path, PASS)),
        VaultError::WrongPassphraseOrModified
    );
    let (_, back) = VaultFile::open(&path, b"new passphrase").unwrap();
    assert_eq!(back.list_api_keys(), ctx.list_api_keys());
    // A refused new passphrase changes nothing.
    let before = fs::read(&path).unwrap();
    assert!(file.change_passphrase(&ctx, b"", FAST_KDF).is_err());
    assert_eq!(fs::read(&path).unwrap(), before);
    file.save(&ctx).unwrap();
    assert!(VaultFile::open(&path, b"new passphrase").is_ok());
}

#[test]
fn missing_and_oversized_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    assert!(matches!(
        VaultFile::open(&missing, PASS),
        Err(VaultFileError::NotFound { .. })
    ));
    let huge = dir.path().join("huge");
    let len = usize::try_from(chrysalis_store::vault_file::MAX_VAULT_FILE_BYTES).unwrap() + 1;
    write_atomic(&huge, &vec![0u8; len]).unwrap();
    assert!(matches!(
        VaultFile::open(&huge, PASS),
        Err(VaultFileError::TooLarge { .. })
    ));
}
