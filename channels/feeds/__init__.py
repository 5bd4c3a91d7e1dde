"""The feeds channel: RSS 0.9x/1.0/2.0, Atom 0.3/1.0, RDF and forum feeds (Discourse, Reddit).

``FEEDS`` is its descriptor. ``parse.PARSERS`` turns a feed document (one envelope of kind
``feed``) into one message per entry; ``source.FeedSource`` polls configured feeds politely
(conditional GET, backoff, size limit) and emits those envelopes; ``importers`` read feed
files; ``registry.FeedRegistry`` holds the feeds added at runtime through the API;
``settings`` holds the configured feeds (``[[feeds.feeds]]`` in ``parley.toml``). Feeds are
read-only: this channel has no replier, and it threads by reply links only (no subject
fallback).
"""

from __future__ import annotations

from channels.base import Channel, NamedSource
from channels.feeds.importers import IMPORTERS
from channels.feeds.parse import PARSERS
from channels.feeds.settings import CHANNEL, FeedSettings
from hub.settings import Settings

__all__ = ["FEEDS"]


def sources(settings: Settings) -> list[NamedSource]:
    # The poller fetches with httpx: imported on first use, so a process that only parses
    # feeds (an import, the API) never loads it.
    from channels.feeds.source import sources as feed_sources

    return feed_sources(settings)


FEEDS: Channel[FeedSettings] = Channel(
    name=CHANNEL,
    settings_model=FeedSettings,
    parsers=PARSERS,
    sources=sources,
    importers=IMPORTERS,
)
