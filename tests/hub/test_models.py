"""The shared vocabulary: derived ids, UTC times, dead-letter limits."""

from __future__ import annotations

from datetime import datetime

from hub.models import DEAD_LETTER_RAW_CHARS, DeadLetter, Identity, Message, identity_id, message_id


def test_ids_derive_from_channel_and_native_id() -> None:
    message = Message(id="ignored", channel="sms", native_id="SM1", text="hi")
    assert message.id == message_id("sms", "SM1") != message_id("email", "SM1")
    assert Identity(channel="sms", native_id="+44").id == identity_id("sms", "+44")


def test_naive_times_are_taken_as_utc() -> None:
    message = Message(channel="sms", native_id="1", created_at=datetime(2026, 11, 20, 10, 0))
    assert message.created_at.utcoffset() is not None and message.created_at.hour == 10


def test_dead_letter_raw_is_capped_with_a_note_and_ids_are_stable() -> None:
    letter = DeadLetter(
        stage="import", reason="too big", raw="x" * (DEAD_LETTER_RAW_CHARS + 10), raw_ref="f:1"
    )
    assert len(letter.raw) < DEAD_LETTER_RAW_CHARS + 100
    assert letter.raw.endswith(f"{DEAD_LETTER_RAW_CHARS + 10} characters in all]")
    again = DeadLetter(
        stage="import", reason="too big", raw="x" * (DEAD_LETTER_RAW_CHARS + 10), raw_ref="f:1"
    )
    assert letter.id == again.id
