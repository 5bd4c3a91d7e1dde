"""Feeds added and removed at runtime, persisted as JSON under the data directory.

The API writes ``<data_dir>/feeds.json``; the poller re-reads it when it changes, so a feed
added through ``POST /feeds`` starts flowing without a restart. Writes replace the file
atomically under a lock file, so a reader never sees half a registry and two API workers
never lose each other's change. Feeds configured in settings are listed alongside but are
not stored here (they are changed where they are configured).

``list_all``, ``add_checked`` and ``remove`` are what the API calls: the settings and runtime
feeds merged, a new feed checked (URL policy of ``channels.feeds.addresses``, an optional
query validator passed in by the caller, duplicates) and stored, an added feed removed. They
raise ``RefusedFeedURL``/``UnresolvableHost`` (bad URL), ``FeedAlreadyPolled``,
``FeedInSettings`` or ``UnknownFeed``; whatever the query validator raises passes through.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from channels.feeds.addresses import AddressPolicy
from channels.feeds.settings import FeedConfig, feed_settings
from channels.feeds.threading import host_of
from hub.errors import FatalError, ParleyError
from hub.models import utcnow
from hub.settings import Settings

__all__ = [
    "FeedAlreadyPolled",
    "FeedInSettings",
    "FeedRegistry",
    "FeedRegistryError",
    "RegisteredFeed",
    "UnknownFeed",
    "add_checked",
    "address_policy",
    "feed_account",
    "feed_id",
    "list_all",
    "registry_path",
    "remove",
]

REGISTRY_FILE = "feeds.json"


def registry_path(settings: Settings) -> Path:
    """Where the runtime feed registry of this hub lives."""
    return settings.data_dir / REGISTRY_FILE


def address_policy(settings: Settings) -> AddressPolicy:
    """Which addresses this hub's feeds may reach (``feeds.allow_private_addresses``)."""
    return AddressPolicy.from_settings(feed_settings(settings))


def feed_id(url: str) -> str:
    """The stable id of the feed at ``url`` (the same URL is the same feed)."""
    return "feed_" + hashlib.blake2b(url.strip().encode("utf-8"), digest_size=6).hexdigest()


def feed_account(config: FeedConfig) -> str:
    """The account a feed's messages belong to: its name, else its site's host.

    A blog's posts feed and its comments feeds share a host, so by default their messages
    share an account and a post and its comments thread into one conversation; give feeds of
    one site the same name to keep that when naming them.
    """
    return config.name or host_of(config.url) or config.url


class RegisteredFeed(BaseModel):
    """A feed as the API lists it."""

    model_config = ConfigDict(frozen=True)

    id: str
    url: str
    name: str | None = None
    query: str | None = None
    poll_interval_s: float = 900.0
    account: str
    origin: Literal["settings", "api"] = "api"
    added_at: datetime | None = None

    @classmethod
    def of(
        cls, config: FeedConfig, origin: Literal["settings", "api"], added_at: datetime | None = None
    ) -> RegisteredFeed:
        return cls(
            id=feed_id(config.url),
            url=config.url,
            name=config.name,
            query=config.query,
            poll_interval_s=config.poll_interval_s,
            account=feed_account(config),
            origin=origin,
            added_at=added_at,
        )

    def config(self) -> FeedConfig:
        return FeedConfig(
            url=self.url, name=self.name, query=self.query, poll_interval_s=self.poll_interval_s
        )


class _Stored(BaseModel):
    feeds: list[RegisteredFeed] = Field(default_factory=list)


