"""The file import source: every record becomes an envelope or a dead letter with a reason."""

from __future__ import annotations

from pathlib import Path

from channels import CHANNELS
from flows.imports import JSONL_ENVELOPES, detect_format, importer_for, iter_records
from hub.models import DeadLetter, Envelope

FIXTURES = Path(__file__).parent / "fixtures"

MAIL = (
    b"From: Ann <ann@example.org>\r\nTo: support@parley.example\r\nSubject: hi\r\n"
    b"Message-ID: <1@x>\r\n\r\nHello\r\n"
)


def test_jsonl_lines_become_envelopes_or_dead_letters(tmp_path: Path) -> None:
    records = list(iter_records(FIXTURES / "envelopes__threads.jsonl"))
    envelopes = [r for r in records if isinstance(r, Envelope)]
    dead = [r for r in records if isinstance(r, DeadLetter)]
    assert len(records) == 15
    assert len(envelopes) == 13 and len(dead) == 2
    assert {d.raw_ref.rsplit(":", 1)[1] for d in dead if d.raw_ref} == {"11", "15"}
    assert "not JSON" in dead[0].reason and "truncated" in dead[0].raw
    assert "not a JSON object" in dead[1].reason
    assert all(e.raw_ref and e.raw_ref.startswith("file:") for e in envelopes)


def test_formats_are_detected_by_name_then_content(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(MAIL)
    (tmp_path / "noext").write_bytes(MAIL)
    (tmp_path / "box").write_bytes(b"From ann@example.org Mon Nov 23 10:00:00 2026\n" + MAIL)
    (tmp_path / "feed").write_bytes(b'<?xml version="1.0"?><rss version="2.0"><channel></channel></rss>')
    (tmp_path / "blob.jsonl").write_bytes(b"\x00\x01\x02garbage")
    (tmp_path / "notes.txt").write_bytes(b"just some words")
    assert detect_format(tmp_path / "a.eml") == "eml"
    assert detect_format(tmp_path / "noext") == "eml"
    assert detect_format(tmp_path / "box") == "mbox"
    assert detect_format(tmp_path / "feed") == "feed"
    assert detect_format(tmp_path / "blob.jsonl") == "binary"
    assert detect_format(tmp_path / "notes.txt") == "unknown"


def test_garbage_files_become_dead_letters_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "blob.jsonl").write_bytes(b"\x00\x01\x02\xff garbage")
    (tmp_path / "empty.eml").write_bytes(b"")
    (tmp_path / "notes.txt").write_bytes(b"just some words")
    (tmp_path / "bad.jsonl").write_bytes(b'{"channel": "twitter"}\n\xff\xfe\n')
    records = list(iter_records(tmp_path))
    assert all(isinstance(r, DeadLetter) for r in records)
    reasons = {Path(r.raw_ref.split(":")[1]).name: r.reason for r in records if r.raw_ref}
    assert "binary" in reasons["blob.jsonl"]
    assert "empty" in reasons["empty.eml"]
    assert "unrecognised" in reasons["notes.txt"]
    assert len([r for r in records if "bad.jsonl" in (r.raw_ref or "")]) == 2
    (missing,) = iter_records(tmp_path / "missing.jsonl")
    assert isinstance(missing, DeadLetter) and missing.reason == "no such file or folder"


def test_a_channels_format_is_read_by_its_importer(tmp_path: Path) -> None:
    # the mbox format is the email channel's (channels/email/importers.py); the import source
    # only finds the importer that claims the file
    box = tmp_path / "box"
    box.write_bytes(b"From ann@example.org Mon Nov 23 10:00:00 2026\n" + MAIL)
    importer = importer_for(box)
    assert importer is not None and importer.name == "mbox"
    (envelope,) = iter_records(box)
    assert isinstance(envelope, Envelope) and envelope.channel == "email" and envelope.kind == "rfc822"
    assert envelope.raw_ref == f"file:{box}#0"
    assert importer_for(tmp_path / "missing") is None


def test_every_suffix_is_claimed_by_one_importer_only() -> None:
    importers = [JSONL_ENVELOPES, *(i for channel in CHANNELS.values() for i in channel.importers)]
    suffixes = [suffix for importer in importers for suffix in importer.suffixes]
    assert len(suffixes) == len(set(suffixes))
    assert all(suffix.startswith(".") and suffix == suffix.lower() for suffix in suffixes)
