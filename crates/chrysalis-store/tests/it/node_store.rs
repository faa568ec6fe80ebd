//! Node store: crash safety with real processes, and damaged files.
//!
//! The crash test's writer is this test binary itself, re-executed with
//! [`WRITER_ENV`] set (as in `crash.rs`). It writes agent states in single
//! puts and group-committed batches, appends to the consensus WAL, and
//! prints `ack <n>` after write `n` returned. The test SIGKILLs it after a
//! random number of acknowledgements, many times, reopens the store and
//! checks that every acknowledged write is present and intact, and that
//! every batch is all-or-nothing. While a writer runs, opening the store
//! from the test process must fail as locked. Rounds default to 25;
//! `CHRYSALIS_NODE_STORE_CRASH_ROUNDS` and `CHRYSALIS_CRASH_SEED` override
//! them (the seed is printed).

use chrysalis_store::node_store::{NODE_DB_FILE, NodeStore, NodeStoreOpenError};
use chrysalis_types::AgentId;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

const WRITER_ENV: &str = "CHRYSALIS_NODE_STORE_CRASH_WRITER";
const TEST_NAME: &str = "node_store::sigkilled_writers_never_lose_acknowledged_writes";
/// Agents per batch write; write `n` touches agents `n*BATCH .. n*BATCH+BATCH`.
const BATCH: u64 = 4;

/// Write `n`'s state for agent slot `j`: deterministic, sized to vary.
fn state(n: u64, j: u64) -> Vec<u8> {
    let len = 16 + ((n * 7 + j * 13) % 300) as usize;
    (0..len)
        .map(|i| (n as u8).wrapping_mul(31) ^ (j as u8).wrapping_add(i as u8))
        .collect()
}

fn agent(n: u64, j: u64) -> AgentId {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    bytes[8..].copy_from_slice(&j.to_be_bytes());
    AgentId::new(bytes)
}

/// Write `n` stores one agent (when `n % 3 == 0`) or a group-committed
/// batch of [`BATCH`] agents, then appends WAL entry `n`.
fn write(store: &NodeStore, n: u64) {
    if n.is_multiple_of(3) {
        store.put_agent(agent(n, 0), &state(n, 0)).unwrap();
    } else {
        let states: Vec<(AgentId, Vec<u8>)> =
            (0..BATCH).map(|j| (agent(n, j), state(n, j))).collect();
        let batch: Vec<(AgentId, &[u8])> = states.iter().map(|(a, s)| (*a, &s[..])).collect();
        store.put_agents(&batch).unwrap();
    }
    let range = store.wal_append(&[&n.to_be_bytes()]).unwrap();
    assert_eq!(range, n..n + 1);
}

