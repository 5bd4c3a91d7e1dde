"""Mail files into envelopes: .eml files (one message each) and mbox files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from channels.base import ImportFile
from channels.email.importers import EML_FILES, MBOX_FILES, looks_like_mail, looks_like_mbox
from flows.imports import iter_records
from hub.models import DeadLetter, Envelope

ARRIVAL = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MAIL = (
    b"From: Ann <ann@example.org>\r\nTo: support@parley.example\r\nSubject: hi\r\n"
    b"Message-ID: <1@x>\r\n\r\nHello\r\n"
)


def import_file(path: Path, max_bytes: int = 1 << 20) -> ImportFile:
    return ImportFile(path=path, arrival=ARRIVAL, max_bytes=max_bytes)


def test_mbox_yields_one_envelope_per_message(tmp_path: Path) -> None:
    box = tmp_path / "mail.mbox"
    box.write_bytes(
        b"".join(
            b"From ann@example.org Mon Nov 23 10:00:00 2026\n"
            + MAIL.replace(b"<1@x>", f"<{i}@x>".encode())
            + b"\n"
            for i in range(3)
        )
    )
    records = list(iter_records(box))
    assert [type(r) for r in records] == [Envelope] * 3
    assert all(isinstance(r, Envelope) and r.kind == "rfc822" and b"Message-ID" in r.payload for r in records)
    direct = list(MBOX_FILES.read(import_file(box)))
    assert [r.raw_ref for r in direct] == [f"file:{box}#{i}" for i in range(3)]
    assert all(isinstance(r, Envelope) and r.received_at == ARRIVAL and r.account == "import" for r in direct)
    assert MBOX_FILES.count is not None and MBOX_FILES.count(box) == 3


def test_eml_file_is_one_envelope_or_a_dead_letter(tmp_path: Path) -> None:
    mail = tmp_path / "a.eml"
    mail.write_bytes(MAIL)
    (envelope,) = EML_FILES.read(import_file(mail))
    assert isinstance(envelope, Envelope) and envelope.payload == MAIL and envelope.raw_ref == f"file:{mail}"
    blank = tmp_path / "empty.eml"
    blank.write_bytes(b" \n")
    (empty,) = EML_FILES.read(import_file(blank))
    assert isinstance(empty, DeadLetter) and empty.reason == "empty .eml file" and empty.stage == "import"
    (big,) = EML_FILES.read(import_file(mail, max_bytes=10))
    assert isinstance(big, DeadLetter) and "over the 10-byte limit" in big.reason and "Ann" in big.raw


def test_mail_and_mbox_are_recognised_by_their_first_bytes() -> None:
    assert looks_like_mail(MAIL) and looks_like_mail(b"\r\nReceived: from x\r\n")
    assert not looks_like_mail(b"From ann@example.org Mon Nov 23") and not looks_like_mail(b"{}")
    assert looks_like_mbox(b"From ann@example.org Mon Nov 23 10:00:00 2026\n")
    assert not looks_like_mbox(MAIL)
