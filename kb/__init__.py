"""The knowledge base: message and conversation documents, the query language, backends.

``kb.base`` is the ``KnowledgeBase`` protocol and its value types; ``kb.search_rules`` and
``kb.conversations`` state once what searches mean and how conversations are kept; the
backends live in ``kb.sqlite`` (embedded, the default) and ``kb.elasticsearch``.
:func:`open_kb` is the entry point and picks the configured one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kb.base import KnowledgeBase, SearchFilters, SearchRequest, SearchResult, UpsertResult
from kb.limits import SearchLimits

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = [
    "KnowledgeBase",
    "SearchFilters",
    "SearchRequest",
    "SearchResult",
    "UpsertResult",
    "open_kb",
]


def open_kb(settings: Settings) -> KnowledgeBase:
    """The configured backend, created on first use."""
    if settings.kb.backend == "elasticsearch":
        from kb.elasticsearch import ElasticsearchKB

        return ElasticsearchKB.from_settings(settings)
    from kb.sqlite import SQLiteKB

    settings.ensure_data_dir()
    return SQLiteKB(
        settings.kb_path,
        limits=SearchLimits.from_settings(settings),
        cache_mib=settings.kb.sqlite_cache_mib,
        search_cache_entries=settings.kb.sqlite_search_cache_entries,
    )