fn writer(dir: &str) -> ! {
    let store = NodeStore::open(Path::new(dir)).unwrap();
    let mut n = store.wal_next_index().unwrap();
    let mut out = std::io::stdout().lock();
    loop {
        write(&store, n);
        if writeln!(out, "ack {n}").and_then(|()| out.flush()).is_err() {
            std::process::exit(0); // the test went away
        }
        n += 1;
    }
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Runs the writer until `kill_after` acknowledgements, SIGKILLs it, and
/// returns the highest write it acknowledged (counting lines printed after
/// the count was reached).
fn run_writer(dir: &Path, kill_after: u64) -> Option<u64> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads", "1"])
        .env(WRITER_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut last = None;
    let mut acks = 0;
    for line in lines.by_ref() {
        if let Some(n) = line.unwrap().strip_prefix("ack ") {
            last = Some(n.parse::<u64>().unwrap());
            acks += 1;
            if acks >= kill_after {
                break;
            }
        }
    }
    // While the writer lives, its lock keeps every other process out.
    let err = NodeStore::open(dir).unwrap_err();
    assert!(matches!(err, NodeStoreOpenError::Locked { .. }), "{err:?}");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for line in lines.map_while(Result::ok) {
        if let Some(n) = line.strip_prefix("ack ") {
            last = Some(n.parse().unwrap());
        }
    }
    last
}

/// Checks writes `0..=last` are all present and intact, and that every
/// write after that is either wholly present or wholly absent.
fn check(dir: &Path, last: Option<u64>, round: u64) -> u64 {
    let store = NodeStore::open(dir).unwrap();
    let next = store.wal_next_index().unwrap();
    let acknowledged = last.map_or(0, |l| l + 1);
    assert!(next >= acknowledged, "round {round}: WAL lost entries");
    let wal = store.wal_read(0..next).unwrap();
    assert_eq!(wal.len() as u64, next, "round {round}: WAL has holes");
    for (i, (index, entry)) in wal.iter().enumerate() {
        assert_eq!(*index, i as u64);
        assert_eq!(entry, &index.to_be_bytes(), "round {round}: entry {index}");
    }
    for n in 0..next {
        let slots = if n % 3 == 0 { 1 } else { BATCH };
        for j in 0..slots {
            let got = store.agent(agent(n, j)).unwrap();
            assert_eq!(got, Some(state(n, j)), "round {round}: write {n} slot {j}");
        }
    }
    // A write the WAL does not hold never landed partly: its agents are
    // absent (the agents and the WAL entry are separate transactions, so
    // the batch of write `next` may be present in full, never in part).
    let partial: Vec<bool> = (0..BATCH)
        .map(|j| store.agent(agent(next, j)).unwrap().is_some())
        .collect();
    let slots = if next.is_multiple_of(3) {
        1
    } else {
        BATCH as usize
    };
    let present = partial[..slots].iter().filter(|p| **p).count();
    assert!(
        present == 0 || present == slots,
        "round {round}: batch {next} is torn: {partial:?}"
    );
    next
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn sigkilled_writers_never_lose_acknowledged_writes() {
    if let Ok(dir) = std::env::var(WRITER_ENV) {
        writer(&dir);
    }
    let seed = env_u64("CHRYSALIS_CRASH_SEED", 0x5eed_0de5);
    let rounds = env_u64("CHRYSALIS_NODE_STORE_CRASH_ROUNDS", 25);
    println!("node store crash test seed {seed}, {rounds} rounds");
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed | 1);
    let mut total = 0;
    for round in 0..rounds {
        let kill_after = 1 + rng.next() % 30;
        let last = run_writer(dir.path(), kill_after);
        let next = check(dir.path(), last, round);
        assert!(next >= total, "round {round}: writes went backwards");
        total = next;
    }
    println!("{total} writes survived {rounds} SIGKILLs");
    assert!(total >= rounds, "the writers made progress");
}

fn write_file(dir: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(NODE_DB_FILE), bytes).unwrap();
}

#[test]
fn garbage_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("text", b"this is not a database at all\n".repeat(200)),
        ("zeros", vec![0u8; 8192]),
        ("short", vec![0x72, 0x65, 0x64, 0x62]),
        ("ones", vec![0xff; 4096]),
    ] {
        let sub = dir.path().join(name);
        write_file(&sub, &bytes);
        let err = NodeStore::open(&sub).unwrap_err();
        assert!(
            matches!(
                err,
                NodeStoreOpenError::Corrupt { .. } | NodeStoreOpenError::Storage { .. }
            ),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(NODE_DB_FILE), "{name}: {err}");
    }
}

#[test]
fn damaged_database_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    {
        let store = NodeStore::open(&good).unwrap();
        for n in 0..50u64 {
            store.put_agent(agent(n, 0), &state(n, 0)).unwrap();
        }
    }
    let original = std::fs::read(good.join(NODE_DB_FILE)).unwrap();
    let mut rng = Rng(0xbad_da7a);
    let (mut opened, mut refused) = (0, 0);
    for case in 0..40 {
        let mut bytes = original.clone();
        match case % 3 {
            0 => bytes.truncate((rng.next() % bytes.len() as u64) as usize),
            1 => {
                for _ in 0..8 {
                    let i = (rng.next() % bytes.len() as u64) as usize;
                    bytes[i] ^= 1 << (rng.next() % 8);
                }
            }
            _ => {
                let start = (rng.next() % bytes.len() as u64) as usize;
                let end = (start + 512).min(bytes.len());
                bytes[start..end].fill(0xa5);
            }
        }
        let sub = dir.path().join(format!("case{case}"));
        write_file(&sub, &bytes);
        // Either the damage is refused with a typed error, or the store
        // opens and reads return values or typed errors: no panic.
        match NodeStore::open(&sub) {
            Ok(store) => {
                opened += 1;
                let _ = store.agents();
                let _ = store.agent(agent(7, 0));
            }
            Err(err) => {
                refused += 1;
                assert!(!err.to_string().is_empty());
            }
        }
    }
    assert_eq!(opened + refused, 40);
    assert!(refused > 0, "some damage was detected");
}
