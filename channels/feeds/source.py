"""The feed poller: a Bytewax source emitting feed envelopes and dead letters.

One partition (``"feeds"``) polls every configured feed plus those in the runtime registry
(re-read every ``registry_reload_s``, so feeds added through the API flow without a restart).
Its state - exactly what ``snapshot()`` returns - is one ``FeedCursor`` per feed URL: ETag and
Last-Modified for conditional GET, the entry ids already emitted (bounded), the next poll
time and the failure count that drives backoff.

``next_batch`` never blocks: HTTP runs in a small thread pool (``concurrency`` threads; a
slow or dead feed only holds its own thread up to the timeout) and ``next_batch`` only
collects finished fetches, updates cursors and submits feeds that are due. Cursors are only
touched on the dataflow's thread, so a snapshot is always consistent with what was emitted.

Items are ``Envelope(channel="feeds", kind="feed", account=<feed account>, raw_ref=<url>,
payload={"url", "content" (bytes), "content_type", "listen_query", "entry_ids"})`` carrying
only entries not emitted before, or ``DeadLetter(stage="source")`` for a feed that is not a
feed (HTML), too large, a redirect loop, a 4xx, refused by the address policy (an internal
address, checked on every request: DNS may have changed since the feed was added), or still
failing after ``dead_letter_after`` retries (timeouts, 429/503 with their Retry-After
honoured up to ``backoff_max_s``). Other feeds keep flowing.

An entry is emitted once: edits to an entry already seen are not re-emitted (feeds rarely
say reliably when an entry changed; the KB keeps the first version).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from channels.base import NamedSource
from channels.feeds.addresses import AddressPolicy
from channels.feeds.cursor import FeedCursor
from channels.feeds.fetch import FetchResult, build_client, fetch_feed
from channels.feeds.parse import FEED_KIND, feed_entry_ids
from channels.feeds.registry import FeedRegistry, feed_account, registry_path
from channels.feeds.settings import CHANNEL, FeedConfig, FeedSettings, feed_settings
from hub.errors import MalformedPayload, ParleyError, RetriableError
from hub.models import DeadLetter, Envelope
from hub.settings import Settings

__all__ = ["FeedItem", "FeedSource", "sources"]

log = logging.getLogger(__name__)

FeedItem = Envelope | DeadLetter
PARTITION = "feeds"
_DEAD_LETTER_RAW_MAX = 256 * 1024
_BUSY_POLL = timedelta(milliseconds=50)


@dataclass(frozen=True)
class _Outcome:
    """What one background poll found; applied to the cursor on the dataflow's thread."""

    result: FetchResult | None = None
    entry_ids: tuple[str, ...] = ()
    error: ParleyError | None = None


class FeedSource(FixedPartitionedSource[FeedItem, dict[str, Any]]):
    """Polls ``feeds`` (and the registry at ``registry_path``) politely; see the module doc.

    ``once=True`` ends the source after one pass over every feed (batch runs and tests): each
    feed is fetched once, whatever its schedule, and a failure that would be retried later is
    dead-lettered instead, since there is no later. ``address_policy`` decides which addresses
    fetches may reach (default: the one ``settings`` describe; internal ones are refused).
    """

    def __init__(
        self,
        feeds: list[FeedConfig],
        settings: FeedSettings,
        *,
        registry_path: Path | None = None,
        once: bool = False,
        clock: Callable[[], float] = time.time,
        address_policy: AddressPolicy | None = None,
    ) -> None:
        self.feeds = list(feeds)
        self.address_policy = address_policy
        self.settings = settings
        self.registry_path = registry_path
        self.once = once
        self.clock = clock

    def list_parts(self) -> list[str]:
        return [PARTITION]

    def build_part(self, step_id: str, for_part: str, resume_state: dict[str, Any] | None) -> FeedPartition:
        return FeedPartition(self, resume_state)


