"""The ``rfc822`` parser against our own fixtures, one per condition (see fixtures/)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from channels import parse_envelope
from channels.email.headers import msg_ids, normalize_subject
from channels.email.parse import PARSERS, parse_rfc822
from channels.email.quotes import strip_quotes
from hub.errors import MalformedPayload
from hub.models import Envelope, Message, message_id

FIXTURES = Path(__file__).parent / "fixtures"
RECEIVED = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def envelope(payload: object, *, account: str = "support", raw_ref: str | None = "test") -> Envelope:
    return Envelope(
        channel="email",
        kind="rfc822",
        account=account,
        payload=payload,
        raw_ref=raw_ref,
        received_at=RECEIVED,
    )


def parse(name: str) -> Message:
    messages = parse_envelope(envelope((FIXTURES / name).read_bytes(), raw_ref=f"file:{name}"))
    assert len(messages) == 1
    return messages[0]


def test_registry_points_at_rfc822() -> None:
    assert PARSERS["rfc822"] is parse_rfc822


def test_plain_message_fields() -> None:
    msg = parse("message__plain.eml")
    assert msg.native_id == "order-1234-q1@example.org"
    assert msg.id == message_id("email", "order-1234-q1@example.org")
    assert msg.channel == "email" and msg.account == "support"
    assert msg.author is not None
    assert msg.author.native_id == "ann.customer@example.org"
    assert msg.author.email == "Ann.Customer@Example.org"
    assert msg.author.display_name == "Ann Customer"
    assert [r.native_id for r in msg.recipients] == ["support@parley.test"]
    assert msg.subject == "My order #1234 has not arrived"
    assert "kettle on 2 November" in msg.text
    assert msg.created_at == datetime(2026, 11, 16, 8, 15, tzinfo=UTC)
    assert msg.reply_to is None and msg.thread_key is None
    assert msg.references == []
    assert msg.subject_key == "my order #1234 has not arrived"
    assert "references" not in msg.metadata and "normalized_subject" not in msg.metadata
    assert msg.flags == []
    assert msg.raw_ref == "file:message__plain.eml"


def test_reply_threading_and_quote_stripping() -> None:
    msg = parse("message__reply_quoted.eml")
    assert msg.reply_to == "reply-1234-a2@parley.test"
    assert msg.thread_key == "order-1234-q1@example.org"  # the root: first References id
    assert msg.references == ["order-1234-q1@example.org", "reply-1234-a2@parley.test"]
    assert msg.subject_key == "my order #1234 has not arrived"
    assert msg.text == "It arrived this morning, thank you!"
    assert msg.body is not None and "your parcel is on its way" in msg.body and "Example Org" in msg.body
    assert [r.native_id for r in msg.recipients] == ["support@parley.test", "bob@example.org"]


def test_html_only_falls_back_to_text_without_quotes() -> None:
    msg = parse("message__html_only.eml")
    assert msg.html is not None and "<b>refund</b>" in msg.html
    assert msg.text == "When will I get my\nrefund\n?" or "When will I get my" in msg.text
    assert "refund" in msg.text and "received your return" not in msg.text
    assert "color: red" not in msg.text
    assert msg.body is not None and "received your return" in msg.body
    assert msg.created_at == datetime(2026, 11, 18, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "subject", "text"),
    [
        ("message__koi8r.eml", "Заказ не пришёл", "Здравствуйте! Мой заказ не пришёл."),
        ("message__iso2022jp.eml", "配送について", "注文した商品が届きません。"),
        ("message__shift_jis.eml", "返品", "返品したいです。"),
    ],
)
def test_charsets_and_transfer_encodings(name: str, subject: str, text: str) -> None:
    msg = parse(name)
    assert msg.subject == subject
    assert msg.text == text
    assert "defects" not in msg.metadata


def test_koi8r_display_name_decoded() -> None:
    msg = parse("message__koi8r.eml")
    assert msg.author is not None and msg.author.display_name == "Иван"


def test_attachment_metadata_only() -> None:
    msg = parse("message__attachment.eml")
    assert msg.text == "Please see the invoice attached."
    assert msg.html is not None and "<i>invoice</i>" in msg.html
    assert len(msg.attachments) == 1
    att = msg.attachments[0]
    assert (att.name, att.content_type, att.size) == ("invoice.pdf", "application/pdf", 130)
    assert "PDF" not in msg.model_dump_json()  # the content is not stored anywhere


def test_missing_message_id_gets_stable_hash() -> None:
    first = parse("message__no_message_id.eml")
    again = parse("message__no_message_id.eml")
    assert first.native_id.startswith("sha:") and first.native_id == again.native_id
    assert first.metadata["missing_message_id"] is True


def test_str_payload_from_jsonl_envelope() -> None:
    text = (FIXTURES / "message__koi8r.eml").read_bytes().decode("ascii")
    from_str = parse_rfc822(envelope(text))[0]
    from_bytes = parse("message__koi8r.eml")
    assert from_str.native_id == from_bytes.native_id and from_str.text == from_bytes.text


def test_bounce_flagged_and_points_at_original() -> None:
    msg = parse("bounce__dsn.eml")
    assert "bounce" in msg.flags and "auto_reply" in msg.flags
    assert msg.metadata["original_message_id"] == "reply-5555-a1@parley.test"
    assert msg.reply_to == "reply-5555-a1@parley.test"
    assert any(a.content_type == "message/rfc822" for a in msg.attachments)


def test_auto_reply_flagged() -> None:
    msg = parse("auto_reply__out_of_office.eml")
    assert msg.flags == ["auto_reply"]
    assert msg.reply_to == "reply-7777-a1@parley.test"


def test_plain_customer_mail_is_not_machine_generated() -> None:
    for name in ("message__plain.eml", "message__reply_quoted.eml", "message__attachment.eml"):
        assert parse(name).flags == []


def test_unknown_charset_is_decoded_and_recorded() -> None:
    msg = parse("message__unknown_charset.eml")
    assert msg.text == "Grüße aus München, my café order is late."
    assert "unknown charset 'x-klingon-9'" in msg.metadata["defects"]


def test_broken_mime_keeps_text_and_records_defect() -> None:
    msg = parse("message__broken_mime.eml")
    assert "the text must still be kept" in msg.text
    assert any("Boundary" in d for d in msg.metadata["defects"])


def test_self_referencing_loop_is_not_its_own_parent() -> None:
    msg = parse("message__self_reference_loop.eml")
    assert msg.reply_to is None and msg.thread_key is None
    assert msg.references == []


def test_missing_date_falls_back_to_received_at() -> None:
    raw = b"From: a@example.com\r\nSubject: hi\r\nMessage-ID: <nodate@x>\r\n\r\nbody\r\n"
    assert parse_rfc822(envelope(raw))[0].created_at == RECEIVED
    bad = raw.replace(b"Subject", b"Date: not a date\r\nSubject")
    assert parse_rfc822(envelope(bad))[0].created_at == RECEIVED


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty__zero_bytes.eml", "empty"),
        ("garbage__binary.eml", "binary data"),
        ("garbage__no_headers.eml", "no header fields"),
    ],
)
def test_unreadable_input_is_malformed_with_reason(name: str, reason: str) -> None:
    with pytest.raises(MalformedPayload, match=reason):
        parse_envelope(envelope((FIXTURES / name).read_bytes()))


@pytest.mark.parametrize("payload", [None, 42, {"raw": "x"}, "", "   \n"])
def test_wrong_payload_types_are_malformed(payload: object) -> None:
    with pytest.raises(MalformedPayload):
        parse_rfc822(envelope(payload))


@pytest.mark.parametrize(
    ("subject", "normalized"),
    [
        ("Re: Hello", "hello"),
        ("RE: Fwd: AW: SV: Hello  World", "hello world"),
        ("Re[2]: [support] Re: Hello", "hello"),
        ("WG: Rechnung", "rechnung"),
        ("Fw: TR: Réf : facture", "facture"),
        ("Regarding your order", "regarding your order"),
        (None, ""),
    ],
)
def test_normalize_subject(subject: str | None, normalized: str) -> None:
    assert normalize_subject(subject) == normalized


def test_msg_ids_tolerates_real_world_forms() -> None:
    assert msg_ids("<a@x> <b@y>\r\n\t<a@x>") == ["a@x", "b@y"]
    assert msg_ids("a@x (Ann's message)") == ["a@x"]
    assert msg_ids("") == []


def test_strip_quotes_variants() -> None:
    outlook = "Thanks!\n\nFrom: Support <s@x>\nSent: Monday\nTo: Ann\nSubject: Re: x\n\nold text"
    assert strip_quotes(outlook) == "Thanks!"
    german = "Danke.\n\nAm 16.11.2026 um 12:00 schrieb Support <s@x>:\n> alt"
    assert strip_quotes(german) == "Danke."
    wrapped = "Yes.\n\nOn Mon, 16 Nov 2026 at 12:00, Support Team <support@parley.test>\nwrote:\n> old"
    assert strip_quotes(wrapped) == "Yes."
    mobile = "Ok\n\nSent from my iPhone"
    assert strip_quotes(mobile) == "Ok"
    all_quote = "> only a quote"
    assert strip_quotes(all_quote) == "> only a quote"


def test_strip_quotes_bare_wrote_line_only_before_quotes() -> None:
    assert (
        strip_quotes("Isn't that the case?\n\nMarc Slemko wrote:\n> > on the wire\n")
        == "Isn't that the case?"
    )
    own_words = "My colleague wrote:\nthe kettle is broken, please help."
    assert strip_quotes(own_words) == own_words


def test_strip_quotes_keeps_bottom_posted_and_interleaved_answers() -> None:
    bottom = "Marc Slemko wrote:\n> is it on the wire?\n\nIsn't that the case for almost every protocol?"
    assert strip_quotes(bottom) == "Isn't that the case for almost every protocol?"
    interleaved = "On Mon, Ann wrote:\n> 1. colour?\nRed.\n> 2. size?\nLarge.\n-- \nBob"
    assert strip_quotes(interleaved) == "Red.\nLarge."


def test_contact_form_keeps_reply_to_and_still_opens_a_conversation() -> None:
    msg = parse("message__contact_form_reply_to.eml")
    assert msg.metadata["reply_to_addresses"] == [{"email": "erin@example.net", "display_name": "Erin Buyer"}]
    assert msg.flags == ["auto_generated"]  # not auto_reply: a real customer is waiting
    assert "size 46" in msg.text


def test_future_date_is_not_believed_and_spam_is_flagged() -> None:
    msg = parse("message__future_date.eml")
    assert msg.created_at == RECEIVED
    assert msg.metadata["date_header"].startswith("2038-01-01")
    assert "spam" in msg.flags and "auto_reply" not in msg.flags
