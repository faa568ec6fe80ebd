"""Budgets and the CovenantGate: reserve/commit/release, decisions as TraceNodes."""

import json
import threading

import pytest

import chrysalis
from conftest import NOW_MS, PARENT


def test_reserve_commit_refunds_difference():
    budget = chrysalis.Budget(cost=100, calls=10)
    r = budget.reserve(cost=40, calls=1)
    assert budget.snapshot()["available"]["cost"] == 60
    r.commit(cost=15)
    snap = budget.snapshot()
    assert snap["spent"]["cost"] == 15 and snap["spent"]["calls"] == 1
    assert snap["available"]["cost"] == 85 and snap["reserved"]["cost"] == 0
    with pytest.raises(chrysalis.BudgetCommitError):
        r.commit()


def test_release_and_context_manager_refund():
    budget = chrysalis.Budget(tokens=10)
    budget.reserve(tokens=10).release()
    with budget.reserve(tokens=7) as r:
        assert r.amount["tokens"] == 7
        assert budget.snapshot()["available"]["tokens"] == 3
    assert budget.snapshot()["available"]["tokens"] == 10


def test_exhausted_is_typed():
    budget = chrysalis.Budget(calls=1)
    held = budget.reserve(calls=1)
    with pytest.raises(chrysalis.BudgetExhausted) as err:
        budget.reserve(calls=1)
    assert (err.value.dimension, err.value.requested, err.value.available) == ("calls", 1, 0)
    held.release()


def test_over_commit_refused_and_released():
    budget = chrysalis.Budget(cost=10)
    with pytest.raises(chrysalis.BudgetCommitError):
        budget.reserve(cost=4).commit(cost=5)
    assert budget.snapshot()["available"]["cost"] == 10


def test_threads_never_overdraw():
    budget = chrysalis.Budget(cost=50)
    committed = []

    def worker():
        mine = 0
        for i in range(300):
            try:
                r = budget.reserve(cost=3)
            except chrysalis.BudgetExhausted:
                continue
            if i % 2:
                r.commit(cost=1)
                mine += 1
            else:
                r.release()
        committed.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = budget.snapshot()
    assert snap["reserved"]["cost"] == 0
    assert snap["spent"]["cost"] == sum(committed)
    assert snap["available"]["cost"] + snap["spent"]["cost"] == 50


def test_gate_records_every_decision(covenant):
    budget = chrysalis.Budget(cost=10)
    gate = chrysalis.CovenantGate(budget)
    r = gate.check(covenant, PARENT, "read", "/data/a", cost=4, now_ms=NOW_MS)
    r.commit(cost=2)
    with pytest.raises(chrysalis.CovenantRefused) as denied:
        gate.check(covenant, PARENT, "delete", "/data/a", now_ms=NOW_MS)
    with pytest.raises(chrysalis.CovenantRefused) as broke:
        gate.check(covenant, PARENT, "read", "/data/a", cost=9, now_ms=NOW_MS)
    assert denied.value.code == "capability.no_grant"
    assert broke.value.code == "budget.exhausted"
    trace = gate.trace
    assert [n.kind for n in trace] == ["covenant.decision"] * 3
    assert [n.id for n in trace] == [r.trace_id, denied.value.trace_id, broke.value.trace_id]
    assert trace[1].parents == (trace[0].id,) and trace[2].parents == (trace[1].id,)
    decisions = [json.loads(n.payload) for n in trace]
    assert [d["allowed"] for d in decisions] == [True, False, False]
    assert decisions[2]["code"] == "budget.exhausted"
    assert decisions[0]["amount"]["cost"] == 4
    assert budget.snapshot()["spent"]["cost"] == 2
