use crate::chrysalis;
use predicates::prelude::*;

const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const ABC_SHA384: &str = "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7";
const ABC_BLAKE3: &str = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85";

#[test]
fn hashes_standard_input_with_known_vectors() {
    chrysalis()
        .arg("hash")
        .write_stdin("abc")
        .assert()
        .success()
        .stdout(format!("{ABC_SHA256}  -\n"));
    chrysalis()
        .args(["hash", "--alg", "sha384"])
        .write_stdin("abc")
        .assert()
        .success()
        .stdout(format!("{ABC_SHA384}  -\n"));
    chrysalis()
        .args(["hash", "-a", "BLAKE3", "-"])
        .write_stdin("abc")
        .assert()
        .success()
        .stdout(format!("{ABC_BLAKE3}  -\n"));
}

#[test]
fn hashes_files_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    std::fs::write(&a, "abc").unwrap();
    chrysalis()
        .arg("hash")
        .arg(&a)
        .arg(&a)
        .assert()
        .success()
        .stdout(format!(
            "{ABC_SHA256}  {p}\n{ABC_SHA256}  {p}\n",
            p = a.display()
        ));
}

#[test]
fn unknown_algorithm_is_a_usage_error_naming_the_choices() {
    chrysalis()
        .args(["hash", "--alg", "md5"])
        .write_stdin("abc")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("md5").and(predicate::str::contains("sha384")));
}

#[test]
fn missing_file_is_a_clear_error() {
    chrysalis()
        .args(["hash", "/nonexistent/chrysalis-file"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "error: cannot open /nonexistent/chrysalis-file",
        ));
}
