"""Shared fixtures for the chrysalis pytest suite."""

import pytest

import chrysalis

NOW_MS = 1_800_000_000_000
PARENT = bytes([1] * 16)
SUB = bytes([9] * 16)


@pytest.fixture
def issuer() -> chrysalis.Issuer:
    return chrysalis.Issuer(bytes([7] * 32))


@pytest.fixture
def covenant(issuer: chrysalis.Issuer) -> chrysalis.Covenant:
    return issuer.issue([("read", "/data/"), ("write", "/data/tmp/")])
