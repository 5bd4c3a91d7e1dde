"""Backfill a monitor from the knowledge base: its history is there as soon as it is saved.

The monitor's query, channels and languages run as a knowledge-base search (any backend:
``kb.base.KnowledgeBase.search_messages``, oldest first, paged by cursor, no highlights), and
every message found becomes a hit of the monitor's current match revision
(``crm.monitor_windows.record_hits``: windows recounted, nothing counted twice; the flow may
count the same messages meanwhile). No alert fires for history.

The knowledge base also knows conversation fields (``status:``, ``tag:``, ``assignee:``), which
the flow's matcher never sees (a message in the stream has no triage state yet): a monitor
using them counts them in its history only.
"""

from __future__ import annotations

from collections.abc import Callable

from crm import CRMStore
from crm.monitor_windows import Hit
from crm.monitors import MonitorView
from kb.base import KnowledgeBase, SearchFilters, SearchRequest
from kb.monitor_match import hit_fields

__all__ = ["PAGE", "backfill"]

#: messages per search page (the backends' largest page)
PAGE = 1000


def backfill(
    kb: KnowledgeBase,
    crm: CRMStore,
    monitor: MonitorView,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Count ``monitor``'s history from ``kb``; returns the messages found.

    ``progress(done, total)`` is called after each page.
    """
    filters = SearchFilters(channels=monitor.channels or None, languages=monitor.languages or None)
    cursor: str | None = None
    done = 0
    while True:
        request = SearchRequest(
            query=monitor.query, filters=filters, limit=PAGE, cursor=cursor, sort="oldest", highlight=False
        )
        result = kb.search_messages(request)
        hits = [
            Hit(monitor_id=monitor.id, revision=monitor.match_revision, **hit_fields(hit.document))
            for hit in result.hits
        ]
        crm.monitors.record_hits(hits)
        done += len(result.hits)
        if progress is not None:
            progress(done, result.total)
        cursor = result.next_cursor
        if cursor is None or not result.hits:
            break
    crm.monitors.mark_backfilled(monitor.id, monitor.match_revision)
    return done
