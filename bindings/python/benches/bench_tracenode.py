"""TraceNode creation from Python, next to a pure-Python peer.

Prints ns per creation (best of several timeit repeats) for:
- chrysalis.TraceNode(origin, physical_ms, kind, payload): validates the
  kind, encodes canonically and hashes (RFC 6962 leaf hash, SHA-256);
- a frozen dataclass with the same fields plus hashlib.sha256 over them (the
  least a pure-Python content-addressed record costs);
- a frozen dataclass alone (no hashing).

Run after installing the wheel: `python bench_tracenode.py [--quick]
[--cpu-time]`. `--cpu-time` times with the thread's own CPU clock instead of
the wall clock, so time spent descheduled on a loaded machine is not counted.
"""

import hashlib
import sys
import time
import timeit
from dataclasses import dataclass

import chrysalis
from chrysalis import TraceNode

ORIGIN = bytes(range(16))
PAYLOAD = bytes(64)
KIND = "tool.call"


@dataclass(frozen=True)
class PyNode:
    origin: bytes
    physical_ms: int
    kind: str
    payload: bytes
    id: bytes


@dataclass(frozen=True)
class PyNodeNoHash:
    origin: bytes
    physical_ms: int
    kind: str
    payload: bytes


def py_node(ms: int) -> PyNode:
    h = hashlib.sha256(b"\x00" + ORIGIN + ms.to_bytes(8, "big") + KIND.encode() + PAYLOAD)
    return PyNode(ORIGIN, ms, KIND, PAYLOAD, h.digest())


def best_ns(stmt: str, number: int, repeat: int) -> float:
    timer = time.thread_time if "--cpu-time" in sys.argv else time.perf_counter
    times = timeit.repeat(stmt, number=number, repeat=repeat, globals=globals(), timer=timer)
    return min(times) / number * 1e9


def main() -> None:
    quick = "--quick" in sys.argv
    number, repeat = (2_000, 2) if quick else (200_000, 7)
    rows = [
        ("chrysalis.TraceNode(...)", "TraceNode(ORIGIN, 1_800_000_000_000, KIND, PAYLOAD)"),
        ("dataclass + hashlib.sha256", "py_node(1_800_000_000_000)"),
        ("dataclass only", "PyNodeNoHash(ORIGIN, 1_800_000_000_000, KIND, PAYLOAD)"),
        ("empty statement (loop floor)", "pass"),
    ]
    clock = "thread CPU time" if "--cpu-time" in sys.argv else "wall clock"
    print(f"python {sys.version.split()[0]}, {number} creations x {repeat} repeats, {clock}, best:")
    for name, stmt in rows:
        print(f"  {name:<28} {best_ns(stmt, number, repeat):8.1f} ns")


if __name__ == "__main__":
    main()
