"""TraceLedger on disk: append, reopen, proofs, queries, the gate recording into it."""

import json

import pytest

import chrysalis
from conftest import NOW_MS, PARENT, SUB


def node(i, origin=PARENT, parents=(), kind="tool.call"):
    return chrysalis.TraceNode(origin, NOW_MS + i, kind, f'{{"i": {i}}}', parents)


def test_append_reopen_and_proofs(tmp_path):
    ledger = chrysalis.TraceLedger.open(tmp_path / "ledger")
    nodes = [node(i) for i in range(5)]
    assert [ledger.append(n) for n in nodes] == list(range(5))
    old_root, old_size = ledger.root, len(ledger)
    assert ledger.append_batch([node(i) for i in range(5, 8)]) == (5, 8)
    root = ledger.root
    del ledger
    reopened = chrysalis.TraceLedger.open(tmp_path / "ledger")
    assert len(reopened) == 8 and reopened.root == root
    assert reopened.get(3) == nodes[3]
    assert reopened.get_by_id(nodes[2].id) == (2, nodes[2])
    assert reopened.get_by_id(bytes(32)) is None
    proof = reopened.inclusion_proof(3)
    proof.verify(nodes[3], root)
    again = chrysalis.InclusionProof.from_bytes(proof.to_bytes())
    again.verify(nodes[3], root)
    with pytest.raises(chrysalis.ProofError):
        proof.verify(nodes[4], root)
    with pytest.raises(chrysalis.ProofError):
        proof.verify(nodes[3], old_root)
    consistency = reopened.consistency_proof(old_size)
    consistency.verify(old_root, root)
    with pytest.raises(chrysalis.ProofError):
        consistency.verify(root, old_root)
    with pytest.raises(chrysalis.LedgerError):
        reopened.get(99)


def test_queries_are_paged(tmp_path):
    ledger = chrysalis.TraceLedger.open(tmp_path / "q", fsync="never")
    root = node(0)
    ledger.append(root)
    child = node(1, origin=SUB, parents=[root.id])
    ledger.append(child)
    for i in range(2, 7):
        ledger.append(node(i, kind="memory.write"))
    page, cursor = ledger.query(kind="memory.write", limit=3)
    assert [i for i, _ in page] == [2, 3, 4] and cursor is not None
    rest, end = ledger.query(kind="memory.write", after=cursor, limit=3)
    assert [i for i, _ in rest] == [5, 6] and end is None
    by_origin, _ = ledger.query(origin=SUB)
    assert [n for _, n in by_origin] == [child]
    assert [n for _, n in ledger.query(descendants_of=root.id)[0]] == [child]
    assert [n for _, n in ledger.query(ancestors_of=child.id)[0]] == [root]
    in_range, _ = ledger.query(time_range=(NOW_MS + 1, NOW_MS + 3))
    assert [i for i, _ in in_range] == [1, 2]
    with pytest.raises(ValueError):
        ledger.query()
    with pytest.raises(ValueError):
        ledger.query(kind="a", origin=SUB)


def test_gate_records_into_the_ledger(tmp_path, covenant):
    ledger = chrysalis.TraceLedger.open(tmp_path / "gate")
    gate = chrysalis.CovenantGate(chrysalis.Budget(calls=1), ledger)
    gate.check(covenant, PARENT, "read", "/data/a", now_ms=NOW_MS).commit()
    with pytest.raises(chrysalis.CovenantRefused) as err:
        gate.check(covenant, PARENT, "read", "/data/a", now_ms=NOW_MS)
    assert err.value.code == "budget.exhausted"
    assert len(ledger) == 2
    decisions, _ = ledger.query(kind="covenant.decision")
    assert [json.loads(n.payload)["allowed"] for _, n in decisions] == [True, False]
    assert decisions[1][1].id == err.value.trace_id
    assert [n.id for n in gate.trace] == [n.id for _, n in decisions]
    ledger.inclusion_proof(1).verify(decisions[1][1], ledger.root)
