use super::*;
use crate::frame;
use crate::head::Checkpoint;
use crate::node::TraceKind;
use crate::storage::{Fault, FaultyStorage, MemoryStorage};
use chrysalis_types::AgentId;
use proptest::prelude::*;

fn node(agent: u8, ms: u64, kind: &str, payload: &[u8], parents: &[TraceId]) -> TraceNode {
    TraceNode::builder(
        AgentId::new([agent; 16]),
        Timestamp::new(ms, 0),
        TraceKind::new(kind).unwrap(),
    )
    .payload_bytes(payload)
    .parents(parents.iter().copied())
    .build()
    .unwrap()
}

fn chain(n: u64) -> Vec<TraceNode> {
    (0..n)
        .map(|i| node((i % 3) as u8, 100 - i, "step", &i.to_le_bytes(), &[]))
        .collect()
}

fn open_memory(policy: FsyncPolicy) -> TraceLedger<MemoryStorage> {
    TraceLedger::open(MemoryStorage::new(), policy).unwrap().0
}

#[test]
fn appended_entries_read_back_and_prove_inclusion() {
    let mut ledger = open_memory(FsyncPolicy::Always);
    let nodes = chain(10);
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(ledger.append(n.clone()).unwrap(), i as u64);
    }
    assert_eq!(ledger.len(), 10);
    let root = ledger.root();
    for (i, n) in nodes.iter().enumerate() {
        let i = i as u64;
        assert_eq!(&ledger.get(i).unwrap(), n);
        assert_eq!(ledger.position(&n.id()), Some(i));
        let proof = ledger.inclusion_proof(i, 10).unwrap();
        proof.verify(&n.leaf_hash(), &root).unwrap();
    }
    assert!(matches!(ledger.get(10), Err(ReadError::NoSuchEntry { .. })));
    // Reopening rebuilds the same tree.
    let (again, recovery) = TraceLedger::open(ledger.into_storage(), FsyncPolicy::Always).unwrap();
    assert_eq!(recovery.records, 10);
    assert_eq!(recovery.truncated_bytes, 0);
    assert_eq!(again.root(), root);
}

#[test]
fn batch_policy_acknowledges_only_on_count_or_delay() {
    let policy = FsyncPolicy::Batch {
        max_entries: 3,
        max_delay_ms: 50,
    };
    let mut ledger = open_memory(policy);
    let nodes = chain(5);
    assert_eq!(ledger.submit(nodes[0].clone(), 1000).unwrap(), 0);
    assert_eq!(ledger.submit(nodes[1].clone(), 1010).unwrap(), 1);
    assert_eq!((ledger.len(), ledger.staged_len()), (0, 2));
    assert!(ledger.storage().durable().is_empty());
    assert_eq!(ledger.poll(1049).unwrap(), 0);
    assert_eq!(ledger.poll(1050).unwrap(), 2);
    assert_eq!(ledger.storage().durable(), ledger.storage().written());
    for n in &nodes[2..5] {
        ledger.submit(n.clone(), 2000).unwrap();
    }
    assert_eq!(ledger.len(), 5, "a full batch commits at once");
}

#[test]
fn duplicates_and_unknown_parents_are_refused() {
    let mut ledger = open_memory(FsyncPolicy::Never);
    let a = node(1, 1, "a", b"x", &[]);
    ledger.append(a.clone()).unwrap();
    assert!(matches!(
        ledger.append(a.clone()),
        Err(AppendError::Duplicate { index: 0, .. })
    ));
    let orphan = node(1, 2, "a", b"y", &[TraceId::new([9; 32])]);
    assert!(matches!(
        ledger.append(orphan),
        Err(AppendError::UnknownParent(_))
    ));
    // A parent staged in the same batch is fine; a refused batch stages nothing.
    let b = node(1, 3, "a", b"b", &[a.id()]);
    let c = node(1, 4, "a", b"c", &[b.id()]);
    assert!(ledger.append_batch([b.clone(), a.clone()]).is_err());
    assert_eq!(ledger.staged_len(), 0);
    assert_eq!(ledger.append_batch([b, c]).unwrap(), 1..3);
}

