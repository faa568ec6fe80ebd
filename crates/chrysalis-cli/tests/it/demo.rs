use crate::chrysalis;
use predicates::prelude::*;

#[test]
fn the_cluster_demo_runs_and_every_check_holds() {
    // Real node processes: start, learn, SIGKILL one, restart it, converge,
    // agree on a log, catch an equivocating validator (four nodes: the
    // fewest that tolerate one liar).
    chrysalis()
        .args(["demo", "--nodes", "4", "--rounds", "6"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("checks held")
                .and(predicate::str::contains("killed with SIGKILL"))
                .and(predicate::str::contains(
                    "restarted from its data directory",
                ))
                .and(predicate::str::contains("hold the same state digest"))
                .and(predicate::str::contains("certifications decided on all"))
                .and(predicate::str::contains(
                    "caught node 4 (validator 3) double-signing",
                ))
                .and(predicate::str::contains("each record convicts on its own"))
                .and(predicate::str::contains("UNEXPECTED").not()),
        );
}

#[test]
fn the_tour_runs_and_every_check_holds() {
    chrysalis()
        .args(["demo", "--tour"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("checks held")
                .and(predicate::str::contains("UNEXPECTED").not()),
        );
}

#[test]
fn bad_demo_arguments_are_refused_clearly() {
    chrysalis()
        .args(["demo", "--nodes", "1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--nodes must be between 2 and 9"));
    chrysalis()
        .args(["demo", "--rounds", "1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "--rounds must be between 3 and 1000",
        ));
    chrysalis()
        .args(["demo", "--gossip-interval-ms", "0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--gossip-interval-ms"));
}
