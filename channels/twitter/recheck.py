"""Deletions found by re-fetching: the compliance check of recently ingested tweets.

X's developer terms ask that a tweet deleted on X leaves our copies too. Deletions reach the
hub as events where X sends them (Account Activity ``tweet_delete_events``, the compliance
stream's ``delete``); for tweets that only came by polling, nothing says they are gone, so the
poller looks them up again: every ``recheck_interval_s`` it asks ``GET /2/tweets?ids=`` for the
tweets it ingested in the last ``recheck_window_s`` (at most ``recheck_max_tweets``, the newest),
100 ids a request (the endpoint's limit). A tweet X answers as *not found*
(``.../problems/resource-not-found``) is deleted: the poller emits the not-found errors as a v2
page, whose parser makes deletion markers (``fields.deletion``), and the knowledge base keeps
only the id and the fact of deletion. Other errors (a protected or suspended author:
``not-authorized-for-resource``) are not deletions; those tweets stay and are asked again next
time. A deleted tweet is no longer remembered.

:class:`RecentTweets` is the memory and the round in progress, kept in the poller's Bytewax
snapshot (plain JSON: ``{"seen": {id: epoch seconds}, "pending": [ids]}``): a round's ids are
fixed when it starts and leave ``pending`` only once their answer has been emitted, so a crash
mid-round asks the same batch again. DMs are not rechecked (DM events cannot be looked up by
id); the brand's own replies are not either (the outbox records them, not the poller).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from channels.twitter.fields import as_dict, as_list

__all__ = ["LOOKUP_BATCH", "RecentTweets", "not_found_errors"]

#: ids per ``GET /2/tweets`` request (X's limit)
LOOKUP_BATCH = 100
_NOT_FOUND = "resource-not-found"


@dataclass
class RecentTweets:
    """Tweet ids ingested recently (when first seen) and the recheck round in progress."""

    seen: dict[str, float] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)

    def remember(self, ids: list[str], now: float, *, window_s: float, limit: int) -> None:
        """Remember ``ids`` as seen at ``now``; forget what is older than ``window_s`` and
        the oldest beyond ``limit``."""
        for tweet_id in ids:
            self.seen.setdefault(tweet_id, now)
        self._trim(now, window_s, limit)

    def _trim(self, now: float, window_s: float, limit: int) -> None:
        horizon = now - window_s
        if len(self.seen) > limit or any(at < horizon for at in self.seen.values()):
            kept = sorted(((at, i) for i, at in self.seen.items() if at >= horizon), reverse=True)[:limit]
            self.seen = {i: at for at, i in sorted(kept)}

    def start_round(self, now: float, *, window_s: float, limit: int) -> None:
        """Fix the ids of a new round: every tweet remembered (within the window)."""
        self._trim(now, window_s, limit)
        self.pending = sorted(self.seen, key=int)

    def batch(self) -> list[str]:
        """The next ids to look up (empty: the round is over)."""
        return self.pending[:LOOKUP_BATCH]

    def answered(self, asked: list[str], gone: list[str]) -> None:
        """The lookup of ``asked`` was emitted: they leave the round, ``gone`` the memory."""
        done = set(asked)
        self.pending = [i for i in self.pending if i not in done]
        for tweet_id in gone:
            self.seen.pop(tweet_id, None)

    def to_state(self) -> dict[str, Any]:
        return {"seen": dict(self.seen), "pending": list(self.pending)}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> RecentTweets:
        state = state or {}
        seen = {str(k): float(v) for k, v in as_dict(state.get("seen")).items()}
        return cls(seen=seen, pending=[str(i) for i in as_list(state.get("pending"))])


def not_found_errors(response: dict[str, Any], asked: list[str]) -> list[dict[str, Any]]:
    """The errors of a ``GET /2/tweets?ids=`` response saying one of ``asked`` is not found."""
    wanted = set(asked)
    found: list[dict[str, Any]] = []
    for error in as_list(response.get("errors")):
        error = as_dict(error)
        tweet_id = str(error.get("resource_id") or error.get("value") or "")
        if (
            tweet_id in wanted
            and error.get("resource_type") == "tweet"
            and str(error.get("type", "")).endswith(_NOT_FOUND)
        ):
            found.append(error)
    return found
