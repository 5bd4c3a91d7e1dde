"""The embedded KB's search cache (``kb.sqlite.cache``): a search answers what it would without
the cache, page for page, and every write - through the KB or behind its back, from another
connection as another process would - is seen by the next search."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import kb.sqlite.plans
from hub.models import Message
from kb.base import SearchFilters, SearchRequest, SearchResult
from kb.sqlite import SQLiteKB
from tests.kb.test_broad_queries import CONVERSATIONS, MESSAGES, START

#: small windows, so 1,500 messages take every windowed plan (ranking, facets)
RANK_WINDOW = 300
FACET_WINDOW = 400


@pytest.fixture(autouse=True)
def small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kb.sqlite.plans, "RANK_WINDOW", RANK_WINDOW)
    monkeypatch.setattr(kb.sqlite.plans, "FACET_WINDOW", FACET_WINDOW)


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cache") / "kb.sqlite3"
    writer = SQLiteKB(path)
    for at in range(0, len(MESSAGES), 500):
        writer.upsert_messages(MESSAGES[at : at + 500])
    writer.upsert_conversations(CONVERSATIONS)
    writer.close()
    return path


@pytest.fixture
def cached(path: Path) -> Iterator[SQLiteKB]:
    kb = SQLiteKB(path)
    yield kb
    kb.close()


@pytest.fixture
def uncached(path: Path) -> Iterator[SQLiteKB]:
    kb = SQLiteKB(path, search_cache_entries=0)
    yield kb
    kb.close()


def _answer(result: SearchResult[Any]) -> tuple[Any, ...]:
    return (
        result.total,
        result.total_relation,
        [(hit.id, hit.score) for hit in result.hits],
        result.next_cursor,
        result.facets,
        result.histogram,
        result.relevance_window,
        result.facets_window,
    )


def _request(**kw: Any) -> SearchRequest:
    return SearchRequest(**{"total_limit": 1000, **kw})


MESSAGE_SEARCHES = [
    _request(query="coffee"),  # ranked over the window
    _request(query="coffee", offset=40, limit=30),
    _request(query="coffee machine", facets=("channel", "language")),
    _request(query="coffee", facets=("channel",), histogram="day"),
    _request(query="coffee", sort="newest", facets=("channel",)),
    _request(query="leak", filters=SearchFilters(channels=["email"])),
    _request(query="", filters=SearchFilters(channels=["sms"]), facets=("channel",)),
]
CONVERSATION_SEARCHES = [
    _request(query="coffee", sort="relevance", highlight=False),  # ranked over the window
    _request(query="coffee", sort="relevance", offset=25, highlight=False),
    _request(query="thread", sort="relevance", highlight=False),  # subjects too
    _request(query="coffee", filters=SearchFilters(statuses=["open"]), highlight=False),
    _request(query="grinder", sort="relevance", facets=("status",), highlight=False),
    _request(query="", highlight=False),
]


def _walk(kb: SQLiteKB, request: SearchRequest, conversations: bool) -> list[tuple[Any, ...]]:
    """Every page of ``request`` by cursor (at most 30), each as ``_answer``."""
    pages = []
    cursor = None
    for _ in range(30):
        page = SearchRequest(**{**request.__dict__, "cursor": cursor})
        result = kb.search_conversations(page) if conversations else kb.search_messages(page)
        pages.append(_answer(result))
        cursor = result.next_cursor
        if cursor is None:
            break
    return pages


@pytest.mark.parametrize("request_", MESSAGE_SEARCHES, ids=repr)
def test_messages_are_answered_as_without_the_cache(
    cached: SQLiteKB, uncached: SQLiteKB, request_: SearchRequest
) -> None:
    expected = _walk(uncached, request_, conversations=False)
    assert _walk(cached, request_, conversations=False) == expected  # fills the cache
    assert _walk(cached, request_, conversations=False) == expected  # answered from it


@pytest.mark.parametrize("request_", CONVERSATION_SEARCHES, ids=repr)
def test_conversations_are_answered_as_without_the_cache(
    cached: SQLiteKB, uncached: SQLiteKB, request_: SearchRequest
) -> None:
    expected = _walk(uncached, request_, conversations=True)
    assert len(expected) > 1 or request_.query == "grinder"
    assert _walk(cached, request_, conversations=True) == expected
    assert _walk(cached, request_, conversations=True) == expected


def _statements(kb: SQLiteKB, search: Any) -> list[str]:
    """The SQL statements ``search()`` runs on this thread's connection."""
    ran: list[str] = []
    conn = kb._conn()
    conn.set_trace_callback(lambda sql: ran.append(sql) if not sql.startswith("--") else None)
    try:
        search()
    finally:
        conn.set_trace_callback(None)
    return ran


def test_a_repeated_search_ranks_counts_and_aggregates_nothing_again(cached: SQLiteKB) -> None:
    broad = _request(query="coffee machine", facets=("channel",))
    first = _statements(cached, lambda: cached.search_messages(broad))
    again = _statements(cached, lambda: cached.search_messages(broad))
    assert any("count(*)" in sql for sql in first) and any("matched AS MATERIALIZED" in sql for sql in first)
    assert not any("count(*)" in sql or "matched" in sql or "rank" in sql for sql in again)
    assert len(again) < len(first)  # the page's documents are still read
    conversations = _request(query="coffee", sort="relevance", highlight=False)
    first = _statements(cached, lambda: cached.search_conversations(conversations))
    again = _statements(cached, lambda: cached.search_conversations(conversations))
    assert any("conversation_hits" in sql for sql in first)
    assert not any("conversation_hits" in sql or "count(*)" in sql for sql in again)


def _new_message(i: int) -> Message:
    return Message(
        channel="email",
        native_id=f"new{i}",
        conversation_id="cnv_b0",
        text="coffee leak",
        language="en",
        created_at=START + timedelta(days=30, minutes=i),
    )


@pytest.fixture
def writable(tmp_path: Path, path: Path) -> Path:
    copy = tmp_path / "kb.sqlite3"
    copy.write_bytes(path.read_bytes())
    return copy


def test_writes_through_the_kb_or_behind_its_back_are_seen_at_once(writable: Path) -> None:
    kb = SQLiteKB(writable)
    other = SQLiteKB(writable)  # another connection, as another process would hold
    try:
        leak = _request(query="leak")
        before = kb.search_messages(leak)
        assert before.total_relation == "eq" and kb.search_messages(leak).total == before.total
        kb.upsert_messages([_new_message(1)])
        assert kb.search_messages(leak).total == before.total + 1
        other.upsert_messages([_new_message(2)])
        after = kb.search_messages(leak)
        assert after.total == before.total + 2 and after.hits[0].document.native_id in {"new1", "new2"}

        open_ones = _request(query="coffee", filters=SearchFilters(statuses=["open"]), highlight=False)
        counted = kb.search_conversations(open_ones).total
        first = kb.search_conversations(open_ones).hits[0].id
        other.update_conversation(first, {"status": "resolved"})
        assert kb.search_conversations(open_ones).total == counted - 1
    finally:
        other.close()
        kb.close()