#[test]
fn queries_page_through_every_match() {
    let mut ledger = open_memory(FsyncPolicy::Never);
    let root = node(0, 50, "root", b"r", &[]);
    ledger.append(root.clone()).unwrap();
    let mut last = root.id();
    let mut all = vec![root.clone()];
    for i in 0..40u64 {
        let parents = if i % 2 == 0 { vec![last] } else { vec![] };
        let n = node(
            (i % 3) as u8,
            (i * 7) % 100,
            if i % 4 == 0 { "even" } else { "odd" },
            &i.to_le_bytes(),
            &parents,
        );
        ledger.append(n.clone()).unwrap();
        if i % 2 == 0 {
            last = n.id();
        }
        all.push(n);
    }
    let collect = |q: &Query, limit: usize| -> Vec<u64> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = ledger.query(q, cursor, limit).unwrap();
            assert!(page.entries.len() <= limit);
            out.extend(page.entries.iter().map(|(i, _)| *i));
            match page.next {
                Some(c) => cursor = Some(c),
                None => return out,
            }
        }
    };
    let expect = |f: &dyn Fn(&TraceNode) -> bool| -> Vec<u64> {
        (0..all.len() as u64)
            .filter(|i| f(&all[*i as usize]))
            .collect()
    };
    let agent = AgentId::new([1; 16]);
    assert_eq!(
        collect(&Query::ByOrigin(agent), 4),
        expect(&|n| n.origin() == agent)
    );
    let even = TraceKind::new("even").unwrap();
    assert_eq!(
        collect(&Query::ByKind(even.clone()), 3),
        expect(&|n| n.kind() == &even)
    );
    let (from, to) = (Timestamp::new(20, 0), Timestamp::new(60, 0));
    let mut in_range: Vec<(Timestamp, u64)> =
        expect(&|n| n.timestamp() >= from && n.timestamp() < to)
            .into_iter()
            .map(|i| (all[i as usize].timestamp(), i))
            .collect();
    in_range.sort();
    let by_time: Vec<u64> = in_range.into_iter().map(|(_, i)| i).collect();
    assert_eq!(collect(&Query::TimeRange { from, to }, 5), by_time);
    // The chain: every even step descends from the root.
    let descendants = collect(&Query::Descendants(root.id()), 6);
    assert_eq!(
        descendants,
        (0..40u64)
            .filter(|i| i % 2 == 0)
            .map(|i| i + 1)
            .collect::<Vec<_>>()
    );
    let tip = all[39].id(); // step 38, on the chain
    let ancestors = collect(&Query::Ancestors(tip), 2);
    let mut expected: Vec<u64> = descendants.iter().copied().filter(|i| *i < 39).collect();
    expected.insert(0, 0);
    assert_eq!(ancestors, expected);
    assert!(matches!(
        ledger.query(&Query::Ancestors(TraceId::new([0; 32])), None, 5),
        Err(ReadError::Query(QueryError::UnknownId(_)))
    ));
    assert!(matches!(
        ledger.query(&Query::ByOrigin(agent), None, 0),
        Err(ReadError::Query(QueryError::BadLimit { .. }))
    ));
}

