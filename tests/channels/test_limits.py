"""Shape limits: nesting, size and storability are measured without recursion, and every message
a parser returns can be stored and read back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from channels import parse_envelope
from channels.limits import (
    MAX_FREEFORM_DEPTH,
    MAX_NAME_CHARS,
    MAX_PAYLOAD_DEPTH,
    check_json,
    check_message,
    check_payload,
)
from hub.errors import MalformedPayload
from hub.models import Envelope, Message


def nested_dicts(depth: int) -> dict[str, Any]:
    """``{"a": {"a": ... {}}}``, ``depth`` containers deep, built without recursion."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def nested_lists(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("build", [nested_dicts, nested_lists])
def test_depth_is_counted_in_containers_up_to_the_limit_exactly(build: Any) -> None:
    check_json(build(16), "metadata", max_depth=16, max_chars=1 << 20)
    with pytest.raises(MalformedPayload, match="nests deeper than 16 levels"):
        check_json(build(17), "metadata", max_depth=16, max_chars=1 << 20)
    with pytest.raises(MalformedPayload, match="nests deeper"):
        check_json(build(1), "metadata", max_depth=0, max_chars=1 << 20)
    check_json("a scalar is 0 deep", "metadata", max_depth=0, max_chars=1 << 20)


def test_a_nesting_bomb_is_refused_without_recursion() -> None:
    # far past Python's recursion limit: a recursive walk would raise RecursionError
    with pytest.raises(MalformedPayload) as refused:
        check_json(nested_lists(200_000), "payload", max_depth=32, max_chars=1 << 30, strict=False)
    reason = str(refused.value)
    assert reason.startswith("payload[0][0]") and "nests deeper than 32 levels" in reason
    assert len(reason) < 200  # the path is shown cut, not 200,000 steps long


def test_the_reason_names_where_the_limit_was_passed() -> None:
    value = {"ok": 1, "deep": {"list": [0, nested_dicts(3)]}}
    with pytest.raises(MalformedPayload, match=r"^metadata\.deep\.list\[1\]\.a nests deeper than 4 levels$"):
        check_json(value, "metadata", max_depth=4, max_chars=1 << 20)


def test_size_is_about_the_json_text_and_stops_at_the_limit() -> None:
    value = {"key": ["abc", 12, None, True, 1.5]}
    assert abs(check_json(value, "v", max_depth=4, max_chars=1000) - len(json.dumps(value))) <= 30
    with pytest.raises(MalformedPayload, match=r"^metadata is over the 100-character limit"):
        check_json({"k": "x" * 200}, "metadata", max_depth=4, max_chars=100)
    with pytest.raises(MalformedPayload, match="over the 100-character limit"):
        check_json(list(range(1000)), "metadata", max_depth=4, max_chars=100)  # wide, not long


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"text": "a\ud83db"}, r"metadata\.text holds a lone surrogate \(U\+D83D at character 1\)"),
        ({"\udc80": 1}, "lone surrogate"),
        ({"raw": b"\xff"}, r"metadata\.raw holds a bytes, not JSON data"),
        ({"when": object()}, "holds a object, not JSON data"),
        ({1: "x"}, "non-string key 1"),
    ],
)
def test_strict_values_are_json_data_a_writer_accepts(value: Any, problem: str) -> None:
    with pytest.raises(MalformedPayload, match=problem):
        check_json(value, "metadata", max_depth=4, max_chars=1000)


def test_payloads_are_measured_leniently_and_only_when_structured() -> None:
    check_payload(b"\x00 raw mail bytes" * 1000)  # the channel's parser reads raw payloads
    check_payload({"text": "a\ud83db", "raw": b"\xff"})  # a parser may ignore what is not stored
    check_payload(nested_dicts(MAX_PAYLOAD_DEPTH))
    with pytest.raises(MalformedPayload, match=f"nests deeper than {MAX_PAYLOAD_DEPTH} levels"):
        check_payload(nested_dicts(MAX_PAYLOAD_DEPTH + 1))


def test_a_structured_payload_too_deep_is_refused_before_any_parser_sees_it() -> None:
    envelope = Envelope(channel="email", kind="rfc822", payload=nested_lists(500))
    with pytest.raises(MalformedPayload, match="nests deeper than 32 levels"):
        parse_envelope(envelope)


def test_messages_that_cannot_be_stored_are_refused() -> None:
    check_message(Message(channel="email", native_id="1", metadata=nested_dicts(MAX_FREEFORM_DEPTH)))
    cases = [
        (Message(channel="email", native_id="1", metadata=nested_dicts(200)), "nests deeper than 16"),
        (Message(channel="email", native_id="1", text="a\ud800"), "cannot be stored as JSON"),
        (Message(channel="email", native_id="1", metadata={"b": b"\xff"}), "not JSON data"),
        (Message(channel="x" * (MAX_NAME_CHARS + 1), native_id="1"), "channel of 129 characters"),
        (Message(channel="email", account="a" * 200, native_id="1"), "account of 200 characters"),
        (Message(channel="email", native_id="i" * 5000), "native_id of 5000 characters"),
    ]
    for message, problem in cases:
        with pytest.raises(MalformedPayload, match=problem):
            check_message(message)
