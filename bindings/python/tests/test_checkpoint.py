"""Signed tree heads and checkpoints: a client holding a checkpoint detects
any rewrite of the history it covers, including one made on disk."""

import ast
import inspect
import shutil
from pathlib import Path

import pytest

import chrysalis
from conftest import NOW_MS, PARENT

OPERATOR = chrysalis.SigningKey(bytes([3] * 32))
STRANGER = chrysalis.SigningKey(bytes([4] * 32))


def node(i, text=None):
    payload = text if text is not None else f'{{"i": {i}}}'
    return chrysalis.TraceNode(PARENT, NOW_MS + i, "tool.call", payload)


def ledger_with(path, count, forged=None):
    """A ledger at `path` holding nodes 0..count; `forged` maps an index to
    the node written there instead."""
    ledger = chrysalis.TraceLedger.open(path)
    for i in range(count):
        ledger.append((forged or {}).get(i, node(i)))
    return ledger


def checkpoint_of(ledger):
    head = ledger.signed_head(OPERATOR, physical_ms=NOW_MS)
    return chrysalis.Checkpoint(OPERATOR.public_key, head)


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli), as the segment frames use, bit by bit."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def rewrite_entry_on_disk(directory: Path, index: int, replacement: bytes) -> None:
    """What an attacker with write access does: replaces entry `index`'s
    frame payload (same length) and fixes its CRC, so the ledger still opens."""
    (segment,) = sorted(directory.glob("*.seg"))
    data = bytearray(segment.read_bytes())
    offset = 0
    for _ in range(index):
        offset += 8 + int.from_bytes(data[offset : offset + 4], "little")
    length = int.from_bytes(data[offset : offset + 4], "little")
    assert length == len(replacement), "the forgery keeps the frame's length"
    data[offset + 8 : offset + 8 + length] = replacement
    data[offset + 4 : offset + 8] = crc32c(data[offset : offset + 4] + replacement).to_bytes(4, "little")
    segment.write_bytes(bytes(data))


def test_signed_heads_verify_and_round_trip(tmp_path):
    ledger = ledger_with(tmp_path / "l", 5)
    head = ledger.signed_head(OPERATOR, physical_ms=NOW_MS, logical=2)
    assert (head.tree_size, head.root) == (5, ledger.root)
    assert (head.physical_ms, head.logical) == (NOW_MS, 2)
    assert head.signer == OPERATOR.public_key and len(head.signature) == 64
    head.verify(OPERATOR.public_key)
    again = chrysalis.SignedTreeHead.from_bytes(head.to_bytes())
    assert again == head
    again.verify(OPERATOR.public_key)
    with pytest.raises(chrysalis.HeadError) as untrusted:
        head.verify(STRANGER.public_key)
    assert not isinstance(untrusted.value, chrysalis.RewriteDetected)
    # A forged root under the operator's signature does not verify.
    forged = bytearray(head.to_bytes())
    forged[20] ^= 1
    with pytest.raises(chrysalis.HeadError):
        chrysalis.SignedTreeHead.from_bytes(bytes(forged)).verify(OPERATOR.public_key)
    with pytest.raises(chrysalis.HeadError):
        chrysalis.SignedTreeHead.from_bytes(b"\x01short")
    with pytest.raises(chrysalis.HeadError):
        chrysalis.Checkpoint(STRANGER.public_key, head)
    assert "seed" not in repr(OPERATOR) and OPERATOR.public_key.hex() in repr(OPERATOR)
    assert len(chrysalis.SigningKey.generate().public_key) == 32
    with pytest.raises(chrysalis.HeadError):
        chrysalis.SigningKey(b"short")


def test_checkpoint_follows_honest_growth(tmp_path):
    ledger = ledger_with(tmp_path / "l", 5)
    checkpoint = checkpoint_of(ledger)
    checkpoint.verify_ledger(ledger)
    for i in range(5, 9):
        ledger.append(node(i))
    head = ledger.signed_head(OPERATOR)
    proof = ledger.consistency_proof(checkpoint.tree_size, head.tree_size)
    checkpoint.verify_extension(head, proof)
    assert checkpoint.tree_size == 5, "verify_extension does not move"
    checkpoint.advance(head, proof)
    assert (checkpoint.tree_size, checkpoint.root) == (9, ledger.root)
    assert checkpoint.head == head
    restored = chrysalis.Checkpoint.from_bytes(OPERATOR.public_key, checkpoint.to_bytes())
    assert restored.head == head
    with pytest.raises(chrysalis.HeadError):
        chrysalis.Checkpoint.from_bytes(STRANGER.public_key, checkpoint.to_bytes())


