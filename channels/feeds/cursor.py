"""Per-feed polling state: conditional-GET validators, seen entry ids, schedule and backoff.

``FeedCursor`` is what the source snapshots for each feed (a plain dict through
``to_state``/``from_state`` so recovery stores survive code changes). The scheduling rules are
pure functions of the cursor, the outcome and the time, so they are tested without sleeping.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hub.backoff import backoff_delay

__all__ = ["FeedCursor"]


@dataclass
class FeedCursor:
    """Where polling of one feed stands."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    #: entry ids already emitted, oldest first (insertion-ordered dict used as an ordered set)
    seen: dict[str, None] = field(default_factory=dict)
    next_poll_at: float = 0.0
    failures: int = 0
    last_error: str | None = None
    last_status: int | None = None

    def new_ids(self, ids: Iterable[str]) -> list[str]:
        """The ids not emitted before, in feed order, without repeats."""
        return [i for i in dict.fromkeys(ids) if i not in self.seen]

    def remember(self, ids: Iterable[str], capacity: int, current: Iterable[str] = ()) -> None:
        """Mark ``ids`` emitted, keeping at most ``capacity`` ids.

        Ids still ``current`` in the feed are kept first: forgetting an id the feed still
        carries would emit that entry again on the next change.
        """
        for entry_id in ids:
            self.seen.pop(entry_id, None)
            self.seen[entry_id] = None
        overflow = len(self.seen) - capacity
        if overflow <= 0:
            return
        keep = set(current)
        for entry_id in [i for i in self.seen if i not in keep][:overflow]:
            del self.seen[entry_id]
        while len(self.seen) > capacity:  # the feed itself is longer than the capacity
            del self.seen[next(iter(self.seen))]

    def succeeded(self, now: float, interval_s: float, status: int) -> None:
        self.failures = 0
        self.last_error = None
        self.last_status = status
        self.next_poll_at = now + interval_s

    def failed(
        self,
        now: float,
        reason: str,
        *,
        interval_s: float,
        base_s: float,
        max_s: float,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> float:
        """Record a failure and schedule the retry; returns the delay chosen."""
        self.failures += 1
        self.last_error = reason
        self.last_status = status
        # never sooner than the feed's own interval would poll it anyway when that is longer
        # than the first backoff steps (a daily feed is not retried every minute for a week)
        delay = backoff_delay(self.failures, base_s=base_s, max_s=max_s, floor_s=interval_s)
        if retry_after is not None and retry_after >= 0 and not math.isnan(retry_after):
            # the server said when: never earlier than that, but never later than our own
            # backoff cap either (a server must not be able to park a feed for years)
            delay = min(retry_after, max_s)
        self.next_poll_at = now + delay
        return delay

    def to_state(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "seen": list(self.seen),
            "next_poll_at": self.next_poll_at,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_status": self.last_status,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FeedCursor:
        return cls(
            url=state["url"],
            etag=state.get("etag"),
            last_modified=state.get("last_modified"),
            seen=dict.fromkeys(state.get("seen") or ()),
            next_poll_at=float(state.get("next_poll_at") or 0.0),
            failures=int(state.get("failures") or 0),
            last_error=state.get("last_error"),
            last_status=state.get("last_status"),
        )