#[test]
fn storage_faults_are_never_acknowledged() {
    for fault in [Fault::FailedWrite, Fault::TornWrite { kept_bytes: 30 }] {
        let (mut ledger, _) = TraceLedger::open(
            FaultyStorage::new(MemoryStorage::new()),
            FsyncPolicy::Always,
        )
        .unwrap();
        let nodes = chain(4);
        ledger.append_batch(nodes[..2].to_vec()).unwrap();
        let root = ledger.root();
        let mut storage = ledger.into_storage();
        storage.fail_next_write(fault);
        let (mut ledger, _) = TraceLedger::open(storage, FsyncPolicy::Always).unwrap();
        assert!(matches!(
            ledger.append(nodes[2].clone()),
            Err(AppendError::Storage(_))
        ));
        assert!(ledger.is_poisoned());
        assert_eq!(ledger.len(), 2);
        assert!(matches!(
            ledger.append(nodes[3].clone()),
            Err(AppendError::Poisoned)
        ));
        // After a crash, recovery drops the torn tail and keeps what was acknowledged.
        let image = ledger.storage().inner().crash(usize::MAX);
        let (back, recovery) = TraceLedger::open(image, FsyncPolicy::Always).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.root(), root);
        if let Fault::TornWrite { kept_bytes } = fault {
            assert_eq!(recovery.truncated_bytes, kept_bytes as u64);
            assert!(recovery.tail_error.is_some());
        }
    }
    // A failed sync: not acknowledged; the unsynced bytes may or may not survive.
    let (mut ledger, _) = TraceLedger::open(
        FaultyStorage::new(MemoryStorage::new()),
        FsyncPolicy::Always,
    )
    .unwrap();
    ledger.append(chain(1)[0].clone()).unwrap();
    let mut storage = ledger.into_storage();
    storage.fail_next_sync();
    let (mut ledger, _) = TraceLedger::open(storage, FsyncPolicy::Always).unwrap();
    assert!(ledger.append(chain(2)[1].clone()).is_err());
    assert_eq!(ledger.len(), 1);
    for kept in [0, usize::MAX] {
        let (back, _) =
            TraceLedger::open(ledger.storage().inner().crash(kept), FsyncPolicy::Always).unwrap();
        assert!(!back.is_empty());
    }
}

#[test]
fn a_checksummed_but_invalid_record_refuses_to_open() {
    let mut storage = MemoryStorage::new();
    let mut batch = frame::FrameBatch::new();
    batch.push(chain(1)[0].encoding());
    batch.push(b"not a trace node");
    storage.write(&batch).unwrap();
    storage.sync().unwrap();
    assert!(matches!(
        TraceLedger::open(storage, FsyncPolicy::Always),
        Err(OpenError::BadRecord { index: 1, .. })
    ));
}

#[test]
fn signed_heads_follow_the_ledger() {
    let key = SigningKey::from_seed(&[4; 32]);
    let mut ledger = open_memory(FsyncPolicy::Never);
    ledger.append_batch(chain(3)).unwrap();
    let mut checkpoint = Checkpoint::new(
        key.verifying_key(),
        ledger.sign_head(&key, Timestamp::new(1, 0)),
    )
    .unwrap();
    ledger.append_batch(chain(9).split_off(3)).unwrap();
    let head = ledger.sign_head(&key, Timestamp::new(2, 0));
    checkpoint
        .advance(head, &ledger.consistency_proof(3, 9).unwrap())
        .unwrap();
    assert_eq!(checkpoint.head().tree_size, 9);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Under random faults and crashes, every acknowledged entry survives
    /// and the recovered root at the acknowledged size is the acknowledged root.
    #[test]
    fn random_faults_never_lose_acknowledged_entries(
        seed in any::<u64>(),
        batches in proptest::collection::vec(1usize..6, 1..12),
        kept in proptest::collection::vec(any::<usize>(), 12),
    ) {
        let mut image = MemoryStorage::new();
        let mut acked: Vec<TraceNode> = Vec::new();
        let mut counter = 0u64;
        for (round, size) in batches.iter().enumerate() {
            let storage = FaultyStorage::random(image.clone(), seed ^ round as u64, 250);
            let (mut ledger, _) = TraceLedger::open(storage, FsyncPolicy::Always).unwrap();
            prop_assert!(ledger.len() >= acked.len() as u64);
            for (i, n) in acked.iter().enumerate() {
                prop_assert_eq!(&ledger.get(i as u64).unwrap(), n);
            }
            // Entries beyond the acknowledged ones (from a failed sync) are adopted.
            acked = (0..ledger.len()).map(|i| ledger.get(i).unwrap()).collect();
            let batch: Vec<TraceNode> = (0..*size).map(|_| { counter += 1; node(1, counter, "k", &counter.to_le_bytes(), &[]) }).collect();
            if ledger.append_batch(batch.clone()).is_ok() {
                acked.extend(batch);
            }
            let root = ledger.root_at(acked.len() as u64).unwrap();
            image = ledger.storage().inner().crash(kept[round] % 64);
            let (back, _) = TraceLedger::open(image.clone(), FsyncPolicy::Always).unwrap();
            prop_assert_eq!(back.root_at(acked.len() as u64).unwrap(), root);
        }
    }
}
