//! Fuzzes the chrysalis-crdt decoder check `chrysalis_crdt::fuzz::causal_context`: it
//! must never panic, and accepted bytes must be canonical and merge
//! idempotently. The same check runs in the crate's test suite.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(failure) = chrysalis_crdt::fuzz::causal_context(data) {
        panic!("{failure}");
    }
});