class FeedPartition(StatefulSourcePartition[FeedItem, dict[str, Any]]):
    """The single polling partition; state is ``{"cursors": {url: cursor state}}``."""

    def __init__(self, source: FeedSource, resume_state: dict[str, Any] | None) -> None:
        self._source = source
        self._settings = source.settings
        self._clock = source.clock
        self._registry = FeedRegistry(source.registry_path) if source.registry_path else None
        self._cursors = {
            url: FeedCursor.from_state(state)
            for url, state in (resume_state or {}).get("cursors", {}).items()
        }
        self._feeds: dict[str, FeedConfig] = {}
        self._next_reload = 0.0
        self._attempted: set[str] = set()
        self._inflight: dict[str, Future[_Outcome]] = {}
        self._client = build_client(self._settings, source.address_policy)
        self._pool = ThreadPoolExecutor(
            max_workers=self._settings.concurrency, thread_name_prefix="feed-poll"
        )
        self._done = False

    @property
    def in_flight(self) -> int:
        """Fetches running in the background right now."""
        return len(self._inflight)

    # Bytewax protocol ---------------------------------------------------------------------

    def next_batch(self) -> list[FeedItem]:
        if self._done:
            raise StopIteration
        now = self._clock()
        self._reload_feeds(now)
        items: list[FeedItem] = []
        for url, future in list(self._inflight.items()):
            if future.done():
                del self._inflight[url]
                config = self._feeds.get(url)
                if config is not None:  # removed meanwhile: drop what it fetched
                    items.extend(self._apply(config, future.result(), now))
        self._submit_due(now)
        if self._source.once and not self._inflight and self._attempted >= set(self._feeds):
            self._done = True  # emit this last batch; the next call ends the source
        return items

    def next_awake(self) -> datetime | None:
        if self._done or self._inflight:
            return datetime.now(UTC) + _BUSY_POLL
        if self._source.once:
            return None
        wake = self._next_reload
        for url in self._feeds:
            cursor = self._cursors.get(url)
            wake = min(wake, cursor.next_poll_at if cursor else 0.0)
        # the clock may be injected; express the wait relative to real time
        delay = max(wake - self._clock(), 0.0)
        return datetime.now(UTC) + timedelta(seconds=delay)

    def snapshot(self) -> dict[str, Any]:
        return {"cursors": {url: cursor.to_state() for url, cursor in self._cursors.items()}}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    # Scheduling ---------------------------------------------------------------------------

    def _reload_feeds(self, now: float) -> None:
        if now < self._next_reload or (self._source.once and self._feeds):
            return
        self._next_reload = now + self._settings.registry_reload_s
        feeds = {config.url: config for config in self._source.feeds}
        if self._registry is not None:
            try:
                for registered in self._registry.feeds():
                    feeds.setdefault(registered.url, registered.config())
            except ParleyError as exc:  # a broken registry must not stop the configured feeds
                log.error("feed registry unreadable, keeping the previous list: %s", exc)
                return
        for url in set(self._cursors) - set(feeds):
            del self._cursors[url]  # removed feeds take their state with them
        self._feeds = feeds

    def _submit_due(self, now: float) -> None:
        for url, config in self._feeds.items():
            if url in self._inflight:
                continue
            cursor = self._cursors.setdefault(url, FeedCursor(url=url))
            if self._source.once:
                if url in self._attempted:
                    continue
            elif cursor.next_poll_at > now:
                continue
            self._attempted.add(url)
            self._inflight[url] = self._pool.submit(self._poll, config, cursor.etag, cursor.last_modified)

    def _poll(self, config: FeedConfig, etag: str | None, last_modified: str | None) -> _Outcome:
        # Runs in a pool thread: touches no partition state, only returns what it found.
        result: FetchResult | None = None
        try:
            result = fetch_feed(
                self._client,
                config.url,
                max_bytes=self._settings.max_bytes,
                deadline_s=self._settings.timeout_s,
                max_retry_after_s=self._settings.backoff_max_s,
                etag=etag,
                last_modified=last_modified,
            )
            if result.status == 304:
                return _Outcome(result=result)
            ids = feed_entry_ids(_payload(config, result, None))
            return _Outcome(result=result, entry_ids=tuple(ids))
        except MalformedPayload as exc:
            return _Outcome(result=result, error=exc)
        except ParleyError as exc:
            return _Outcome(error=exc)
        except Exception as exc:  # a bug or an odd library failure must not stop other feeds
            log.exception("unexpected failure polling %s", config.url)
            return _Outcome(
                error=RetriableError(f"unexpected {type(exc).__name__} polling {config.url}: {exc}")
            )

    # Applying outcomes --------------------------------------------------------------------

    def _apply(self, config: FeedConfig, outcome: _Outcome, now: float) -> Iterable[FeedItem]:
        cursor = self._cursors.setdefault(config.url, FeedCursor(url=config.url))
        result = outcome.result
        if result is not None and result.status == 304:
            cursor.etag = result.etag or cursor.etag  # a 304 need not repeat the validators
        elif result is not None:
            cursor.etag, cursor.last_modified = result.etag, result.last_modified
        if outcome.error is not None:
            return self._failed(config, cursor, outcome.error, result, now)
        assert result is not None
        cursor.succeeded(now, config.poll_interval_s, result.status)
        if result.status == 304:
            return []
        new_ids = cursor.new_ids(outcome.entry_ids)
        if not new_ids:
            return []
        cursor.remember(new_ids, self._settings.seen_ids_max, current=outcome.entry_ids)
        envelope = Envelope(
            channel=CHANNEL,
            kind=FEED_KIND,
            account=feed_account(config),
            payload=_payload(config, result, new_ids),
            raw_ref=config.url,
        )
        return [envelope]

    def _failed(
        self,
        config: FeedConfig,
        cursor: FeedCursor,
        error: ParleyError,
        result: FetchResult | None,
        now: float,
    ) -> list[FeedItem]:
        retriable = isinstance(error, RetriableError)
        delay = cursor.failed(
            now,
            str(error),
            interval_s=config.poll_interval_s,
            base_s=self._settings.backoff_base_s,
            max_s=self._settings.backoff_max_s,
            retry_after=error.retry_after if isinstance(error, RetriableError) else None,
            status=result.status if result else None,
        )
        log.warning(
            "feed %s failed (%d in a row), next try in %.0fs: %s", config.url, cursor.failures, delay, error
        )
        if retriable and cursor.failures < self._settings.dead_letter_after and not self._source.once:
            return []
        # a stable reason (no counts, no delays): the same failure is the same dead letter
        reason = str(error)
        if retriable and not self._source.once:
            reason += f" (failed {self._settings.dead_letter_after} times in a row; retrying with backoff)"
        raw = result.content[:_DEAD_LETTER_RAW_MAX].decode("utf-8", "replace") if result else config.url
        return [
            DeadLetter(
                stage="source", reason=reason, raw=raw, channel=CHANNEL, kind=FEED_KIND, raw_ref=config.url
            )
        ]


def _payload(config: FeedConfig, result: FetchResult, entry_ids: list[str] | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "url": result.url,
        "content": result.content,
        "content_type": result.content_type,
        "listen_query": config.query,
    }
    if entry_ids is not None:
        payload["entry_ids"] = entry_ids
    return payload


def sources(settings: Settings) -> list[NamedSource]:
    """The feed poller for the ingest flow: configured feeds plus the runtime registry.

    No source when no feed is configured or registered yet, so a hub without feeds (the demo,
    a file import) is not held open by an idle poller. Once one feed exists, feeds added or
    removed through the API are picked up without a restart.
    """
    path = registry_path(settings)
    feeds = feed_settings(settings)
    if not feeds.feeds and not FeedRegistry(path).feeds():
        return []
    return [("feeds_in", FeedSource(feeds.feeds, feeds, registry_path=path))]