def test_checkpoint_refuses_bad_heads_and_mismatched_proofs(tmp_path):
    ledger = ledger_with(tmp_path / "l", 6)
    checkpoint = checkpoint_of(ledger_with(tmp_path / "small", 3))
    head = ledger.signed_head(OPERATOR)
    with pytest.raises(chrysalis.HeadError) as wrong_sizes:
        checkpoint.advance(head, ledger.consistency_proof(2, 6))
    assert not isinstance(wrong_sizes.value, chrysalis.RewriteDetected)
    stranger_head = ledger.signed_head(STRANGER)
    with pytest.raises(chrysalis.HeadError):
        checkpoint.advance(stranger_head, ledger.consistency_proof(3, 6))
    assert checkpoint.tree_size == 3, "a refused head leaves the checkpoint"
    checkpoint.advance(head, ledger.consistency_proof(3, 6))


@pytest.mark.parametrize("how", ["frame edited in place", "ledger rebuilt"])
def test_rewritten_ledger_reopened_from_disk_is_refused(tmp_path, how):
    directory = tmp_path / "ledger"
    ledger = ledger_with(directory, 5)
    checkpoint = checkpoint_of(ledger)
    saved = checkpoint.to_bytes()
    honest_entry = ledger.get(2)
    del ledger

    # Entry 2 becomes another act of the same size: same origin, time, kind.
    forgery = node(2, text='{"i": 7}')
    assert len(forgery.encoding()) == len(honest_entry.encoding())
    if how == "frame edited in place":
        rewrite_entry_on_disk(directory, 2, forgery.encoding())
    else:
        shutil.rmtree(directory)
        ledger_with(directory, 5, forged={2: forgery})

    reopened = chrysalis.TraceLedger.open(directory)
    assert len(reopened) == 5 and reopened.get(2) == forgery
    client = chrysalis.Checkpoint.from_bytes(OPERATOR.public_key, saved)

    # A client reading the ledger itself sees the rewrite at once.
    with pytest.raises(chrysalis.RewriteDetected):
        client.verify_ledger(reopened)
    # The operator (same key) signs the rewritten history at the same size...
    same_size = reopened.signed_head(OPERATOR)
    with pytest.raises(chrysalis.RewriteDetected):
        client.verify_extension(same_size, reopened.consistency_proof(5, 5))
    # ...and after growing it: the consistency proof cannot bridge the rewrite.
    for i in range(5, 8):
        reopened.append(node(i))
    grown = reopened.signed_head(OPERATOR)
    with pytest.raises(chrysalis.RewriteDetected):
        client.advance(grown, reopened.consistency_proof(5, 8))
    assert client.tree_size == 5 and client.to_bytes() == saved


def test_a_shrunk_ledger_is_refused(tmp_path):
    ledger = ledger_with(tmp_path / "l", 5)
    checkpoint = checkpoint_of(ledger)
    shorter = ledger_with(tmp_path / "short", 3)
    with pytest.raises(chrysalis.RewriteDetected):
        checkpoint.verify_ledger(shorter)
    head = shorter.signed_head(OPERATOR)
    with pytest.raises(chrysalis.RewriteDetected):
        checkpoint.advance(head, shorter.consistency_proof(1, 3))


def test_stubs_and_docstrings_cover_heads_and_checkpoints():
    stub = Path(chrysalis.__file__).with_name("_native.pyi")
    tree = ast.parse(stub.read_text())
    classes = {c.name: c for c in tree.body if isinstance(c, ast.ClassDef)}
    for name in ["SigningKey", "SignedTreeHead", "Checkpoint", "HeadError", "RewriteDetected"]:
        assert name in classes, f"{name} missing from the stubs"
        assert name in chrysalis.__all__
        assert inspect.getdoc(getattr(chrysalis, name)), f"{name} has no docstring"
    methods = {
        "Checkpoint": ["verify_extension", "advance", "verify_ledger", "to_bytes", "from_bytes"],
        "SignedTreeHead": ["verify", "to_bytes", "from_bytes", "tree_size", "root", "signature"],
        "TraceLedger": ["signed_head", "consistency_proof"],
    }
    for cls, names in methods.items():
        stubbed = {f.name for f in classes[cls].body if isinstance(f, ast.FunctionDef)}
        for name in names:
            assert name in stubbed, f"{cls}.{name} missing from the stubs"
            assert inspect.getdoc(getattr(getattr(chrysalis, cls), name)), f"{cls}.{name} undocumented"
