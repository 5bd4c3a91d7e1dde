"""The feeds channel's settings: the feeds polled and how politely.

They live in the root settings' ``channels["feeds"]`` table, written ``PARLEY_FEEDS__...`` or
``[feeds]`` in ``parley.toml`` (see ``hub.settings_sources``); feeds added through the API are
kept apart, in the runtime registry (``channels.feeds.registry``). Unknown keys are refused,
so a misspelt option fails at start-up instead of being ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = ["CHANNEL", "FeedConfig", "FeedSettings", "feed_settings"]

#: the channel's name: ``Envelope.channel``, ``Message.channel`` and its settings table
CHANNEL = "feeds"


class FeedConfig(BaseModel):
    """One polled feed; ``query`` (KB query language) filters which items are kept."""

    model_config = ConfigDict(extra="forbid")

    url: str
    name: str | None = None
    query: str | None = None
    poll_interval_s: float = 900.0


class FeedSettings(BaseModel):
    """The ``[feeds]`` table: configured feeds and the poller's manners."""

    model_config = ConfigDict(extra="forbid")

    feeds: list[FeedConfig] = Field(default_factory=list)
    user_agent: str = "Parley/0.1 (+social listening hub)"
    max_bytes: int = 10 * 1024 * 1024
    timeout_s: float = 20.0
    #: redirects followed before a feed is dead-lettered as a redirect loop
    max_redirects: int = Field(default=5, ge=0)
    #: feeds fetched at once (in background threads, so the dataflow never waits on HTTP)
    concurrency: int = Field(default=4, ge=1)
    #: entry ids remembered per feed so an entry is emitted once even when the feed changes
    seen_ids_max: int = Field(default=5000, ge=10)
    #: first delay after a failure; doubles per consecutive failure up to ``backoff_max_s``
    backoff_base_s: float = Field(default=60.0, gt=0)
    backoff_max_s: float = Field(default=6 * 3600.0, gt=0)
    #: consecutive retriable failures (timeouts, 5xx, 429) before a dead letter makes them visible
    dead_letter_after: int = Field(default=3, ge=1)
    #: how often the poller re-reads the runtime feed registry (feeds added through the API)
    registry_reload_s: float = Field(default=2.0, gt=0)
    #: let feeds reach loopback, private, link-local and other internal addresses (an intranet
    #: feed); off by default: a feed URL added through the API must not probe the hub's network
    allow_private_addresses: bool = False


def feed_settings(settings: Settings) -> FeedSettings:
    """The feeds channel's settings out of the root ``settings`` (validated)."""
    return settings.channel_settings(CHANNEL, FeedSettings)
