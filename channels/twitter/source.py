"""The X poller: a Bytewax source emitting v2 pages (tweets, DM events) and dead letters.

One partition per configured account (named like it). Each account has timelines:
``mentions`` (``GET /2/users/:id/mentions``), ``search:<query>`` for each listening query
(``GET /2/tweets/search/recent``) and ``dms`` (``GET /2/dm_events``, user context only).
The partition's state - exactly what ``snapshot()`` returns - is one cursor per timeline plus
the rate-limit pauses per endpoint:

* ``since_id``: the newest id ingested by a finished round. Mentions and search ask for
  ``since_id``; ``dm_events`` cannot, so DM pages are trimmed to newer events and the round
  stops at the first page that reaches known ones.
* a round in progress: the ``next_token`` of the next page, the newest id seen and the pages
  read. A round's pages are emitted as they come; ``since_id`` moves only when the round ends,
  so a crash or a rate limit mid-round resumes at the page that was next, never skipping one.
  The first round of a timeline (no ``since_id``) reads ``first_poll_pages`` pages back.

``next_batch`` never blocks: requests run in one background thread per account (one request
at a time: X's limits are per account and endpoint) and ``next_batch`` only collects a finished
request, moves the cursor and starts the next due one; cursors are only touched on the
dataflow's thread, so a snapshot always matches what was emitted. A 429, or a response whose
``x-rate-limit-remaining`` is 0, pauses that endpoint until ``x-rate-limit-reset`` (logged);
the page that was refused is asked again afterwards. Other passing failures (5xx, timeouts)
back off exponentially; after ``dead_letter_after`` in a row a dead letter makes them visible,
and polling goes on. A refusal (bad query, no access) is a dead letter at once, retried after
``backoff_max_s``.

Envelopes: ``Envelope(channel="twitter", kind="x.v2.tweet_page" | "x.v2.dm_events",
account=<account name>, payload=<the page as X sent it, plus "for_user_id">)``. The optional
filtered stream is not polled here (recent search covers the listening queries).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from channels.base import NamedSource
from channels.twitter.client import (
    DM_EXPANSIONS,
    DM_FIELDS,
    EXPANSIONS,
    MEDIA_FIELDS,
    PLACE_FIELDS,
    TWEET_FIELDS,
    USER_FIELDS,
    RateLimit,
    RateLimited,
    XClient,
    call,
    reader_for,
)
from channels.twitter.fields import as_dict
from channels.twitter.parse import DM_EVENTS_KIND, TWEET_PAGE_KIND
from channels.twitter.recheck import RecentTweets, not_found_errors
from channels.twitter.settings import CHANNEL, TwitterSettings, XAccount, twitter_settings
from channels.twitter.stream import XStreamSource
from hub.backoff import backoff_delay
from hub.errors import ParleyError, RetriableError
from hub.models import DeadLetter, Envelope
from hub.settings import Settings

__all__ = ["EXPANSIONS", "TWEET_FIELDS", "USER_FIELDS", "Timeline", "XPartition", "XSource", "sources"]

log = logging.getLogger(__name__)

XItem = Envelope | DeadLetter
#: the timeline of the compliance check of recently ingested tweets (``recheck``)
RECHECK = "recheck"
_BUSY_POLL = timedelta(milliseconds=50)


def _id(value: Any) -> int | None:
    text = str(value)
    return int(text) if text.isdigit() and text.isascii() else None


def _newer(a: str | None, b: str | None) -> str | None:
    """The newer (numerically larger) of two X ids."""
    if a is None or b is None:
        return a or b
    return a if int(a) >= int(b) else b


@dataclass
class Timeline:
    """The cursor of one timeline of one account (see the module doc)."""

    key: str
    since_id: str | None = None
    next_token: str | None = None
    round_newest: str | None = None
    round_pages: int = 0
    next_poll_at: float = 0.0
    failures: int = 0

    @property
    def endpoint(self) -> str:
        return self.key.split(":", 1)[0]

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Timeline:
        return cls(**{k: v for k, v in state.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class _Outcome:
    """What one background request found; applied on the dataflow's thread."""

    page: dict[str, Any] | None = None
    limit: RateLimit = field(default_factory=RateLimit)
    error: ParleyError | None = None