class FeedRegistry:
    """The runtime feed list in one JSON file; cheap to re-read (by modification time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: list[RegisteredFeed] = []
        self._stamp: tuple[int, int] | None = None

    def feeds(self) -> list[RegisteredFeed]:
        """The registered feeds, re-read only when the file changed."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._cache, self._stamp = [], None
            return []
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._cache = self._read()
            self._stamp = stamp
        return list(self._cache)

    def add(self, config: FeedConfig) -> RegisteredFeed:
        """Register ``config``; raises ``KeyError`` with the existing entry when the URL is known."""
        with self._locked():
            feeds = self._read()
            new = RegisteredFeed.of(config, "api", added_at=utcnow())
            for feed in feeds:
                if feed.id == new.id:
                    raise KeyError(feed.id)
            self._write([*feeds, new])
            return new

    def remove(self, id_: str) -> bool:
        """Unregister feed ``id_``; ``False`` when there was none."""
        with self._locked():
            feeds = self._read()
            kept = [f for f in feeds if f.id != id_]
            if len(kept) == len(feeds):
                return False
            self._write(kept)
            return True

    def _read(self) -> list[RegisteredFeed]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        try:
            return _Stored.model_validate_json(raw).feeds
        except ValidationError as exc:
            raise FatalError(
                f"feed registry {self.path} is not valid ({exc.error_count()} errors); fix or remove it"
            ) from exc

    def _write(self, feeds: list[RegisteredFeed]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(_Stored(feeds=feeds).model_dump(mode="json"), indent=2), encoding="utf-8")
        os.replace(tmp, self.path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f".{self.path.name}.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class FeedRegistryError(ParleyError):
    """A change to the feed list that cannot be made as asked."""


class FeedAlreadyPolled(FeedRegistryError):
    """The URL is polled already (configured in settings or added before); ``existing`` is it."""

    def __init__(self, existing: RegisteredFeed) -> None:
        super().__init__(f"already polled: {existing.url} ({existing.id})")
        self.existing = existing


class FeedInSettings(FeedRegistryError):
    """The feed is configured in settings; only the runtime registry is changed here."""

    def __init__(self, id_: str) -> None:
        super().__init__(f"{id_} is configured in settings (feeds.feeds); remove it there")
        self.id = id_


class UnknownFeed(FeedRegistryError):
    """No feed has this id."""

    def __init__(self, id_: str) -> None:
        super().__init__(f"no feed {id_}")
        self.id = id_


def list_all(settings: Settings) -> list[RegisteredFeed]:
    """Every polled feed: those configured in settings first, then those added at runtime."""
    configured = [RegisteredFeed.of(config, "settings") for config in feed_settings(settings).feeds]
    known = {feed.id for feed in configured}
    added = [feed for feed in FeedRegistry(registry_path(settings)).feeds() if feed.id not in known]
    return configured + added


def add_checked(
    settings: Settings,
    config: FeedConfig,
    *,
    validate_query: Callable[[str], object] | None = None,
    policy: AddressPolicy | None = None,
) -> RegisteredFeed:
    """Store ``config`` in the runtime registry once it passed every check, in this order.

    The URL (stripped) must be http(s) and, unless ``feeds.allow_private_addresses`` is set,
    resolve to public addresses only (``policy``, by default the settings'); the query
    (stripped; blank is none) must satisfy ``validate_query``; the URL must not be polled yet.
    """
    url = config.url.strip()
    (policy or address_policy(settings)).check_url(url)
    query = config.query.strip() if config.query else None
    if query and validate_query is not None:
        validate_query(query)
    config = config.model_copy(update={"url": url, "query": query or None})
    new_id = feed_id(url)
    for feed in list_all(settings):
        if feed.id == new_id:
            raise FeedAlreadyPolled(feed)
    try:
        return FeedRegistry(registry_path(settings)).add(config)
    except KeyError as exc:  # added concurrently by another request
        raise FeedAlreadyPolled(RegisteredFeed.of(config, "api")) from exc


def remove(settings: Settings, id_: str) -> None:
    """Stop polling feed ``id_`` added at runtime; feeds in settings are changed there."""
    if any(feed_id(config.url) == id_ for config in feed_settings(settings).feeds):
        raise FeedInSettings(id_)
    if not FeedRegistry(registry_path(settings)).remove(id_):
        raise UnknownFeed(id_)
