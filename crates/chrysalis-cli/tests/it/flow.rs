use crate::chrysalis;
use predicates::prelude::*;
use std::path::PathBuf;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/flows")
        .join(name)
}

#[test]
fn check_accepts_a_valid_flow() {
    chrysalis()
        .args(["flow", "check"])
        .arg(example("order.toml"))
        .assert()
        .success()
        .stdout("0 errors, 0 warnings\n");
}

#[test]
fn check_prints_every_diagnostic_and_fails() {
    chrysalis()
        .args(["flow", "check"])
        .arg(example("broken.toml"))
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("error[unbounded-cycle]: cycle through \"begin\", \"check\"")
                .and(predicate::str::contains(
                    "error[missing-default]: decision \"check\" has no default edge",
                ))
                .and(predicate::str::contains("18 errors, 3 warnings")),
        )
        .stderr(predicate::str::contains("broken.toml is invalid"));
}

#[test]
fn run_shows_progress_and_completes() {
    chrysalis()
        .args(["flow", "run"])
        .arg(example("order.toml"))
        .assert()
        .success()
        .stdout(
            predicate::str::contains("invoice (attempt 2) finished")
                .and(predicate::str::contains("order-pipeline completed at done")),
        );
}

#[test]
fn a_failing_flow_fails_with_its_error() {
    chrysalis()
        .args(["flow", "run"])
        .arg(example("fails.json"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "failed after 2 attempt(s): upstream service unavailable",
        ));
}

#[test]
fn bad_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = [unclosed").unwrap();
    chrysalis()
        .args(["flow", "check"])
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: cannot load"));
    chrysalis()
        .args(["flow", "check", "flow.xml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unknown flow format \"xml\""));
    chrysalis()
        .args(["flow", "run"])
        .arg(dir.path().join("missing.yaml"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot read"));
}
