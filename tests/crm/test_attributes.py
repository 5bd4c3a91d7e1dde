"""Custom attributes: only JSON the store can write and read back is accepted, on SQLite and
(when ``PARLEY_TEST_POSTGRES_URL`` is set) PostgreSQL; nothing is written otherwise."""

from __future__ import annotations

import math
from typing import Any

import pytest

from crm import CRMStore, InvalidRequest
from crm.attributes import MAX_ATTRIBUTES_BYTES, MAX_ATTRIBUTES_DEPTH, attributes_problem
from tests.crm.helpers import author, message


def _nested(levels: int) -> dict[str, Any]:
    """An attributes object nesting ``levels`` objects and arrays in all (itself included)."""
    value: Any = "leaf"
    for level in range(levels - 1):
        value = [value] if level % 2 else {"k": value}
    return {"deep": value}


def _contact(store: CRMStore) -> str:
    ann = author("twitter", "ann1", handle="ann", name="Ann")
    return store.upsert_from_messages([message(ann, "t1")])[ann.id]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (_nested(MAX_ATTRIBUTES_DEPTH + 1), f"deeper than {MAX_ATTRIBUTES_DEPTH} levels"),
        (_nested(100_000), "deeper than"),  # walked without recursion: no RecursionError
        ({"score": math.nan}, "attributes.score is not a finite number"),
        ({"score": [1.0, math.inf]}, "attributes.score[1] is not a finite number"),
        ({"note": "a\x00b"}, "NUL"),
        ({"a\x00": 1}, "a key of attributes must not contain NUL"),
        ({"note": "\ud800"}, "lone surrogate"),
        ({"blob": "x" * MAX_ATTRIBUTES_BYTES}, f"at most {MAX_ATTRIBUTES_BYTES}"),
        ({"when": object()}, "not a JSON value"),
        ({1: "one"}, "key that is not a string"),
        (["not", "an", "object"], "must be a JSON object"),
    ],
    ids=[
        "too-deep",
        "100000-deep",
        "nan",
        "inf-in-list",
        "nul-value",
        "nul-key",
        "surrogate",
        "too-large",
        "not-json",
        "int-key",
        "not-object",
    ],
)
def test_attributes_the_store_could_not_hold_are_named(value: Any, problem: str) -> None:
    found = attributes_problem(value)
    assert found is not None and problem in found


def test_attributes_within_the_limits_pass() -> None:
    assert attributes_problem(_nested(MAX_ATTRIBUTES_DEPTH)) is None
    assert attributes_problem({"plan": "gold", "seats": 3, "ratio": 0.5, "ok": True, "gone": None}) is None
    assert attributes_problem({"blob": "x" * (MAX_ATTRIBUTES_BYTES - 20)}) is None


def test_attributes_at_the_depth_limit_are_stored_and_read_back(store: CRMStore) -> None:
    contact_id = _contact(store)
    deepest = _nested(MAX_ATTRIBUTES_DEPTH)
    assert store.update_contact(contact_id, attributes=deepest).attributes == deepest
    total, page = store.search_contacts(None)
    assert total == 1 and page[0].attributes == deepest


def test_attributes_too_deep_are_refused_and_nothing_is_written(store: CRMStore) -> None:
    contact_id = _contact(store)
    store.update_contact(contact_id, attributes={"plan": "gold"})
    for bad in (_nested(400), {"score": math.inf}, {"note": "\x00"}):
        with pytest.raises(InvalidRequest):
            store.update_contact(contact_id, tags=["vip"], attributes=bad)
    with pytest.raises(InvalidRequest, match="NUL"):
        store.update_contact(contact_id, tags=["v\x00ip"])
    contact = store.get_contact(contact_id)
    assert contact is not None and (contact.attributes, contact.tags) == ({"plan": "gold"}, [])


def test_the_size_cap_counts_the_attributes_already_stored(store: CRMStore) -> None:
    contact_id = _contact(store)
    half = "x" * (MAX_ATTRIBUTES_BYTES // 2)
    store.update_contact(contact_id, attributes={"a": half})
    with pytest.raises(InvalidRequest, match="bytes"):
        store.update_contact(contact_id, attributes={"b": half})
    # replacing a key, or removing one with null, is measured on the result
    assert store.update_contact(contact_id, attributes={"a": None, "b": half}).attributes == {"b": half}