class XSource(FixedPartitionedSource[XItem, dict[str, Any]]):
    """Polls ``settings``' accounts (see the module doc).

    ``once=True`` ends the source when every timeline finished one round (or gave up after
    ``dead_letter_after`` failures): batch runs and tests. Rate-limit pauses are still waited.
    """

    def __init__(
        self, settings: TwitterSettings, *, once: bool = False, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.once = once
        self.clock = clock

    def list_parts(self) -> list[str]:
        return [account.name for account in self.settings.accounts]

    def build_part(self, step_id: str, for_part: str, resume_state: dict[str, Any] | None) -> XPartition:
        account = self.settings.account(for_part)
        if account is None:  # the account left the configuration: its partition idles out
            raise ValueError(f"no X account named {for_part!r}")
        return XPartition(self, account, resume_state)


class XPartition(StatefulSourcePartition[XItem, dict[str, Any]]):
    """The poller of one account; state is ``{"timelines": {key: cursor}, "paused": {endpoint:
    epoch seconds}}``."""

    def __init__(self, source: XSource, account: XAccount, resume_state: dict[str, Any] | None) -> None:
        self._settings = source.settings
        self._account = account
        self._once = source.once
        self._clock = source.clock
        state = resume_state or {}
        self._reader = reader_for(self._settings, account)
        self._dm_reader = reader_for(self._settings, account, user_context=True)
        keys = self._timeline_keys()
        stored = state.get("timelines", {})
        self._timelines = {
            key: Timeline.from_state(stored[key]) if key in stored else Timeline(key) for key in keys
        }
        self._paused: dict[str, float] = dict(state.get("paused", {}))
        self._finished: set[str] = set()
        self._recent = RecentTweets.from_state(state.get("recent"))
        recheck = self._timelines.get(RECHECK)
        if recheck is not None and RECHECK not in stored:
            recheck.next_poll_at = self._clock() + self._settings.recheck_interval_s
        if recheck is not None and self._once and recheck.next_poll_at > self._clock():
            self._finished.add(RECHECK)  # a batch run does not wait for the next check
        self._inflight: tuple[str, Future[_Outcome], list[str]] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"x-poll-{account.name}")
        self._done = not self._timelines

    def _timeline_keys(self) -> list[str]:
        account = self._account
        keys: list[str] = []
        if self._reader is not None:
            keys += (["mentions"] if account.mentions else []) + [f"search:{q}" for q in account.queries]
        elif account.mentions or account.queries:
            log.warning("X account %s: no bearer token or user context; nothing is searched", account.name)
        if self._reader is not None and self._settings.recheck_interval_s > 0 and keys:
            keys.append(RECHECK)
        if account.direct_messages and self._dm_reader is not None:
            keys.append("dms")
        elif account.direct_messages:
            log.warning(
                "X account %s: DMs need user context (OAuth 1.0a tokens or oauth2_user_token); "
                "they are not polled",
                account.name,
            )
        return keys

    # Bytewax protocol ---------------------------------------------------------------------

    def next_batch(self) -> list[XItem]:
        if self._done:
            raise StopIteration
        items: list[XItem] = []
        now = self._clock()
        if self._inflight is not None and self._inflight[1].done():
            key, future, asked = self._inflight
            self._inflight = None
            if key == RECHECK:
                items = self._apply_recheck(self._timelines[key], future.result(), asked, now)
            else:
                items = self._apply(self._timelines[key], future.result(), now)
        if self._inflight is None:
            self._submit_due(now)
        if self._once and self._inflight is None and self._finished >= set(self._timelines):
            self._done = True  # emit this last batch; the next call ends the source
        return items

    def next_awake(self) -> datetime | None:
        if self._done or self._inflight is not None:
            return datetime.now(UTC) + _BUSY_POLL
        due = min((self._due_at(t) for t in self._timelines.values()), default=self._clock() + 60)
        return datetime.now(UTC) + timedelta(seconds=max(due - self._clock(), 0.0))

    def snapshot(self) -> dict[str, Any]:
        return {
            "timelines": {key: t.to_state() for key, t in self._timelines.items()},
            "paused": dict(self._paused),
            "recent": self._recent.to_state(),
        }

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # Scheduling ---------------------------------------------------------------------------

    def _due_at(self, timeline: Timeline) -> float:
        return max(timeline.next_poll_at, self._paused.get(timeline.endpoint, 0.0))

    def _submit_due(self, now: float) -> None:
        for key, timeline in self._timelines.items():
            if self._once and key in self._finished:
                continue
            if self._due_at(timeline) <= now:
                ids: list[str] = []
                if key == RECHECK:
                    ids = self._recheck_batch(timeline, now)
                    if not ids:
                        continue  # nothing ingested lately: the next check is scheduled
                self._inflight = (
                    key,
                    self._pool.submit(self._fetch, timeline.key, timeline.since_id, timeline.next_token, ids),
                    ids,
                )
                return

    def _recheck_batch(self, timeline: Timeline, now: float) -> list[str]:
        settings = self._settings
        if not self._recent.pending:
            self._recent.start_round(
                now, window_s=settings.recheck_window_s, limit=settings.recheck_max_tweets
            )
        batch = self._recent.batch()
        if not batch:
            timeline.next_poll_at = now + settings.recheck_interval_s
            self._finished.add(timeline.key)
        return batch

    def _fetch(self, key: str, since_id: str | None, token: str | None, ids: list[str]) -> _Outcome:
        # Runs in the account's thread: touches no partition state, only returns what it found.
        what = f"X {self._account.name} {key}"
        try:
            page, limit = call(
                what,
                lambda: self._request(key, since_id, token, ids),
                margin_s=self._settings.rate_limit_margin_s,
            )
        except ParleyError as exc:
            return _Outcome(error=exc)
        except Exception as exc:  # a bug or an odd library failure must not stop the other timelines
            log.exception("unexpected failure polling %s", what)
            return _Outcome(error=RetriableError(f"{what}: unexpected {type(exc).__name__}: {exc}"))
        return _Outcome(page=page if isinstance(page, dict) else {}, limit=limit)

    def _request(self, key: str, since_id: str | None, token: str | None, ids: list[str]) -> Any:
        size = self._settings.page_size
        if key == RECHECK:
            lookup = self._reader
            assert lookup is not None
            return lookup.get_tweets(ids, user_auth=lookup.user_auth)
        if key == "dms":
            client = self._dm_reader
            assert client is not None
            return client.get_direct_message_events(
                dm_event_fields=DM_FIELDS,
                expansions=DM_EXPANSIONS,
                user_fields=USER_FIELDS,
                media_fields=MEDIA_FIELDS,
                max_results=size,
                pagination_token=token,
                user_auth=client.user_auth,
            )
        reader: XClient | None = self._reader
        assert reader is not None
        fields: dict[str, Any] = {
            "since_id": since_id,
            "expansions": EXPANSIONS,
            "tweet_fields": TWEET_FIELDS,
            "user_fields": USER_FIELDS,
            "media_fields": MEDIA_FIELDS,
            "place_fields": PLACE_FIELDS,
            "user_auth": reader.user_auth,
        }
        if key == "mentions":
            return reader.get_users_mentions(
                self._account.user_id, max_results=size, pagination_token=token, **fields
            )
        query = key.split(":", 1)[1]
        return reader.search_recent_tweets(query, max_results=max(size, 10), next_token=token, **fields)

    # Applying outcomes --------------------------------------------------------------------

    def _apply(self, timeline: Timeline, outcome: _Outcome, now: float) -> list[XItem]:
        if outcome.error is not None:
            return self._failed(timeline, outcome.error, now)
        if outcome.limit.exhausted:
            self._pause(timeline.endpoint, outcome.limit.wait_s(now, self._settings.rate_limit_margin_s), now)
        timeline.failures = 0
        page = outcome.page or {}
        data: list[Any] = page["data"] if isinstance(page.get("data"), list) else []
        reached_known = False
        if timeline.key == "dms" and timeline.since_id is not None:
            known = int(timeline.since_id)
            # an event without a readable id is kept: the parser dead-letters it with a reason
            fresh = [e for e in data if (_id(as_dict(e).get("id")) or known + 1) > known]
            reached_known = len(fresh) < len(data)
            data = fresh
        items: list[XItem] = []
        if data:
            seen: list[str] = []
            for item in data:
                number = _id(as_dict(item).get("id"))
                if number is not None:
                    timeline.round_newest = _newer(timeline.round_newest, str(number))
                    seen.append(str(number))
            if RECHECK in self._timelines and timeline.key != "dms":
                settings = self._settings
                self._recent.remember(
                    seen, now, window_s=settings.recheck_window_s, limit=settings.recheck_max_tweets
                )
            payload = {**page, "data": data, "for_user_id": self._account.user_id or None}
            kind = DM_EVENTS_KIND if timeline.key == "dms" else TWEET_PAGE_KIND
            where = f"#{timeline.next_token}" if timeline.next_token else ""
            ref = f"x:{self._account.name}/{timeline.key}{where}"
            items.append(
                Envelope(channel=CHANNEL, kind=kind, account=self._account.name, payload=payload, raw_ref=ref)
            )
        timeline.round_pages += 1
        next_token = page.get("meta", {}).get("next_token") if isinstance(page.get("meta"), dict) else None
        first_round = timeline.since_id is None
        if (
            next_token
            and not reached_known
            and (not first_round or timeline.round_pages < self._settings.first_poll_pages)
        ):
            timeline.next_token = str(next_token)
            timeline.next_poll_at = now  # the round goes on at once (rate limits permitting)
        else:
            timeline.since_id = _newer(timeline.since_id, timeline.round_newest)
            timeline.next_token = timeline.round_newest = None
            timeline.round_pages = 0
            timeline.next_poll_at = now + self._settings.poll_interval_s
            self._finished.add(timeline.key)
        return items

    def _apply_recheck(
        self, timeline: Timeline, outcome: _Outcome, asked: list[str], now: float
    ) -> list[XItem]:
        """A lookup of remembered tweets came back: the ones X no longer finds are deleted."""
        if outcome.error is not None:
            return self._failed(timeline, outcome.error, now)  # the same batch is asked again
        if outcome.limit.exhausted:
            self._pause(timeline.endpoint, outcome.limit.wait_s(now, self._settings.rate_limit_margin_s), now)
        timeline.failures = 0
        gone = not_found_errors(outcome.page or {}, asked)
        gone_ids = [str(e.get("resource_id") or e.get("value")) for e in gone]
        self._recent.answered(asked, gone_ids)
        if gone_ids:
            log.info("X %s: %d rechecked tweet(s) deleted on X", self._account.name, len(gone_ids))
        timeline.next_poll_at = now
        if not self._recent.pending:  # the round is over
            timeline.next_poll_at = now + self._settings.recheck_interval_s
            self._finished.add(timeline.key)
        if not gone:
            return []
        payload = {"errors": gone, "for_user_id": self._account.user_id or None}
        ref = f"x:{self._account.name}/{RECHECK}"
        return [
            Envelope(
                channel=CHANNEL,
                kind=TWEET_PAGE_KIND,
                account=self._account.name,
                payload=payload,
                raw_ref=ref,
            )
        ]

    def _pause(self, endpoint: str, wait: float, now: float) -> None:
        self._paused[endpoint] = max(self._paused.get(endpoint, 0.0), now + wait)
        log.warning(
            "X %s %s: rate limit reached; waiting %.0fs for its reset", self._account.name, endpoint, wait
        )

    def _failed(self, timeline: Timeline, error: ParleyError, now: float) -> list[XItem]:
        settings = self._settings
        if isinstance(error, RateLimited):  # not a failure: the page is asked again after the reset
            self._pause(timeline.endpoint, error.retry_after if error.retry_after is not None else 60.0, now)
            return []
        timeline.failures += 1
        retriable = isinstance(error, RetriableError)
        delay = (
            backoff_delay(
                timeline.failures, base_s=settings.backoff_base_s, max_s=settings.backoff_max_s, jitter=True
            )
            if retriable
            else settings.backoff_max_s
        )
        timeline.next_poll_at = now + delay
        log.warning(
            "X %s %s failed (%d in a row), next try in %.0fs: %s",
            self._account.name, timeline.key, timeline.failures, delay, error,
        )  # fmt: skip
        if retriable and timeline.failures < settings.dead_letter_after:
            return []
        if self._once:
            self._finished.add(timeline.key)  # no later in a batch run: give up visibly
        if timeline.failures > (settings.dead_letter_after if retriable else 1):
            return []  # one dead letter per streak of failures
        reason = str(error) + (f" (failed {settings.dead_letter_after} times in a row)" if retriable else "")
        kind = DM_EVENTS_KIND if timeline.key == "dms" else TWEET_PAGE_KIND
        ref = f"x:{self._account.name}/{timeline.key}"
        return [
            DeadLetter(
                stage="source", reason=reason, raw=timeline.key, channel=CHANNEL, kind=kind, raw_ref=ref
            )
        ]


def sources(settings: Settings) -> list[NamedSource]:
    """The X poller for the ingest flow (and the filtered stream when it is enabled), or none
    when no account is configured."""
    config = twitter_settings(settings)
    if not config.accounts:
        return []
    named: list[NamedSource] = [("twitter_in", XSource(config))]
    if config.stream.enabled and not config.bearer_token.get_secret_value():
        log.warning("X filtered stream enabled but no bearer_token (the stream needs the app's); not started")
    elif config.stream.enabled:
        named.append(("twitter_stream", XStreamSource(config)))
    return named
