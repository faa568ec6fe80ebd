//! End-to-end tests of the `chrysalis` binary: each subcommand's happy path
//! and its answer to bad input (exit code and message).

#![allow(clippy::unwrap_used)]

mod consensus;
mod demo;
mod flow;
mod hash;
mod keys;
mod node;
mod procs;
mod raft;
mod vault;

use assert_cmd::Command;

/// The `chrysalis` binary, with no inherited configuration.
pub(crate) fn chrysalis() -> Command {
    let mut cmd = Command::cargo_bin("chrysalis").expect("the chrysalis binary is built");
    cmd.env_remove("CHRYSALIS_VAULT_PASSPHRASE")
        .env("NO_COLOR", "1");
    cmd
}
