"""The knowledge base: message and conversation documents, the query language, backends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kb.base import KnowledgeBase, SearchFilters, SearchRequest, SearchResult, UpsertResult

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = ["KnowledgeBase", "SearchFilters", "SearchRequest", "SearchResult", "UpsertResult", "open_kb"]


def open_kb(settings: Settings) -> KnowledgeBase:
    """The configured backend, created on first use."""
    if settings.kb.backend == "elasticsearch":
        from kb.elasticsearch import ElasticsearchKB

        return ElasticsearchKB.from_settings(settings)
    from kb.sqlite import SQLiteKB

    settings.ensure_data_dir()
    return SQLiteKB(settings.kb_path)
