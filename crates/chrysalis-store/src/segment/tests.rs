use super::*;
use chrysalis_ledger::{TraceKind, TraceNode};
use chrysalis_types::{AgentId, Timestamp};

fn node(i: u64) -> TraceNode {
    TraceNode::builder(
        AgentId::new([7; 16]),
        Timestamp::new(i, 0),
        TraceKind::new("test.step").unwrap(),
    )
    .payload_bytes(vec![i as u8; 64])
    .build()
    .unwrap()
}

fn open(dir: &Path, max_segment_bytes: u64) -> (TraceLedger<SegmentStorage>, Recovery) {
    open_ledger(
        dir,
        SegmentConfig { max_segment_bytes },
        FsyncPolicy::Always,
    )
    .unwrap()
}

#[test]
fn entries_survive_reopen_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ledger, recovery) = open(dir.path(), 1000);
    assert_eq!(recovery, Recovery::default());
    for chunk in (0..60).collect::<Vec<u64>>().chunks(7) {
        ledger.append_batch(chunk.iter().map(|i| node(*i))).unwrap();
    }
    let root = ledger.root();
    let segments = ledger.storage().segment_paths();
    assert!(segments.len() > 3, "small segments roll over");
    drop(ledger);
    let (ledger, recovery) = open(dir.path(), 1000);
    assert_eq!(recovery.records, 60);
    assert_eq!(ledger.root(), root);
    for i in 0..60 {
        assert_eq!(ledger.get(i).unwrap(), node(i));
    }
}

#[test]
fn torn_and_corrupt_tails_are_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ledger, _) = open(dir.path(), 1 << 20);
    ledger.append_batch((0..5).map(node)).unwrap();
    let root = ledger.root();
    let last = ledger.storage().segment_paths().pop().unwrap();
    drop(ledger);
    let good_len = fs::metadata(&last).unwrap().len();

    // A torn frame: the first 20 bytes of a valid one.
    let mut batch = FrameBatch::new();
    batch.push(node(5).encoding());
    let mut file = OpenOptions::new().append(true).open(&last).unwrap();
    file.write_all(&batch.bytes()[..20]).unwrap();
    let (mut ledger, recovery) = open(dir.path(), 1 << 20);
    assert_eq!(recovery.records, 5);
    assert_eq!(recovery.truncated_bytes, 20);
    assert!(matches!(recovery.tail_error, Some(FrameError::Torn { .. })));
    assert_eq!(fs::metadata(&last).unwrap().len(), good_len);
    assert_eq!(ledger.root(), root);

    // Appending after recovery works, then a flipped bit in the tail frame.
    ledger.append(node(5)).unwrap();
    drop(ledger);
    let mut bytes = fs::read(&last).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x01;
    fs::write(&last, &bytes).unwrap();
    let (ledger, recovery) = open(dir.path(), 1 << 20);
    assert_eq!(ledger.len(), 5);
    assert!(matches!(
        recovery.tail_error,
        Some(FrameError::BadChecksum { .. })
    ));
    assert_eq!(ledger.root(), root);
}

#[test]
fn damage_before_the_last_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ledger, _) = open(dir.path(), 300);
    for i in 0..10 {
        ledger.append(node(i)).unwrap();
    }
    let first = ledger.storage().segment_paths().remove(0);
    drop(ledger);
    let mut bytes = fs::read(&first).unwrap();
    bytes[10] ^= 0xff;
    fs::write(&first, &bytes).unwrap();
    let storage = SegmentStorage::open(dir.path(), SegmentConfig::default()).unwrap();
    assert!(matches!(
        TraceLedger::open(storage, FsyncPolicy::Always),
        Err(chrysalis_ledger::OpenError::Storage(
            StorageError::Damaged { index: 0, .. }
        ))
    ));
}

#[test]
fn stray_files_are_ignored_and_names_parse_strictly() {
    assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
    assert_eq!(parse_segment_name("42.seg"), None);
    assert_eq!(parse_segment_name("0000000000000000004x.seg"), None);
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    let (mut ledger, _) = open(dir.path(), 1 << 20);
    ledger.append(node(1)).unwrap();
    assert_eq!(ledger.storage().segment_paths().len(), 1);
}
