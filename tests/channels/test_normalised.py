"""The ``parley.message`` kind: typed thread hints, the metadata keys older files used, and the
limits a payload is held to."""

from __future__ import annotations

import json
from typing import Any

import pytest

from channels import parse_envelope
from channels.limits import (
    MAX_FREEFORM_CHARS,
    MAX_FREEFORM_DEPTH,
    MAX_LIST_ITEMS,
    MAX_SHORT_CHARS,
    MAX_TEXT_CHARS,
)
from hub.errors import MalformedPayload
from hub.models import Envelope, Message


def parse(payload: dict[str, Any], channel: str = "twitter") -> Any:
    (message,) = parse_envelope(Envelope(channel=channel, kind="parley.message", payload=payload))
    return message


@pytest.mark.parametrize("channel", ["twitter", "facebook", "sms", "email", "feeds", "no-package-yet"])
def test_any_channel_name_is_accepted(channel: str) -> None:
    assert parse({"native_id": "1", "text": "hi"}, channel).channel == channel


def test_typed_hints_are_fields_of_the_payload() -> None:
    message = parse(
        {
            "native_id": "3",
            "text": "hi",
            "references": ["1", "2"],
            "subject_key": "broken kettle",
            "listen_query": "kettle",
        }
    )
    assert message.references == ["1", "2"]
    assert (message.subject_key, message.listen_query) == ("broken kettle", "kettle")
    assert message.metadata == {}


def test_legacy_metadata_hints_move_into_the_typed_fields() -> None:
    metadata = {"references": ["1"], "normalized_subject": "broken kettle", "listen_query": "kettle", "x": 1}
    message = parse({"native_id": "3", "text": "hi", "metadata": metadata})
    assert message.references == ["1"]
    assert (message.subject_key, message.listen_query) == ("broken kettle", "kettle")
    assert message.metadata == {"x": 1}


def test_legacy_hints_of_the_wrong_type_stay_metadata_and_are_ignored() -> None:
    metadata = {"references": 5, "normalized_subject": ["x"], "listen_query": ""}
    message = parse({"native_id": "3", "text": "hi", "metadata": metadata})
    assert message.references == [] and message.subject_key is None and message.listen_query is None
    assert message.metadata == metadata


def test_the_typed_field_wins_over_a_legacy_key() -> None:
    message = parse(
        {"native_id": "3", "text": "hi", "references": ["new"], "metadata": {"references": ["old"]}}
    )
    assert message.references == ["new"] and message.metadata == {"references": ["old"]}


def test_typed_hints_of_the_wrong_type_are_malformed() -> None:
    with pytest.raises(MalformedPayload, match="references"):
        parse({"native_id": "3", "text": "hi", "references": "1"})


def nested(depth: int) -> dict[str, Any]:
    """``{"a": {"a": ... {}}}``, ``depth`` objects deep."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def round_trips(message: Message) -> bool:
    return Message.model_validate_json(message.model_dump_json()) == message


def test_a_payload_at_every_limit_parses_and_round_trips() -> None:
    payload = {
        "native_id": "n" * MAX_SHORT_CHARS,
        "text": "t" * MAX_TEXT_CHARS,
        "html": "<p>é</p>".ljust(MAX_TEXT_CHARS, "h"),
        "subject": "s" * MAX_SHORT_CHARS,
        "references": [f"r{i}" for i in range(MAX_LIST_ITEMS)],
        "attachments": [{"name": f"{i}.txt"} for i in range(MAX_LIST_ITEMS)],
        "metadata": {"deep": nested(MAX_FREEFORM_DEPTH - 1), "emoji": "😀", "n": [1, 2.5, None, True]},
        "author": {"native_id": "42", "display_name": "Ann"},
    }
    message = parse(payload)
    assert message.metadata["emoji"] == "😀" and len(message.references) == MAX_LIST_ITEMS
    assert round_trips(message)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"metadata": nested(MAX_FREEFORM_DEPTH + 1)}, r"^metadata\.a\.a.* nests deeper than 16 levels$"),
        ({"metadata": nested(200)}, r"^metadata\.a\.a.*\.\.\. nests deeper than 16 levels$"),
        ({"metadata": nested(500)}, "nests deeper than 16 levels"),
        ({"metadata": {"blob": "x" * MAX_FREEFORM_CHARS}}, "^metadata is over the 262144-character limit"),
        ({"attachments": [{"name": nested(20)}]}, r"^attachments\[0\]\.name\.a.* nests deeper than 16"),
        ({"author": {"native_id": "1", "x": nested(20)}}, r"^author\.x\.a.* nests deeper than 16"),
        ({"unknown": nested(40)}, r"^payload\.unknown\.a.* nests deeper than 32 levels"),
        ({"text": "t" * (MAX_TEXT_CHARS + 1)}, "invalid text: String should have at most 1048576 characters"),
        ({"html": "h" * (MAX_TEXT_CHARS + 1)}, "invalid html: String should have at most"),
        ({"subject": "s" * (MAX_SHORT_CHARS + 1)}, "invalid subject: String should have at most 4096"),
        ({"native_id": "n" * (MAX_SHORT_CHARS + 1)}, "invalid native_id: String should have at most"),
        ({"references": ["r"] * (MAX_LIST_ITEMS + 1)}, "invalid references: List should have at most 1000"),
        ({"attachments": [{}] * (MAX_LIST_ITEMS + 1)}, "invalid attachments: List should have at most"),
        (
            {"text": "t" * MAX_TEXT_CHARS, "html": "h" * MAX_TEXT_CHARS, "references": ["r" * 3000] * 1000},
            "^payload is over the 4194304-character limit",
        ),
        (
            {"text": "broken \ud83d emoji"},
            r"^payload\.text holds a lone surrogate \(U\+D83D at character 7\)",
        ),
        ({"metadata": {"k": "\udc80"}}, r"^metadata\.k holds a lone surrogate"),
    ],
)
def test_payloads_past_a_limit_are_malformed_with_the_limit_and_where(
    payload: dict[str, Any], reason: str
) -> None:
    with pytest.raises(MalformedPayload, match=reason):
        parse({"native_id": "1", "text": "hi", **payload})


def test_the_limits_hold_for_every_line_a_json_reader_accepts() -> None:
    # Python's json reads ~1,000 levels; pydantic's validators and writers stop at 200-500
    for depth in (17, 199, 200, 201, 499, 500, 900):
        line = '{"native_id": "1", "text": "hi", "metadata": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
        with pytest.raises(MalformedPayload, match="nests deeper than 16 levels"):
            parse(json.loads(line))
