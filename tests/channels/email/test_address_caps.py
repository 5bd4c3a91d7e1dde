"""Address lists are capped: a mail to 100,000 recipients keeps the first ones and the count.

The mails are generated here (megabytes of headers are not committed as fixtures). What is
asserted is what reaches the stdlib header parser, never how long it took.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.parser import BytesParser

from channels.email.headers import MAX_ADDRESS_CHARS, MAX_ADDRESSES, address_list, addresses
from channels.email.parse import parse_rfc822
from hub.models import Envelope

RECEIVED = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def mail_to_many(count: int) -> bytes:
    """A mail whose To and Cc hold ``count`` recipients between them, folded as clients do."""
    half = count // 2
    to = ",\r\n ".join(f'"User {i}" <user{i}@example.com>' for i in range(half))
    cc = ",\r\n ".join(f"user{i}@example.org" for i in range(half, count))
    return (
        f"From: Ann <ann@example.com>\r\nTo: {to}\r\nCc: {cc}\r\nSubject: hello all\r\n"
        "Message-ID: <many@example.com>\r\nDate: Mon, 16 Nov 2026 08:15:00 +0000\r\n\r\nHello\r\n"
    ).encode()


class RecordingRegistry(HeaderRegistry):
    """The stdlib header registry, remembering every (name, value) it is asked to parse."""

    def __init__(self) -> None:
        super().__init__()
        self.parsed: list[tuple[str, str]] = []

    def __call__(self, name: str, value: str) -> BaseHeader:
        self.parsed.append((name, value))
        return super().__call__(name, value)


def test_huge_recipient_list_keeps_the_first_addresses_and_the_count() -> None:
    envelope = Envelope(
        channel="email", kind="rfc822", account="support", payload=mail_to_many(100_000), received_at=RECEIVED
    )
    [msg] = parse_rfc822(envelope)
    assert [r.email for r in msg.recipients] == [f"user{i}@example.com" for i in range(MAX_ADDRESSES)]
    assert msg.recipients[0].display_name == "User 0"
    assert msg.metadata["recipient_count"] == 100_000
    assert msg.author is not None and msg.author.email == "ann@example.com"


def test_address_headers_reach_the_parser_only_as_a_bounded_slice() -> None:
    registry = RecordingRegistry()
    msg = BytesParser(policy=policy.default.clone(header_factory=registry)).parsebytes(mail_to_many(5_000))
    assert isinstance(msg, EmailMessage)
    found = address_list(msg, "To", "Cc")
    assert len(found.pairs) == MAX_ADDRESSES and found.total == 5_000 and found.capped
    parsed = [value for name, value in registry.parsed if name in ("To", "Cc")]
    assert parsed, "the kept addresses go through the header registry"
    assert sum(len(value) for value in parsed) <= MAX_ADDRESS_CHARS
    assert sum(value.count("@") for value in parsed) == MAX_ADDRESSES


def test_small_lists_are_read_whole_and_not_counted() -> None:
    raw = mail_to_many(6)
    [msg] = parse_rfc822(Envelope(channel="email", kind="rfc822", payload=raw, received_at=RECEIVED))
    assert len(msg.recipients) == 6
    assert "recipient_count" not in msg.metadata


def test_the_split_respects_quotes_comments_angle_brackets_and_groups() -> None:
    raw = (
        b'To: "Doe, John" <john@example.com>, (a comment, with commas) kim@example.com,\r\n'
        b' Team: <lee@example.com>, "Mo" <mo@example.com>;, undisclosed-recipients:;,\r\n'
        b" <odd,name@example.com>, ann@example.com\r\n\r\nbody\r\n"
    )
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    assert addresses(msg, "To", limit=2) == [("Doe, John", "john@example.com"), ("", "kim@example.com")]
    # The cut falls inside the group: the group's first member is kept, the rest counted.
    cut = address_list(msg, "To", limit=3)
    assert [a for _, a in cut.pairs] == ["john@example.com", "kim@example.com", "lee@example.com"]
    assert cut.capped and cut.total == 6
    whole = address_list(msg, "To")
    assert [a for _, a in whole.pairs][:4] == [
        "john@example.com",
        "kim@example.com",
        "lee@example.com",
        "mo@example.com",
    ]
    assert whole.pairs[-1] == ("", "ann@example.com")
    assert not whole.capped


def test_the_character_cap_holds_however_few_entries() -> None:
    giant = "x" * (MAX_ADDRESS_CHARS + 10)
    raw = f'To: a@example.com, "{giant}" <b@example.com>, c@example.com\r\n\r\nbody\r\n'.encode()
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    found = address_list(msg, "To")
    assert found.pairs == [("", "a@example.com")]
    assert found.capped and found.total == 3


def test_escaped_and_unterminated_quotes_do_not_split_entries() -> None:
    raw = (
        b'To: "Quote \\", comma" <q@example.com>, r@example.com, "open, to the end s@example.com\r\n\r\nx\r\n'
    )
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    found = address_list(msg, "To", limit=2)
    assert [a for _, a in found.pairs] == ["q@example.com", "r@example.com"]
    assert found.capped and found.total == 3


def test_blank_entries_do_not_carry_a_huge_header_to_the_parser() -> None:
    registry = RecordingRegistry()
    raw = b"To: a@example.com" + b", " * MAX_ADDRESS_CHARS + b"\r\n\r\nbody\r\n"
    msg = BytesParser(policy=policy.default.clone(header_factory=registry)).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    assert addresses(msg, "To") == [("", "a@example.com")]
    assert [value for name, value in registry.parsed if name == "To"] == ["a@example.com"]
