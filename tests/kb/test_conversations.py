"""Conversation rollups are recomputed from messages: idempotent, and reopening on inbound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.models import ConversationStatus, Direction, Enrichment, Identity, Message
from kb.conversations import roll_up

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def msg(n: int, direction: Direction = Direction.IN, sentiment: float = 0.0, lang: str = "en") -> Message:
    author = Identity(channel="sms", native_id="brand" if direction == Direction.OUT else "+447700900123")
    return Message(
        channel="sms",
        native_id=f"m{n}",
        text=f"message number {n}",
        direction=direction,
        author=author,
        language=lang,
        created_at=T0 + timedelta(minutes=n),
        enrichment=Enrichment(sentiment=sentiment, done=True),
    )


def test_rollup_counts_times_participants_and_sentiment() -> None:
    messages = [
        msg(1, sentiment=-0.8),
        msg(2, Direction.OUT, sentiment=0.9),
        msg(3, sentiment=0.2, lang="es"),
    ]
    conv = roll_up("cnv_1", messages)
    assert conv.message_count == 3 and conv.inbound_count == 2
    assert conv.first_message_at == T0 + timedelta(minutes=1)
    assert conv.last_message_at == T0 + timedelta(minutes=3)
    assert conv.last_inbound_at == T0 + timedelta(minutes=3)
    assert len(conv.participants) == 2
    # only the customer's messages count towards the conversation's sentiment
    assert conv.sentiment_avg == pytest.approx(-0.3)
    assert conv.sentiment_min == -0.8 and conv.sentiment_last == 0.2
    assert conv.languages == ["en", "es"]
    assert conv.snippet == "message number 3"
    assert conv.subject == "message number 1"


def test_rollup_is_idempotent_and_leaves_triage_at_defaults() -> None:
    messages = [msg(1), msg(2, Direction.OUT), msg(3)]
    first = roll_up("cnv_1", messages)
    assert roll_up("cnv_1", list(reversed(messages))) == first
    assert first.status == ConversationStatus.OPEN and first.assignee is None and first.tags == []


def test_rollup_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no messages"):
        roll_up("cnv_1", [])
