"""The ``parley.message`` kind: typed thread hints, and the metadata keys older files used."""

from __future__ import annotations

from typing import Any

import pytest

from channels import parse_envelope
from hub.errors import MalformedPayload
from hub.models import Envelope


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
