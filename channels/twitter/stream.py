"""The filtered stream (optional): X pushes the tweets matching the listening queries.

Turned on with ``[twitter.stream] enabled = true`` (it needs the app's bearer token); recent
search keeps polling the same queries either way, so the stream adds speed, not coverage.

* **Rules** follow the configured queries: one rule per distinct query, valued as the query
  and tagged ``parley:<account>[,<account>...]`` (the accounts listening to it). Before each
  connection the rules are read (``GET /2/tweets/search/stream/rules``); the missing ones are
  added and the stale ones (tagged ``parley:`` but no longer configured, or with other
  accounts) deleted (``POST .../rules``). Rules without the ``parley:`` tag belong to someone
  else on the same app and are left alone.
* **Lines** are read in a background thread (``requests`` streaming through the channel's
  ``XClient`` session, so ``api_base_url`` points it at the tests' server) and queued; blank
  keep-alives are dropped. ``next_batch`` only empties the queue: it never blocks. A line is
  emitted as an ``x.v2.stream_line`` envelope for the first account its ``matching_rules``
  name (the payload decoded, with ``for_user_id``), or as the raw bytes when it does not read
  (the parser dead-letters it with the reason).
* **Reconnecting** with X's documented backoff (:class:`Backoff`): after a network error
  (refused, reset, dropped, or no byte for ``stall_s``: X sends a keep-alive every 20 s) wait
  ``network_step_s`` more each time up to ``network_max_s``; after an HTTP error, start at
  ``http_start_s`` and double up to ``http_max_s``; after a 429, start at ``rate_limit_start_s``
  and double. A connection that delivers a line resets the waits. A refusal (400, 401, 403)
  or rules that cannot be synced are a dead letter (one per streak), then the backoff.
* **State** (the Bytewax snapshot): ``{"recent": [the last 500 tweet ids emitted],
  "last_line_at": epoch seconds}``. After a restart, ids already emitted are not emitted again
  and, with ``backfill_minutes`` set (X Pro and Enterprise), the first connection asks X to
  replay the gap (at most 5 minutes).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import requests
import tweepy
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from channels.twitter.client import (
    EXPANSIONS,
    MEDIA_FIELDS,
    PLACE_FIELDS,
    TWEET_FIELDS,
    USER_FIELDS,
    RateLimited,
    XClient,
    call,
)
from channels.twitter.fields import as_dict, as_list
from channels.twitter.parse import STREAM_LINE_KIND
from channels.twitter.settings import CHANNEL, TwitterSettings
from hub.errors import ParleyError, RetriableError
from hub.models import DeadLetter, Envelope

__all__ = ["RULE_TAG_PREFIX", "Backoff", "XStreamPartition", "XStreamSource", "rule_changes", "wanted_rules"]

log = logging.getLogger(__name__)

RULES_ROUTE = "/2/tweets/search/stream/rules"
STREAM_ROUTE = "/2/tweets/search/stream"
RULE_TAG_PREFIX = "parley:"
_RECENT_IDS = 500
_MAX_BACKFILL_MINUTES = 5
_IDLE = timedelta(milliseconds=100)

XItem = Envelope | DeadLetter


def wanted_rules(settings: TwitterSettings) -> dict[str, str]:
    """The rules the configured queries call for: query -> tag (``parley:`` + account names)."""
    accounts: dict[str, list[str]] = {}
    for account in settings.accounts:
        for query in account.queries:
            names = accounts.setdefault(query.strip(), [])
            if account.name not in names:
                names.append(account.name)
    return {query: RULE_TAG_PREFIX + ",".join(names) for query, names in accounts.items() if query}


def rule_changes(
    existing: list[dict[str, Any]], wanted: dict[str, str]
) -> tuple[list[dict[str, str]], list[str]]:
    """(rules to add, ids of rules to delete) to go from ``existing`` (X's rule objects) to
    ``wanted``; rules not tagged ``parley:`` are someone else's and stay."""
    ours = [r for r in existing if str(r.get("tag", "")).startswith(RULE_TAG_PREFIX)]
    kept = {(r.get("value"), r.get("tag")) for r in ours}
    delete = [str(r["id"]) for r in ours if wanted.get(str(r.get("value"))) != r.get("tag") and "id" in r]
    add = [{"value": value, "tag": tag} for value, tag in wanted.items() if (value, tag) not in kept]
    return add, delete


@dataclass
class Backoff:
    """X's reconnection schedule for streams (see the module doc); ``wait(kind)`` is the next
    wait after a failure of ``kind`` ("network", "http" or "rate_limit")."""

    network_step_s: float = 0.25
    network_max_s: float = 16.0
    http_start_s: float = 5.0
    http_max_s: float = 320.0
    rate_limit_start_s: float = 60.0
    _network: float = 0.0
    _http: float = 0.0
    _rate: float = 0.0

    def wait(self, kind: str) -> float:
        if kind == "network":
            self._network = min(self._network + self.network_step_s, self.network_max_s)
            return self._network
        if kind == "rate_limit":
            self._rate = min(self._rate * 2 if self._rate else self.rate_limit_start_s, self.http_max_s * 3)
            return self._rate
        self._http = min(self._http * 2 if self._http else self.http_start_s, self.http_max_s)
        return self._http

    def connected(self) -> None:
        """A connection delivered data: the next failure starts from the first wait again."""
        self._network = self._http = self._rate = 0.0


class XStreamSource(FixedPartitionedSource[XItem, dict[str, Any]]):
    """The filtered stream as one partition (rules belong to the app, not to an account)."""

    def __init__(self, settings: TwitterSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock

    def list_parts(self) -> list[str]:
        return ["stream"]

    def build_part(
        self, step_id: str, for_part: str, resume_state: dict[str, Any] | None
    ) -> XStreamPartition:
        return XStreamPartition(self.settings, resume_state, self.clock)


class XStreamPartition(StatefulSourcePartition[XItem, dict[str, Any]]):
    """Reads the stream in a thread; ``next_batch`` empties its queue (see the module doc)."""

    def __init__(
        self, settings: TwitterSettings, state: dict[str, Any] | None, clock: Callable[[], float] = time.time
    ) -> None:
        self._settings = settings
        self._clock = clock
        state = state or {}
        self._recent: list[str] = [str(i) for i in as_list(state.get("recent"))][-_RECENT_IDS:]
        self._recent_set = set(self._recent)
        self._last_line_at: float | None = state.get("last_line_at")
        self._users = {a.name: a.user_id or None for a in settings.accounts}
        self._queue: queue.Queue[bytes | DeadLetter] = queue.Queue()
        self._stop = threading.Event()
        self._response: requests.Response | None = None
        self._refused = False
        self.connections = 0
        config = settings.stream
        self.backoff = Backoff(
            network_step_s=config.network_step_s,
            network_max_s=config.network_max_s,
            http_start_s=config.http_start_s,
            http_max_s=config.http_max_s,
            rate_limit_start_s=config.rate_limit_start_s,
        )
        self._client = XClient(
            base_url=settings.api_base_url,
            timeout_s=settings.timeout_s,
            bearer_token=settings.bearer_token.get_secret_value(),
        )
        self._thread = threading.Thread(target=self._run, name="x-stream", daemon=True)
        self._thread.start()

    # Bytewax protocol ---------------------------------------------------------------------

    def next_batch(self) -> list[XItem]:
        items: list[XItem] = []
        while len(items) < 1000:
            try:
                got = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(got, DeadLetter):
                items.append(got)
            else:
                item = self._envelope(got)
                if item is not None:
                    items.append(item)
        return items

    def next_awake(self) -> datetime | None:
        return datetime.now(UTC) + _IDLE if self._queue.empty() else None

    def snapshot(self) -> dict[str, Any]:
        return {"recent": list(self._recent), "last_line_at": self._last_line_at}

    def close(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            try:  # unblocks the reader thread's read
                response.close()
            except Exception:  # closing from another thread may race; the thread ends anyway
                log.debug("closing the X stream response failed", exc_info=True)

    # Lines -> envelopes (the dataflow's thread) --------------------------------------------

    def _envelope(self, line: bytes) -> Envelope | None:
        self._last_line_at = self._clock()
        account = self._settings.accounts[0].name if self._settings.accounts else "default"
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError:
            document = None
        if not isinstance(document, dict):
            return Envelope(
                channel=CHANNEL, kind=STREAM_LINE_KIND, account=account, payload=line, raw_ref="x:stream"
            )
        tweet_id = as_dict(document.get("data")).get("id")
        if isinstance(tweet_id, str):
            if tweet_id in self._recent_set:
                return None  # replayed by a backfill after a reconnect: emitted already
            self._recent.append(tweet_id)
            self._recent_set.add(tweet_id)
            if len(self._recent) > _RECENT_IDS:
                self._recent_set.discard(self._recent.pop(0))
        for rule in as_list(document.get("matching_rules")):
            tag = str(as_dict(rule).get("tag", ""))
            names = tag[len(RULE_TAG_PREFIX) :].split(",") if tag.startswith(RULE_TAG_PREFIX) else []
            known = [n for n in names if n in self._users]
            if known:
                account = known[0]
                break
        payload = {**document, "for_user_id": self._users.get(account)}
        ref = f"x:stream#{tweet_id}" if isinstance(tweet_id, str) else "x:stream"
        return Envelope(channel=CHANNEL, kind=STREAM_LINE_KIND, account=account, payload=payload, raw_ref=ref)

    # The reader thread ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                kind = self._connect_once()
            except Exception:  # e.g. the response closed under the read by close()
                if self._stop.is_set():
                    return
                log.exception("X filtered stream: unexpected failure")
                kind = "network"
            if kind is None or self._stop.is_set():
                continue
            wait = self.backoff.wait(kind)
            log.warning("X filtered stream: %s; reconnecting in %.2fs", kind.replace("_", " "), wait)
            self._stop.wait(wait)

    def _sync_rules(self) -> None:
        wanted = wanted_rules(self._settings)
        client = self._client
        existing, _ = call("X stream rules", lambda: client.request("GET", RULES_ROUTE))
        add, delete = rule_changes([as_dict(r) for r in as_list(as_dict(existing).get("data"))], wanted)
        if delete:
            call(
                "X stream rules (delete)",
                lambda: client.request("POST", RULES_ROUTE, json={"delete": {"ids": delete}}),
            )
        if add:
            added, _ = call(
                "X stream rules (add)", lambda: client.request("POST", RULES_ROUTE, json={"add": add})
            )
            errors = as_list(as_dict(added).get("errors"))
            if errors:  # X refuses a rule it cannot read; the others are in place
                details = "; ".join(str(as_dict(e).get("title") or e) for e in errors[:5])
                self._dead_letter(f"X refused stream rule(s): {details}", raw=str(add))
        if add or delete:
            log.info("X filtered stream rules: %d added, %d deleted", len(add), len(delete))

    def _params(self) -> dict[str, str]:
        params = {
            "expansions": ",".join(EXPANSIONS),
            "tweet.fields": ",".join(TWEET_FIELDS),
            "user.fields": ",".join(USER_FIELDS),
            "media.fields": ",".join(MEDIA_FIELDS),
            "place.fields": ",".join(PLACE_FIELDS),
        }
        backfill = self._settings.stream.backfill_minutes
        if backfill and self._last_line_at is not None:
            gap = math.ceil((self._clock() - self._last_line_at) / 60)
            if 0 < gap <= _MAX_BACKFILL_MINUTES:
                params["backfill_minutes"] = str(min(gap, backfill))
        return params

    def _connect_once(self) -> str | None:
        """One connection until it ends; the kind of failure that ended it (None: stopping)."""
        try:
            self._sync_rules()
        except ParleyError as exc:
            self._dead_letter(f"X filtered stream rules not synced: {exc}", raw="rules")
            if isinstance(exc, RateLimited):
                return "rate_limit"
            return "network" if isinstance(exc, RetriableError) else "http"
        session = self._client.session
        url = self._settings.api_base_url.rstrip("/") + STREAM_ROUTE
        headers = {"Authorization": f"Bearer {self._settings.bearer_token.get_secret_value()}"}
        try:
            with session.get(
                url,
                params=self._params(),
                headers=headers,
                stream=True,
                timeout=(self._settings.timeout_s, self._settings.stream.stall_s),
            ) as response:
                self._response = response
                self.connections += 1
                if response.status_code == 429:
                    return "rate_limit"
                if response.status_code >= 400:
                    if response.status_code in (400, 401, 403):
                        reason = response.text[:500]
                        self._dead_letter(
                            f"X refused the filtered stream ({response.status_code}): {reason}", raw="stream"
                        )
                    return "http"
                for line in response.iter_lines(chunk_size=512):
                    if self._stop.is_set():
                        return None
                    if line.strip():
                        self.backoff.connected()
                        self._refused = False
                        self._queue.put(bytes(line))
                return "network"  # X closed the stream
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            log.debug("X filtered stream dropped: %s", exc)
            return "network"
        except (tweepy.TweepyException, requests.RequestException) as exc:
            log.warning("X filtered stream failed: %s", exc)
            return "network"

    def _dead_letter(self, reason: str, *, raw: str) -> None:
        log.warning("%s", reason)
        if self._refused:
            return  # one dead letter per streak: the backoff keeps trying, the log says so
        self._refused = True
        self._queue.put(
            DeadLetter(
                stage="source",
                reason=reason,
                raw=raw,
                channel=CHANNEL,
                kind=STREAM_LINE_KIND,
                raw_ref="x:stream",
            )
        )
