//! Crash tests with real processes: a writer process appends to a ledger on
//! disk and prints every acknowledgement and signed tree head; the test
//! SIGKILLs it after a random number of acknowledgements, many times,
//! sometimes leaves a torn frame at the tail (as a power cut would), and
//! after every kill checks that every acknowledged entry is present and
//! intact, that the last signed head is a prefix of the recovered ledger,
//! and that torn tails were dropped.
//!
//! The writer is this test binary itself, re-executed with
//! [`WRITER_ENV`] set. Rounds default to 30; `CHRYSALIS_CRASH_ROUNDS` and
//! `CHRYSALIS_CRASH_SEED` override them (the seed is printed).

use chrysalis_crypto::ed25519::SigningKey;
use chrysalis_ledger::frame::FrameBatch;
use chrysalis_ledger::{
    Checkpoint, FsyncPolicy, SignedTreeHead, TraceKind, TraceLedger, TraceNode,
};
use chrysalis_store::segment::{SegmentConfig, SegmentStorage};
use chrysalis_types::codec::{Decode, Encode};
use chrysalis_types::{AgentId, Timestamp};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

const WRITER_ENV: &str = "CHRYSALIS_LEDGER_CRASH_WRITER";
const WRITER_SEED_ENV: &str = "CHRYSALIS_LEDGER_CRASH_WRITER_SEED";
const TEST_NAME: &str = "crash::sigkilled_writers_never_lose_acknowledged_entries";
/// Small segments, so kills also land around segment rollover.
const SEGMENT_BYTES: u64 = 16 << 10;

fn head_key() -> SigningKey {
    SigningKey::from_seed(&[0x5e; 32])
}

/// Entry `i` of the ledger: deterministic, so the test knows what to expect.
fn entry(i: u64) -> TraceNode {
    let mut payload = [0u8; 64];
    for (j, b) in payload.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(j as u8);
    }
    let builder = TraceNode::builder(
        AgentId::new([(i % 5) as u8; 16]),
        Timestamp::new(1_000 + i, 0),
        TraceKind::new("crash.step").unwrap(),
    )
    .payload_bytes(payload.to_vec());
    let builder = if i % 4 == 1 {
        builder.parent(entry(i - 1).id())
    } else {
        builder
    };
    builder.build().unwrap()
}

fn open(dir: &Path) -> (TraceLedger<SegmentStorage>, chrysalis_ledger::Recovery) {
    let config = SegmentConfig {
        max_segment_bytes: SEGMENT_BYTES,
    };
    let storage = SegmentStorage::open(dir, config).unwrap();
    TraceLedger::open(storage, FsyncPolicy::Always).unwrap()
}

