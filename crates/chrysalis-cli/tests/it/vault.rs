use crate::chrysalis;
use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

const OPENAI_KEY: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD";

/// `chrysalis vault` on the vault at `path` with `passphrase`.
fn vault(path: &Path, passphrase: &str) -> Command {
    let mut cmd = chrysalis();
    cmd.arg("vault").arg("--path").arg(path);
    cmd.env("CHRYSALIS_VAULT_PASSPHRASE", passphrase);
    cmd
}

/// A fresh vault with cheap key-derivation parameters (tests only).
fn init(dir: &Path) -> PathBuf {
    let path = dir.join("vault");
    vault(&path, "hunter2")
        .args([
            "init",
            "--argon2-memory-kib",
            "1024",
            "--argon2-iterations",
            "1",
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("created vault"));
    path
}

#[test]
fn set_get_list_remove_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = init(dir.path());
    vault(&path, "hunter2")
        .args(["set", "openai"])
        .write_stdin(format!("{OPENAI_KEY}\n"))
        .assert()
        .success()
        .stdout("stored the openai key: sk-...ABCD\n");
    vault(&path, "hunter2")
        .args(["list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("sk-...ABCD"));
    vault(&path, "hunter2")
        .args(["get", "openai"])
        .assert()
        .success()
        .stdout("sk-...ABCD\n");
    vault(&path, "hunter2")
        .args(["get", "openai", "--reveal"])
        .assert()
        .success()
        .stdout(format!("{OPENAI_KEY}\n"));
    let sealed = std::fs::read(&path).unwrap();
    assert!(
        !sealed
            .windows(OPENAI_KEY.len())
            .any(|w| w == OPENAI_KEY.as_bytes()),
        "the key is not stored in the clear"
    );
    vault(&path, "hunter2")
        .args(["remove", "openai"])
        .assert()
        .success();
    vault(&path, "hunter2")
        .args(["get", "openai"])
        .assert()
        .code(1)
        .stderr("error: no API key stored for openai\n");
}

#[test]
fn bad_input_is_refused_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = init(dir.path());
    vault(&path, "hunter2")
        .args(["set", "openai"])
        .write_stdin(OPENAI_KEY)
        .assert()
        .success();
    let before = std::fs::read(&path).unwrap();

    vault(&path, "wrong")
        .args(["list"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "wrong passphrase, or the vault file was modified",
        ));
    vault(&path, "hunter2")
        .args(["set", "anthropic"])
        .write_stdin("sk-not-an-anthropic-key")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid anthropic API key"));
    vault(&path, "hunter2")
        .args(["set", "bad name!"])
        .write_stdin("x")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("provider name"));
    vault(&path, "hunter2")
        .args(["init"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists"));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "refusals leave the vault as it was"
    );

    let mut tampered = before.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    std::fs::write(&path, &tampered).unwrap();
    vault(&path, "hunter2")
        .args(["list"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "wrong passphrase, or the vault file was modified",
        ));
    std::fs::write(&path, &before[..before.len() / 2]).unwrap();
    vault(&path, "hunter2")
        .args(["list"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("truncated"));

    vault(&dir.path().join("missing"), "hunter2")
        .args(["list"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("chrysalis vault init"));
    chrysalis()
        .args(["vault", "--path"])
        .arg(&path)
        .arg("list")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("CHRYSALIS_VAULT_PASSPHRASE"));
}

#[test]
fn rotate_keeps_keys_and_can_change_the_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let path = init(dir.path());
    vault(&path, "hunter2")
        .args(["set", "openai"])
        .write_stdin(OPENAI_KEY)
        .assert()
        .success();
    vault(&path, "hunter2")
        .args(["rotate"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("rotated"));
    let new = dir.path().join("new-passphrase");
    std::fs::write(&new, "correct horse battery staple\n").unwrap();
    vault(&path, "hunter2")
        .args(["rotate", "--new-passphrase-file"])
        .arg(&new)
        .assert()
        .success()
        .stdout(predicate::str::contains("new passphrase"));
    vault(&path, "hunter2").args(["list"]).assert().code(1);
    chrysalis()
        .args(["vault", "--path"])
        .arg(&path)
        .arg("--passphrase-file")
        .arg(&new)
        .args(["get", "openai", "--reveal"])
        .assert()
        .success()
        .stdout(format!("{OPENAI_KEY}\n"));
}
