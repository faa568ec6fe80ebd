"""TraceNode: frozen, content-addressed, round-trips its encoding."""

import pytest

import chrysalis
from conftest import NOW_MS, PARENT


def make(**overrides):
    args = dict(origin=PARENT, physical_ms=NOW_MS, kind="tool.call", payload=b"hi")
    args.update(overrides)
    return chrysalis.TraceNode(**args)


def test_fields_and_id():
    node = make(logical=3)
    assert node.origin == PARENT
    assert (node.physical_ms, node.logical) == (NOW_MS, 3)
    assert node.kind == "tool.call"
    assert node.payload == b"hi" and not node.is_json
    assert len(node.id) == 32
    assert node == make(logical=3)
    assert node != make(logical=4)
    assert hash(node) == hash(make(logical=3))
    assert "tool.call" in repr(node)


def test_json_payload_and_parents_are_a_sorted_set():
    a, b = make(payload=b"a").id, make(payload=b"b").id
    node = make(payload='{"x": 1}', parents=[b, a, b])
    assert node.is_json and node.payload == '{"x": 1}'
    assert node.parents == tuple(sorted([a, b]))


def test_frozen():
    node = make()
    with pytest.raises(AttributeError):
        node.kind = "other"  # type: ignore[misc]


def test_encoding_round_trip():
    node = make(payload='{"ok": true}', parents=[make().id])
    again = chrysalis.TraceNode.from_encoding(node.encoding())
    assert again == node and again.id == node.id


@pytest.mark.parametrize(
    "overrides",
    [
        {"origin": b"short"},
        {"kind": ""},
        {"kind": "Upper"},
        {"kind": "x" * 65},
        {"parents": [b"not 32 bytes"]},
    ],
)
def test_bad_input_is_a_typed_error(overrides):
    with pytest.raises(chrysalis.TraceNodeError):
        make(**overrides)


def test_bad_types_and_bytes():
    with pytest.raises(TypeError):
        make(payload=3)
    with pytest.raises(chrysalis.ChrysalisError):
        chrysalis.TraceNode.from_encoding(b"\x01garbage")
