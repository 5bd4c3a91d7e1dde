"""The file import source: every record becomes an envelope or a dead letter with a reason."""

from __future__ import annotations

import json
from pathlib import Path

from channels import CHANNELS
from flows.imports import (
    JSONL_ENVELOPES,
    MAX_LINE_BYTES,
    detect_format,
    importer_for,
    iter_records,
)
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


def envelope_line(native_id: str, **payload: object) -> bytes:
    body = {"native_id": native_id, "text": f"message {native_id}", **payload}
    return json.dumps({"channel": "twitter", "kind": "parley.message", "payload": body}).encode() + b"\n"


def test_an_over_long_line_is_skipped_unread_and_the_next_lines_still_flow(tmp_path: Path) -> None:
    fits = envelope_line("fits").rstrip().ljust(MAX_LINE_BYTES)  # JSON may end in spaces
    head = b'{"channel": "twitter", "kind": "parley.message", "payload": {"native_id": "big", "text": "'
    big = head + b"x" * MAX_LINE_BYTES + b'"}}\n'
    path = tmp_path / "big.jsonl"
    path.write_bytes(envelope_line("1") + fits + b"\n" + big + envelope_line("2") + big.rstrip())

    records = list(iter_records(path))

    assert [type(r) for r in records] == [Envelope, Envelope, DeadLetter, Envelope, DeadLetter]
    assert len(fits) == MAX_LINE_BYTES  # the limit itself is allowed
    over, last = records[2], records[4]
    assert isinstance(over, DeadLetter) and isinstance(last, DeadLetter)
    assert over.reason == f"line 3 of {len(big)} bytes is over the {MAX_LINE_BYTES}-byte limit"
    assert over.raw.startswith('{"channel": "twitter"') and len(over.raw) == 4096
    assert last.reason == f"line 5 of {len(big) - 1} bytes is over the {MAX_LINE_BYTES}-byte limit"
    assert JSONL_ENVELOPES.count is not None and JSONL_ENVELOPES.count(path) == 5


def test_nesting_past_the_payload_limit_is_a_dead_letter_for_its_line(tmp_path: Path) -> None:
    deep: object = {}
    for _ in range(199):
        deep = {"a": deep}
    path = tmp_path / "deep.jsonl"
    path.write_bytes(
        envelope_line("1")
        + envelope_line("deep", metadata=deep)  # 1.8 KB: the line that stopped `parley run`
        + b"[" * 200_000  # past json's own limit: RecursionError, caught
        + b"\n"
        + envelope_line("2")
    )

    records = list(iter_records(path))

    assert [type(r) for r in records] == [Envelope, DeadLetter, DeadLetter, Envelope]
    assert records[1].reason.startswith("line 2: payload.metadata.a.a")
    assert records[1].reason.endswith("nests deeper than 32 levels")
    assert records[1].raw == envelope_line("deep", metadata=deep).decode()
    assert records[2].reason == "line 3 is not JSON: nested too deeply"


def test_a_nul_byte_refuses_its_line_only_when_the_file_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "nul.jsonl"
    path.write_bytes(envelope_line("1") + b'{"channel": "tw\x00itter"}\n' + envelope_line("2"))
    assert detect_format(path) == "jsonl"
    records = list(iter_records(path))
    assert [type(r) for r in records] == [Envelope, DeadLetter, Envelope]
    assert "line 2 is not JSON" in records[1].reason
