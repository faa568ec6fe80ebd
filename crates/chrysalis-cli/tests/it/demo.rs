use crate::chrysalis;
use predicates::prelude::*;

#[test]
fn the_demo_runs_and_every_check_holds() {
    chrysalis().arg("demo").assert().success().stdout(
        predicate::str::contains("checks held").and(predicate::str::contains("UNEXPECTED").not()),
    );
}
