use crate::chrysalis;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

/// Runs `keygen` for `name` in `dir`, returning (secret path, public path, fingerprint line).
fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf, String) {
    let secret = dir.join(format!("{name}.key"));
    let out = chrysalis()
        .args(["keygen", "--name", name, "--out"])
        .arg(&secret)
        .assert()
        .success()
        .stdout(predicate::str::contains("fingerprint"))
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let fingerprint = out
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint  "))
        .unwrap()
        .to_owned();
    (
        secret.clone(),
        dir.join(format!("{name}.key.pub")),
        fingerprint,
    )
}

#[test]
fn keygen_writes_a_private_key_and_an_identity() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public, fingerprint) = keygen(dir.path(), "alice");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the secret key is private");
    }
    for file in [&secret, &public] {
        chrysalis()
            .arg("fingerprint")
            .arg(file)
            .assert()
            .success()
            .stdout(predicate::str::starts_with(format!(
                "{fingerprint}  alice ("
            )));
    }
}

#[test]
fn keygen_refuses_to_overwrite_without_force_and_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, _, first) = keygen(dir.path(), "alice");
    chrysalis()
        .args(["keygen", "--name", "alice", "--out"])
        .arg(&secret)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists"));
    chrysalis()
        .args(["keygen", "--force", "--name", "alice", "--out"])
        .arg(&secret)
        .assert()
        .success()
        .stdout(predicate::str::contains(first).not());
    chrysalis()
        .args(["keygen", "--name", "", "--out"])
        .arg(dir.path().join("empty.key"))
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: cannot create the identity",
        ));
    chrysalis()
        .args(["keygen", "--name", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--out"));
}

#[test]
fn fingerprint_refuses_altered_and_garbage_files() {
    let dir = tempfile::tempdir().unwrap();
    let (_, public, _) = keygen(dir.path(), "alice");
    let text = std::fs::read_to_string(&public).unwrap();
    std::fs::write(&public, text.replace("\"alice\"", "\"mallory\"")).unwrap();
    chrysalis()
        .arg("fingerprint")
        .arg(&public)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not match the identity"));
    std::fs::write(&public, "{not json").unwrap();
    chrysalis()
        .arg("fingerprint")
        .arg(&public)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "is not a valid agent identity file",
        ));
}

#[test]
fn sign_then_verify_and_every_way_it_must_fail() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, public, _) = keygen(dir.path(), "alice");
    let (_, bob, _) = keygen(dir.path(), "bob");
    let doc = dir.path().join("claim.txt");
    std::fs::write(&doc, "alice: rust 0.9").unwrap();
    let out = chrysalis()
        .arg("sign")
        .arg("--key")
        .arg(&secret)
        .arg(&doc)
        .assert()
        .success();
    let signature = String::from_utf8(out.get_output().stdout.clone())
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(signature.len(), 128);

    let verify = |identity: &Path, domain: &str| {
        let mut cmd = chrysalis();
        cmd.arg("verify").arg("--identity").arg(identity);
        cmd.args(["--signature", &signature, "--domain", domain])
            .arg(&doc);
        cmd.assert()
    };
    verify(&public, "chrysalis/v1/cli-message")
        .success()
        .stdout(predicate::str::starts_with("OK: "));
    verify(&bob, "chrysalis/v1/cli-message")
        .code(1)
        .stderr(predicate::str::contains("does not verify"));
    verify(&public, "chrysalis/v1/other")
        .code(1)
        .stderr(predicate::str::contains("does not verify"));
    std::fs::write(&doc, "alice: rust 1.0").unwrap();
    verify(&public, "chrysalis/v1/cli-message")
        .code(1)
        .stderr(predicate::str::contains("does not verify"));

    chrysalis()
        .args(["verify", "--public-key", "abcd", "--signature", &signature])
        .arg(&doc)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "--public-key must be 64 hex digits",
        ));
    chrysalis()
        .arg("verify")
        .arg("--identity")
        .arg(&public)
        .args(["--signature", "zz"])
        .arg(&doc)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "--signature must be 128 hex digits",
        ));
    chrysalis()
        .args(["verify", "--signature", &signature])
        .arg(&doc)
        .assert()
        .code(2);
    chrysalis()
        .arg("sign")
        .arg("--key")
        .arg(&public)
        .arg(&doc)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "is not a valid agent secret key file",
        ));
}
