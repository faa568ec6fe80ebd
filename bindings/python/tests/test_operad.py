"""verify_operad_laws: the plan operad passes; broken fixtures are caught minimally."""

import pytest

import chrysalis


def test_plan_operad_is_lawful():
    report = chrysalis.verify_operad_laws(samples=300, seed=1)
    assert report["samples"] == 300 and report["instances"] > 300


def test_wrapped_identity_caught_minimally():
    with pytest.raises(chrysalis.OperadLawError) as err:
        chrysalis.verify_operad_laws(seed=5, operad="faulty-identity")
    e = err.value
    assert e.law == "left_identity"
    assert (e.f, e.left, e.right) == ("_", "noop(_)", "_")


def test_breadth_first_slots_caught():
    with pytest.raises(chrysalis.OperadLawError) as err:
        chrysalis.verify_operad_laws(samples=500, seed=5, operad="faulty-slots")
    e = err.value
    assert e.law in ("sequential_associativity", "parallel_associativity")
    assert e.left != e.right
    assert e.shrink_steps >= 0 and len(e.slots) == 2


def test_unknown_operad_is_value_error():
    with pytest.raises(ValueError):
        chrysalis.verify_operad_laws(operad="nope")
