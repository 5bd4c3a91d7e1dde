"""Feed files into ``feed`` envelopes: one RSS, Atom or RDF document per file.

A file is claimed by its suffix (``.xml``, ``.rss``, ``.atom``, ``.rdf``, ``.feed``) or by
starting like a feed (an XML declaration, or an ``<rss``, ``<feed`` or ``<rdf`` element in its
first 512 bytes). The whole document is the envelope's payload; the parser reads every entry.
"""

from __future__ import annotations

from channels.base import FileImporter, whole_file_importer
from channels.feeds.parse import FEED_KIND
from channels.feeds.settings import CHANNEL

__all__ = ["FEED_FILES", "IMPORTERS", "looks_like_feed"]


def looks_like_feed(head: bytes) -> bool:
    """The file starts like an XML feed document."""
    lowered = head.lstrip()[:512].lower()
    return lowered.startswith(b"<?xml") or any(tag in lowered for tag in (b"<rss", b"<feed", b"<rdf"))


FEED_FILES = whole_file_importer(
    "feed",
    channel=CHANNEL,
    kind=FEED_KIND,
    what="feed file",
    suffixes=frozenset({".xml", ".rss", ".atom", ".rdf", ".feed"}),
    sniff=looks_like_feed,
)

IMPORTERS: tuple[FileImporter, ...] = (FEED_FILES,)
