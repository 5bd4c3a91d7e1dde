"""Reading what the listening tables need from the stores: monitors' stored windows (the counts
the flow kept) and authors' reach (followers, as the newest matching messages carry them).

The only I/O of the package; the API routes and ``parley report`` call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from analytics.listening import ListeningWindow, from_monitor_window
from crm import CRMStore, NotFound
from crm.monitors import MonitorView
from kb.base import KnowledgeBase, SearchFilters, SearchRequest
from kb.monitor_match import author_key

__all__ = ["REACH_SAMPLE", "author_reach", "find_monitors", "stored_windows"]

#: the newest matching messages read for authors' follower counts
REACH_SAMPLE = 1000
_PAGE = 200


def find_monitors(crm: CRMStore, wanted: Sequence[str]) -> list[MonitorView]:
    """The monitors named (or with the ids) in ``wanted``, in that order; every live monitor
    when ``wanted`` is empty. An unknown one is ``NotFound`` naming it."""
    every = crm.monitors.list_all()
    if not wanted:
        return every
    by_key = {m.name.lower(): m for m in every} | {m.id: m for m in every}
    found = []
    for key in wanted:
        monitor = by_key.get(key) or by_key.get(key.lower())
        if monitor is None:
            names = ", ".join(m.name for m in every) or "none yet"
            raise NotFound(f"no monitor {key!r} (monitors: {names})")
        found.append(monitor)
    return found


def stored_windows(
    crm: CRMStore, monitors: Sequence[MonitorView], since: datetime, until: datetime
) -> list[ListeningWindow]:
    """The monitors' stored windows starting in ``[since, until)``, named by monitor."""
    return [
        from_monitor_window(window, monitor.name)
        for monitor in monitors
        for window in crm.monitors.windows(monitor.id, since=since, until=until, limit=100_000)
    ]


def author_reach(
    kb: KnowledgeBase, monitors: Sequence[MonitorView], since: datetime, until: datetime
) -> dict[str, int]:
    """Follower counts by author (as monitors key authors), from up to :data:`REACH_SAMPLE` of
    each monitor's newest matching messages in the period: the largest count seen wins."""
    reach: dict[str, int] = {}
    for monitor in monitors:
        cursor: str | None = None
        read = 0
        filters = SearchFilters(
            channels=monitor.channels or None, languages=monitor.languages or None, since=since, until=until
        )
        while read < REACH_SAMPLE:
            request = SearchRequest(
                query=monitor.query,
                filters=filters,
                limit=_PAGE,
                cursor=cursor,
                sort="newest",
                highlight=False,
            )
            result = kb.search_messages(request)
            for hit in result.hits:
                author, followers = author_key(hit.document), hit.document.author
                if author and followers is not None and followers.followers is not None:
                    reach[author] = max(reach.get(author, 0), followers.followers)
            read += len(result.hits)
            cursor = result.next_cursor
            if not cursor or not result.hits:
                break
    return reach
