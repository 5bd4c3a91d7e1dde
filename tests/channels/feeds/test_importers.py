"""Feed files into envelopes: one feed document per file, claimed by suffix or by content."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from channels import parse_envelope
from channels.base import ImportFile
from channels.feeds.importers import FEED_FILES, looks_like_feed
from hub.models import Envelope
from tests.channels.feeds.conftest import FIXTURES


def test_a_feed_file_is_one_envelope_of_its_entries(tmp_path: Path) -> None:
    path = FIXTURES / "feed__atom03.xml"
    file = ImportFile(path=path, arrival=datetime(2026, 11, 23, tzinfo=UTC), max_bytes=1 << 20)
    (envelope,) = FEED_FILES.read(file)
    assert isinstance(envelope, Envelope)
    assert (envelope.channel, envelope.kind, envelope.account) == ("feeds", "feed", "import")
    assert envelope.raw_ref == f"file:{path}" and parse_envelope(envelope)


def test_feeds_are_recognised_by_their_first_bytes() -> None:
    assert looks_like_feed(b'<?xml version="1.0"?><rss version="2.0">')
    assert looks_like_feed(b"\n  <feed xmlns='http://www.w3.org/2005/Atom'>")
    assert looks_like_feed(b"<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>")
    assert not looks_like_feed(b"From: ann@example.org\r\n") and not looks_like_feed(b"<html>")
