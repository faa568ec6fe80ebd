"""Covenants: issue, attenuate for a sub-agent, refuse forgeries."""

import pytest

import chrysalis
from conftest import NOW_MS, PARENT, SUB


def test_issue_authorize_round_trip(issuer, covenant):
    assert covenant.is_compiled and covenant.block_count == 1
    covenant.authorize(PARENT, "read", "/data/x", now_ms=NOW_MS)
    with pytest.raises(chrysalis.CapabilityDenied) as err:
        covenant.authorize(PARENT, "delete", "/data/x", now_ms=NOW_MS)
    assert err.value.code == "capability.no_grant"
    loaded = chrysalis.Covenant.from_bytes(covenant.to_bytes(), issuer.public_key)
    assert loaded.token_id == covenant.token_id


def test_sub_agent_cannot_exceed_parent(issuer, covenant):
    child = covenant.attenuate(
        actions=["read"],
        resource_prefix="/data/public/",
        holder=SUB,
        not_after_s=NOW_MS // 1000 + 60,
        max_cost=5,
    )
    child = chrysalis.Covenant.from_bytes(child.to_bytes(), issuer.public_key)
    assert child.block_count == 2
    child.authorize(SUB, "read", "/data/public/a", cost=5, now_ms=NOW_MS)
    refused = [
        ((SUB, "write", "/data/tmp/a"), {}, "capability.action"),
        ((SUB, "read", "/data/secret"), {}, "capability.resource"),
        ((PARENT, "read", "/data/public/a"), {}, "capability.holder"),
        ((SUB, "read", "/data/public/a"), {"cost": 6}, "capability.cost_cap"),
        ((SUB, "read", "/data/public/a"), {"now_ms": NOW_MS + 61_000}, "capability.expired"),
    ]
    for args, extra, code in refused:
        kwargs = {"now_ms": NOW_MS, **extra}
        with pytest.raises(chrysalis.CapabilityDenied) as err:
            child.authorize(*args, **kwargs)
        assert err.value.code == code, (args, extra)
    # Re-widening in a later block gains nothing.
    wider = child.attenuate(actions=["read", "write", "delete"])
    with pytest.raises(chrysalis.CapabilityDenied):
        wider.authorize(SUB, "write", "/data/tmp/a", now_ms=NOW_MS)


def test_forged_and_tampered_tokens_refused(issuer, covenant):
    mallory = chrysalis.Issuer(bytes([66] * 32))
    forged = mallory.issue([("read", "")]).to_bytes()
    with pytest.raises(chrysalis.CapabilityError):
        chrysalis.Covenant.from_bytes(forged, issuer.public_key)
    data = bytearray(covenant.to_bytes())
    data[len(data) // 2] ^= 0x40
    with pytest.raises(chrysalis.CapabilityError):
        chrysalis.Covenant.from_bytes(bytes(data), issuer.public_key)
    with pytest.raises(chrysalis.CapabilityError):
        chrysalis.Covenant.from_bytes(covenant.to_bytes(), b"short")
    with pytest.raises(chrysalis.CapabilityError):
        chrysalis.Issuer(b"too short")
    assert issubclass(chrysalis.CapabilityError, chrysalis.ChrysalisError)