/// xorshift64*: enough randomness for kill points and batch sizes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The writer: appends random-sized group commits forever, printing
/// `ack <len>` after each is durable and `head <hex>` every third one.
fn writer(dir: &str, seed: u64) -> ! {
    let (mut ledger, _) = open(Path::new(dir));
    let key = head_key();
    let mut rng = Rng(seed | 1);
    let mut out = std::io::stdout().lock();
    let mut batches = 0u64;
    while ledger.len() < 1_000_000 {
        let start = ledger.len();
        let size = 1 + rng.below(16);
        let range = ledger
            .append_batch((start..start + size).map(entry))
            .unwrap();
        let mut line = format!("ack {}\n", range.end);
        batches += 1;
        if batches.is_multiple_of(3) {
            let head = ledger.sign_head(&key, Timestamp::new(batches, 0));
            line.push_str(&format!("head {}\n", hex(&head.to_bytes())));
        }
        if out
            .write_all(line.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            std::process::exit(0); // the test went away
        }
    }
    std::process::exit(0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

struct Round {
    last_ack: u64,
    last_head: Option<SignedTreeHead>,
}

/// Runs the writer until `kill_after` acknowledgements, SIGKILLs it, and
/// collects every acknowledgement it printed (including any after the count).
fn run_writer(dir: &Path, seed: u64, kill_after: u64) -> Round {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads", "1"])
        .env(WRITER_ENV, dir)
        .env(WRITER_SEED_ENV, seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut round = Round {
        last_ack: 0,
        last_head: None,
    };
    let mut acks = 0;
    let record = |line: &str, round: &mut Round| {
        if let Some(n) = line.strip_prefix("ack ") {
            round.last_ack = n.parse().unwrap();
            return true;
        }
        if let Some(h) = line.strip_prefix("head ") {
            round.last_head = Some(SignedTreeHead::from_bytes(&unhex(h)).unwrap());
        }
        false
    };
    for line in lines.by_ref() {
        if record(&line.unwrap(), &mut round) {
            acks += 1;
            if acks >= kill_after {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Whatever it printed before dying was acknowledged too.
    for line in lines {
        match line {
            Ok(line) => {
                record(&line, &mut round);
            }
            Err(_) => break,
        }
    }
    round
}

/// Appends part of a valid frame (or random bytes) to the last segment, as
/// a write cut short by a power failure leaves it. Returns the bytes added.
fn tear_tail(dir: &Path, rng: &mut Rng, next: u64) -> u64 {
    let mut segments: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    let Some(last) = segments.pop() else {
        return 0;
    };
    let mut batch = FrameBatch::new();
    batch.push(entry(next).encoding());
    let torn: Vec<u8> = if rng.below(2) == 0 {
        let cut = 1 + rng.below(batch.bytes().len() as u64 - 1) as usize;
        batch.bytes()[..cut].to_vec()
    } else {
        (0..1 + rng.below(100)).map(|_| rng.next() as u8).collect()
    };
    let mut file = std::fs::OpenOptions::new().append(true).open(last).unwrap();
    file.write_all(&torn).unwrap();
    torn.len() as u64
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn sigkilled_writers_never_lose_acknowledged_entries() {
    if let Ok(dir) = std::env::var(WRITER_ENV) {
        writer(&dir, env_u64(WRITER_SEED_ENV, 1));
    }
    let seed = env_u64("CHRYSALIS_CRASH_SEED", 0x00c0_ffee);
    let rounds = env_u64("CHRYSALIS_CRASH_ROUNDS", 30);
    println!("crash test seed {seed}, {rounds} rounds");
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed | 1);
    let trusted = head_key().verifying_key();
    let mut checkpoint: Option<Checkpoint> = None;
    let mut acknowledged = 0;
    let (mut torn_rounds, mut extra_entries) = (0, 0);
    for r in 0..rounds {
        let kill_after = 1 + rng.below(40);
        let round = run_writer(dir.path(), rng.next(), kill_after);
        assert!(
            round.last_ack >= acknowledged,
            "round {r}: acks went backwards"
        );
        acknowledged = round.last_ack;
        let torn = if rng.below(3) == 0 {
            tear_tail(dir.path(), &mut rng, acknowledged.max(1))
        } else {
            0
        };

        let (ledger, recovery) = open(dir.path());
        assert!(
            ledger.len() >= acknowledged,
            "round {r}: {} entries survive, {acknowledged} were acknowledged",
            ledger.len()
        );
        extra_entries += ledger.len() - acknowledged;
        if torn > 0 {
            torn_rounds += 1;
            assert!(
                recovery.truncated_bytes >= torn,
                "round {r}: torn tail dropped"
            );
            assert!(recovery.tail_error.is_some(), "round {r}");
        }
        for i in 0..ledger.len() {
            assert_eq!(
                ledger.get(i).unwrap(),
                entry(i),
                "round {r}: entry {i} intact"
            );
        }
        if let Some(head) = round.last_head {
            head.verify(&trusted).unwrap();
            assert_eq!(
                ledger.root_at(head.tree_size).unwrap(),
                head.root,
                "round {r}"
            );
            let now = ledger.sign_head(&head_key(), Timestamp::new(u64::MAX, r as u32));
            let cp =
                checkpoint.get_or_insert_with(|| Checkpoint::new(trusted, head.clone()).unwrap());
            if head.tree_size >= cp.head().tree_size {
                let proof = ledger
                    .consistency_proof(cp.head().tree_size, head.tree_size)
                    .unwrap();
                cp.advance(head, &proof).unwrap();
            }
            let proof = ledger
                .consistency_proof(cp.head().tree_size, ledger.len())
                .unwrap();
            let mut client = cp.clone();
            client.advance(now, &proof).unwrap();
        }
        acknowledged = ledger.len();
    }
    println!(
        "{acknowledged} entries, {torn_rounds} torn tails dropped, {extra_entries} unacknowledged entries survived"
    );
    assert!(acknowledged > rounds, "the writers made progress");
    assert!(checkpoint.is_some(), "signed heads were seen");
}
