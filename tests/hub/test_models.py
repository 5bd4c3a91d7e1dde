"""The shared vocabulary: derived ids, UTC times, dead-letter limits, prevalidated models."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hub.models import (
    DEAD_LETTER_RAW_CHARS,
    DEAD_LETTER_REASON_CHARS,
    Attachment,
    DeadLetter,
    Identity,
    Message,
    identity_id,
    message_id,
)


def test_ids_derive_from_channel_and_native_id() -> None:
    message = Message(id="ignored", channel="sms", native_id="SM1", text="hi")
    assert message.id == message_id("sms", "SM1") != message_id("email", "SM1")
    assert Identity(channel="sms", native_id="+44").id == identity_id("sms", "+44")


@pytest.mark.parametrize("native_id", ["SM1", "1800000000000010097", "zoë@example.org", "bad\udc80"])
def test_ids_are_the_stored_ones(native_id: str) -> None:
    # stored rows and documents are keyed by these: the scheme never changes
    raw = f"sms\x1f{native_id}".encode("utf-8", "surrogatepass")
    assert message_id("sms", native_id) == f"msg_{hashlib.blake2b(raw, digest_size=12).hexdigest()}"
    assert identity_id("sms", native_id) == f"idn_{hashlib.blake2b(raw, digest_size=12).hexdigest()}"


def test_naive_times_are_taken_as_utc() -> None:
    message = Message(channel="sms", native_id="1", created_at=datetime(2026, 11, 20, 10, 0))
    assert message.created_at.utcoffset() is not None and message.created_at.hour == 10


def test_prevalidated_models_are_what_validation_makes_and_dump_alike() -> None:
    author = Identity.prevalidated(channel="x", native_id="42", handle="ann", verified=True, followers=7)
    assert author == Identity(channel="x", native_id="42", handle="ann", verified=True, followers=7)
    values = {
        "channel": "x",
        "native_id": "1",
        "author": author,
        "text": "hi",
        "created_at": datetime(2026, 11, 20, 11, 0, tzinfo=timezone(timedelta(hours=1))),
        "metadata": {"k": [1]},
        "attachments": [Attachment(name="a")],
    }
    built = Message.prevalidated(**dict(values))
    validated = Message(**values)
    assert built == validated and built.created_at.tzinfo is validated.created_at.tzinfo
    assert built.model_dump_json() == validated.model_dump_json()  # the same fields, in the same order
    assert built.model_fields_set == set(values) | {"id"}
    assert built.enrichment == validated.enrichment and not built.enrichment.model_fields_set
    # defaults are fresh per message: filling one message's never shows in another's
    other = Message.prevalidated(channel="x", native_id="2", created_at=built.created_at)
    other.flags.append("f")
    other.enrichment.hashtags.append("h")
    other.metadata["k"] = 1
    fresh = Message.prevalidated(channel="x", native_id="3")
    assert (fresh.flags, fresh.enrichment.hashtags, fresh.metadata) == ([], [], {})
    assert built.flags == [] and built.enrichment.hashtags == []
    assert fresh.created_at.utcoffset() == timedelta(0)  # a time made for it, in UTC
    with pytest.raises(TypeError, match="no field"):
        Message.prevalidated(channel="x", native_id="1", colour="red")


def test_prevalidated_from_a_dict_keeps_no_reference_to_it() -> None:
    at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    values = {"channel": "x", "native_id": "1", "text": "hi", "flags": ["f"], "created_at": at}
    built = Message.prevalidated_from(values)
    assert built == Message(channel="x", native_id="1", text="hi", flags=["f"], created_at=at)
    values["text"] = "changed"
    assert built.text == "hi" and built.flags == ["f"] and built.references == []
    assert Attachment.prevalidated_from({"name": "a", "url": "u"}) == Attachment(name="a", url="u")
    identity = Identity.prevalidated_from({"channel": "x", "native_id": "2"})
    assert identity == Identity(channel="x", native_id="2")
    with pytest.raises(TypeError, match="no field"):
        Message.prevalidated_from({"channel": "x", "native_id": "1", "colour": "red"})


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


def test_dead_letter_reason_is_capped_with_a_note_and_ids_stay_stable() -> None:
    # One line once produced an 8 MB reason (an exception quoting its whole input).
    reason = "cannot parse: " + "y" * 8_000_000
    letter = DeadLetter(stage="parse", reason=reason, raw="{}", raw_ref="f.jsonl:7")
    assert len(letter.reason) <= DEAD_LETTER_REASON_CHARS
    assert letter.reason.startswith("cannot parse: yyy")
    assert letter.reason.endswith(f"[... cut: {len(reason)} characters in all]")
    # A replay of the same input failing the same way is the same dead letter...
    assert DeadLetter(stage="parse", reason=reason, raw="{}", raw_ref="f.jsonl:7").id == letter.id
    # ...and the id can be derived again from what is stored (the cut reason).
    assert DeadLetter(stage="parse", reason=letter.reason, raw="{}", raw_ref="f.jsonl:7").id == letter.id
    other = DeadLetter(
        stage="parse", reason="cannot parse: " + "z" * 8_000_000, raw="{}", raw_ref="f.jsonl:7"
    )
    assert other.id != letter.id
    short = DeadLetter(stage="parse", reason="x" * DEAD_LETTER_REASON_CHARS, raw="{}")
    assert short.reason == "x" * DEAD_LETTER_REASON_CHARS


def test_cut_dead_letters_read_back_unchanged() -> None:
    # The store rebuilds dead letters from rows: validating a cut letter again must not cut it
    # again (which used to replace the note's true length with the stored length).
    letter = DeadLetter(stage="import", reason="r" * 10_000, raw="x" * (DEAD_LETTER_RAW_CHARS * 2))
    again = DeadLetter(**letter.model_dump())
    assert again == letter
    assert len(letter.raw) <= DEAD_LETTER_RAW_CHARS
    assert again.raw.endswith(f"{DEAD_LETTER_RAW_CHARS * 2} characters in all]")
    assert again.reason.endswith("10000 characters in all]")
