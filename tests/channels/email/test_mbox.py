"""mbox files are judged message by message: a broken separator, a NUL byte or a missing
``From `` line costs at most the message it is in, and is never silent."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from channels.base import ImportFile
from channels.email.importers import MBOX_FILES
from channels.email.mbox import split_mbox
from flows.imports import detect_format, iter_records
from hub.models import DeadLetter, Envelope

SEP = b"From ann@example.org Mon Nov 23 10:00:00 2026\n"


def mail(n: int, body: bytes = b"Hello\n") -> bytes:
    return f"From: Ann <ann@example.org>\nSubject: message {n}\nMessage-ID: <{n}@x>\n\n".encode() + body


def box(*messages: bytes) -> bytes:
    """An mbox as writers make it: a separator before each message, a blank line after it."""
    return b"".join(SEP + message + b"\n" for message in messages)


def split(data: bytes, keep: int = 1 << 20) -> list[bytes]:
    return [chunk.raw for chunk in split_mbox(io.BytesIO(data), keep)]


def records(tmp_path: Path, data: bytes, name: str = "mail.mbox") -> list[Envelope | DeadLetter]:
    path = tmp_path / name
    path.write_bytes(data)
    found = list(iter_records(path))
    assert MBOX_FILES.count is not None and MBOX_FILES.count(path) == len(found)  # the bar is right
    return found


def test_separators_split_and_the_writers_blank_line_is_dropped() -> None:
    assert split(box(mail(1), mail(2), mail(3))) == [mail(1), mail(2), mail(3)]
    crlf = box(mail(1), mail(2)).replace(b"\n", b"\r\n")
    assert split(crlf) == [mail(1).replace(b"\n", b"\r\n"), mail(2).replace(b"\n", b"\r\n")]


def test_a_from_line_in_a_body_stays_in_its_message() -> None:
    bodies = [
        b"Hi,\nFrom now on we ship on Mondays.\nBye\n",  # not after a blank line
        b"Hi,\n\nFrom my point of view, no.\n\nBye\n",  # after a blank line, but no headers follow
        b"Hi,\n\nFrom ann@example.org Mon Nov 23 10:00:00 2026\nwas quoted without a '>'\n",
    ]
    for body in bodies:
        assert split(box(mail(1, body), mail(2))) == [mail(1, body), mail(2)], body
    # the last line of the file, after a blank line: nothing follows, so no message starts
    assert split(box(mail(1)) + b"From the end") == [mail(1) + b"\nFrom the end"]


def test_a_dated_separator_without_a_blank_line_before_it_still_splits() -> None:
    # mboxes written without the blank line: the full separator form with headers after it
    assert split(SEP + mail(1) + SEP + mail(2)) == [mail(1), mail(2)]


def test_a_message_over_the_cap_keeps_its_size_but_only_its_head() -> None:
    big = mail(1, b"x" * 10_000 + b"\n")
    (chunk,) = split_mbox(io.BytesIO(box(big)), keep=100)
    assert chunk.size == len(big) and chunk.raw == big[:100]


def test_an_over_long_separator_line_is_not_message_content() -> None:
    long_from = b"From ann@example.org Mon Nov 23 10:00:00 2026 " + b"x" * 200_000 + b"\n"
    assert split(long_from + mail(1)) == [mail(1)]


def test_a_nul_byte_costs_its_message_only(tmp_path: Path) -> None:
    broken = mail(2, b"crash \x00\x00\x00 padding\n")
    path = tmp_path / "mail.mbox"
    path.write_bytes(box(mail(1), broken, mail(3)))
    assert detect_format(path) == "mbox"  # a NUL in the first 8 KiB no longer makes it binary
    found = records(tmp_path, box(mail(1), broken, mail(3)))
    assert [type(r) for r in found] == [Envelope, DeadLetter, Envelope]
    assert found[1].reason == "mbox message 1 holds NUL bytes: binary data, not mail"
    assert found[1].raw_ref == f"file:{path}#1" and "crash" in found[1].raw
    assert [r.raw_ref for r in found if isinstance(r, Envelope)] == [f"file:{path}#0", f"file:{path}#2"]


def test_a_message_over_the_size_cap_is_a_dead_letter(tmp_path: Path) -> None:
    path = tmp_path / "mail.mbox"
    path.write_bytes(box(mail(1), mail(2, b"x" * 500 + b"\n")))
    file = ImportFile(path=path, arrival=datetime(2026, 11, 23, tzinfo=UTC), max_bytes=300)
    ok, big = MBOX_FILES.read(file)
    assert isinstance(ok, Envelope) and ok.payload == mail(1)
    assert isinstance(big, DeadLetter) and big.reason.startswith("mbox message 1 of ")
    assert big.reason.endswith("bytes is over the 300-byte limit")


def test_a_mbox_without_from_lines_is_one_message_if_it_is_mail(tmp_path: Path) -> None:
    (only,) = records(tmp_path, mail(1))
    assert isinstance(only, Envelope) and only.payload == mail(1) and only.raw_ref.endswith("mail.mbox#0")


def test_a_mbox_without_from_lines_or_headers_is_a_dead_letter(tmp_path: Path) -> None:
    (only,) = records(tmp_path, b"just some notes\nFrom me\n")
    assert isinstance(only, DeadLetter)
    assert only.reason == "no mbox 'From ' separator line and no mail headers: not an mbox file"
    assert "just some notes" in only.raw


def test_an_empty_mbox_is_a_dead_letter(tmp_path: Path) -> None:
    for data in (b"", b"\n\n"):
        (only,) = records(tmp_path, data)
        assert isinstance(only, DeadLetter) and only.reason == "empty mbox file: no messages"


def test_text_before_the_first_separator_is_kept_or_said(tmp_path: Path) -> None:
    garbage, lost = records(tmp_path, b"exported by some tool\n\n" + box(mail(1)))[0:2]
    assert (
        isinstance(garbage, DeadLetter)
        and garbage.reason == "text before the first 'From ' line is not a mail message"
    )
    assert garbage.raw_ref is not None and garbage.raw_ref.endswith("#preamble")
    assert isinstance(lost, Envelope)
    # a box whose first separator was lost: its first message is still imported
    first, second = records(tmp_path, mail(1) + b"\n" + box(mail(2)))
    assert isinstance(first, Envelope) and first.payload == mail(1)
    assert isinstance(second, Envelope) and second.payload == mail(2)
