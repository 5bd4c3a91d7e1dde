"""Date-ordered pages of broad matches walked in blocks (``kb.sqlite.walk``).

Every page - first, by offset, after a cursor, at the end and past it - must be exactly the page
the SQL plan it replaces answers (the walk switched off), whatever order the rows were stored in:
rowids in date order (one range scan a block), shuffled (many runs), with tied dates.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import kb.sqlite.conversation_search as conversation_search
import kb.sqlite.message_search as message_search
import kb.sqlite.walk as walk_module
from hub.models import Conversation, Message
from kb.base import SearchFilters, SearchRequest, SearchResult
from kb.common import encode_cursor
from kb.query import parse_query
from kb.sqlite import SQLiteKB
from kb.sqlite.plans import BROAD_MATCHES
from kb.sqlite.query import fts_expression
from kb.sqlite.walk import MAX_GAP, _runs, conversation_page, matching_rowids, message_page

START = datetime(2026, 5, 1, tzinfo=UTC)
MESSAGES_N = BROAD_MATCHES + 500
CHANNELS = ("email", "twitter", "sms")
#: conversations with a subject only (no messages): their last_ts is 0
EMPTY_CONVERSATIONS = 3


def _corpus() -> tuple[list[Message], list[Conversation]]:
    rng = random.Random(11)
    messages: list[Message] = []
    minute = 0
    for i in range(MESSAGES_N):
        # a thread in five has no "machine": some of those are found by their subject alone
        words = ["coffee", "machine" if (i // 4) % 5 else "grinder", *(["leak"] if i % 7 == 0 else [])]
        rng.shuffle(words)
        if i % 50 != 49:  # every 50th message shares its predecessor's date: ties by rowid
            minute += rng.randint(1, 3)
        messages.append(
            Message(
                channel=CHANNELS[i % 3],
                native_id=f"w{i}",
                conversation_id=f"cnv_w{i // 4}",
                text=" ".join(words),
                language="en",
                direction="out" if i % 5 == 0 else "in",
                created_at=START + timedelta(minutes=minute),
            )
        )
    conversations = []
    for start in range(0, MESSAGES_N, 4):
        group = messages[start : start + 4]
        conversations.append(
            Conversation(
                id=str(group[0].conversation_id),
                channel=group[-1].channel,
                # half the threads without a "machine" message name one in their subject
                subject="machine manual" if (start // 4) % 10 == 0 else f"thread {start}",
                first_message_at=group[0].created_at,
                last_message_at=group[-1].created_at,
                message_count=len(group),
                status="resolved" if start % 8 == 0 else "open",
            )
        )
    for n in range(EMPTY_CONVERSATIONS):
        conversations.append(
            Conversation(id=f"cnv_empty{n}", channel="email", subject="machine question", status="open")
        )
    return messages, conversations


MESSAGES, CONVERSATIONS = _corpus()


def _stored(order: str) -> list[Message]:
    """The messages in the order they are written: by date, shuffled, or newest first."""
    if order == "dated":
        return MESSAGES
    if order == "reversed":
        return MESSAGES[::-1]
    shuffled = list(MESSAGES)
    random.Random(3).shuffle(shuffled)
    return shuffled


@pytest.fixture(scope="module", params=["dated", "shuffled", "reversed"])
def walk_kb(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteKB]:
    path: Path = tmp_path_factory.mktemp("walk") / "kb.sqlite3"
    kb = SQLiteKB(path, search_cache_entries=0)
    stored = _stored(request.param)
    for at in range(0, len(stored), 400):
        kb.upsert_messages(stored[at : at + 400])
    kb.upsert_conversations(CONVERSATIONS)
    yield kb
    kb.close()


def _fts(conn: sqlite3.Connection, query: str) -> str:
    """The FTS5 expression a search compiles ``query`` to (its words analysed as indexed)."""
    analyses = tuple(name for (name,) in conn.execute("SELECT name FROM analyses ORDER BY name"))
    expression = fts_expression(parse_query(query), analyses)
    assert expression is not None
    return expression


Search = Callable[[SearchRequest], SearchResult[Any]]


def _pages(search: Search, request: SearchRequest) -> list[tuple[list[str], str | None, int, str]]:
    """Every page of ``request`` by cursor, as (ids, cursor, total, relation)."""
    pages = []
    cursor = request.cursor
    for _ in range(400):
        result = search(SearchRequest(**{**request.__dict__, "cursor": cursor}))
        pages.append(([h.id for h in result.hits], result.next_cursor, result.total, result.total_relation))
        cursor = result.next_cursor
        if cursor is None:
            return pages
    raise AssertionError("the cursor never ended")


def _by_sql(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch the walk off: the SQL plans answer every page, as before the walk."""
    monkeypatch.setattr(message_search, "message_page", lambda *args, **kwargs: None)
    monkeypatch.setattr(conversation_search, "conversation_page", lambda *args, **kwargs: None)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the range checks the walk makes (to know it answered)."""
    calls: list[int] = []
    original = walk_module.matching_rowids

    def counted(*args: Any) -> set[int]:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(walk_module, "matching_rowids", counted)
    return calls


MESSAGE_REQUESTS = [
    # a word in every message, capped (so "gte"): the walk
    SearchRequest(query="coffee", sort="newest", limit=7, highlight=False, total_limit=100),
    SearchRequest(query="coffee", sort="oldest", limit=50, highlight=False, total_limit=100),
    # four in five, one in five, one in seven: the walk reads more candidates a hit
    SearchRequest(query="machine", sort="newest", limit=40, highlight=False, total_limit=50),
    SearchRequest(query="grinder", sort="oldest", limit=33, highlight=False, total_limit=10),
    SearchRequest(query="coffee leak", sort="newest", limit=30, highlight=False, total_limit=5),
    # a filter and a named row set (a group with a field) on the walk's candidates
    SearchRequest(query="coffee channel:sms", sort="newest", limit=25, highlight=False, total_limit=20),
    SearchRequest(
        query="coffee (channel:sms OR leak) -grinder", sort="oldest", limit=21, highlight=False, total_limit=9
    ),
    SearchRequest(
        query="machine",
        filters=SearchFilters(direction="out", channels=["email", "twitter"]),
        sort="newest",
        limit=16,
        highlight=False,
        total_limit=3,
    ),
    # a page as large as every match, and pages that divide them exactly (the last one full)
    SearchRequest(query="coffee", sort="newest", limit=200, highlight=False, total_limit=10),
    SearchRequest(query="coffee", sort="oldest", limit=MESSAGES_N // 10, highlight=False, total_limit=10),
]


@pytest.mark.parametrize("request_", MESSAGE_REQUESTS, ids=lambda r: f"{r.query}-{r.sort}-{r.limit}")
def test_message_pages_are_the_sql_plans(
    walk_kb: SQLiteKB, monkeypatch: pytest.MonkeyPatch, request_: SearchRequest
) -> None:
    calls = _counting(monkeypatch)
    walked = _pages(walk_kb.search_messages, request_)
    assert calls, "the walk did not answer"
    _by_sql(monkeypatch)
    assert walked == _pages(walk_kb.search_messages, request_)


@pytest.mark.parametrize(
    "offset", [0, 1, 6, 7, 700, MESSAGES_N - 7, MESSAGES_N - 1, MESSAGES_N, MESSAGES_N + 5]
)
@pytest.mark.parametrize("limit", [0, 1, 7])
@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_pages_by_offset_are_the_sql_plans(
    walk_kb: SQLiteKB, monkeypatch: pytest.MonkeyPatch, offset: int, limit: int, sort: str
) -> None:
    request = SearchRequest(query="coffee", sort=sort, limit=limit, offset=offset, total_limit=100)  # type: ignore[arg-type]
    walked = walk_kb.search_messages(request)
    _by_sql(monkeypatch)
    by_sql = walk_kb.search_messages(request)
    assert [h.id for h in walked.hits] == [h.id for h in by_sql.hits]
    assert walked.next_cursor == by_sql.next_cursor
    assert len(walked.hits) == max(0, min(limit, MESSAGES_N - offset))


def test_the_walk_is_the_order_of_dates_then_rowids(walk_kb: SQLiteKB) -> None:
    """Checked against the data itself, not only against the SQL plan."""
    conn = walk_kb._conn()
    order = conn.execute("SELECT id FROM messages ORDER BY created_ts DESC, rowid DESC").fetchall()
    expected = [message_id for (message_id,) in order if message_id]
    request = SearchRequest(query="coffee", sort="newest", limit=97, highlight=False, total_limit=1)
    walked = [hit for ids, *_ in _pages(walk_kb.search_messages, request) for hit in ids]
    assert walked == expected
    assert len(walked) == MESSAGES_N


def test_a_cursor_of_other_values_is_left_to_sql(walk_kb: SQLiteKB, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (["later", 5], [None, 5], [1.5e9, "x"], [None, None]):
        request = SearchRequest(
            query="coffee", sort="newest", limit=5, total_limit=10, cursor=encode_cursor("newest", key)
        )
        assert message_page(walk_kb._conn(), request, "newest", '"coffee"', [], []) is None
        walked = walk_kb.search_messages(request)
        with monkeypatch.context() as patched:
            _by_sql(patched)
            by_sql = walk_kb.search_messages(request)
        assert [h.id for h in walked.hits] == [h.id for h in by_sql.hits]
        assert walked.next_cursor == by_sql.next_cursor


def test_a_walk_matching_nothing_is_an_empty_page(walk_kb: SQLiteKB) -> None:
    conn = walk_kb._conn()
    for sort in ("newest", "oldest"):
        request = SearchRequest(query="zzz", sort=sort, limit=10)  # type: ignore[arg-type]
        assert message_page(conn, request, sort, '"zzz"', [], []) == ([], None)
        assert conversation_page(conn, request, sort, [], [], '"zzz"', [], [], subject='"zzz"') == ([], None)
        # candidates that all fail a filter: the walk reads to the end and finds none
        coffee = _fts(conn, "coffee")
        assert message_page(conn, request, sort, coffee, ["m.channel = ?"], ["fax"]) == ([], None)


CONVERSATION_REQUESTS = [
    SearchRequest(query="coffee", sort="newest", limit=25, highlight=False, total_limit=50),
    SearchRequest(query="coffee", sort="oldest", limit=40, highlight=False),
    # found by their subject alone too, among them conversations without messages (dated 0)
    SearchRequest(query="machine", sort="newest", limit=9, highlight=False),
    SearchRequest(query="machine", sort="oldest", limit=30, highlight=False, total_limit=40),
    SearchRequest(
        query="machine", filters=SearchFilters(statuses=["open"]), sort="newest", limit=17, highlight=False
    ),
    SearchRequest(
        query="coffee",
        filters=SearchFilters(channels=["email"], direction="in"),
        sort="oldest",
        limit=11,
        highlight=False,
    ),
    SearchRequest(query="coffee (machine OR channel:sms)", sort="newest", limit=12, highlight=False),
]


@pytest.mark.parametrize("request_", CONVERSATION_REQUESTS, ids=lambda r: f"{r.query}-{r.sort}-{r.limit}")
def test_conversation_pages_are_the_sql_plans(
    walk_kb: SQLiteKB, monkeypatch: pytest.MonkeyPatch, request_: SearchRequest
) -> None:
    calls = _counting(monkeypatch)
    walked = _pages(walk_kb.search_conversations, request_)
    assert calls, "the walk did not answer"
    _by_sql(monkeypatch)
    assert walked == _pages(walk_kb.search_conversations, request_)
    for offset in (0, 5, 300, len(CONVERSATIONS) - 2, len(CONVERSATIONS) + 1):
        at = SearchRequest(**{**request_.__dict__, "offset": offset})
        with monkeypatch.context() as restored:
            restored.setattr(conversation_search, "conversation_page", conversation_page)
            by_walk = walk_kb.search_conversations(at)
        by_sql = walk_kb.search_conversations(at)
        assert ([h.id for h in by_walk.hits], by_walk.next_cursor) == (
            [h.id for h in by_sql.hits],
            by_sql.next_cursor,
        )


def test_subject_only_conversations_are_walked(walk_kb: SQLiteKB) -> None:
    """Checked against the data itself: threads with a "machine" message, or the word in
    their subject (undated ones, without messages, first when oldest first)."""
    by_messages = {str(m.conversation_id) for m in MESSAGES if "machine" in m.text.split()}
    by_subject = {c.id for c in CONVERSATIONS if "machine" in (c.subject or "").split()}
    assert by_subject - by_messages  # some only by their subject
    request = SearchRequest(query="machine", sort="oldest", limit=50, highlight=False)
    walked = [hit for ids, *_ in _pages(walk_kb.search_conversations, request) for hit in ids]
    assert sorted(walked) == sorted(by_messages | by_subject)
    assert walked[:EMPTY_CONVERSATIONS] == [f"cnv_empty{n}" for n in range(EMPTY_CONVERSATIONS)]


def test_runs_split_where_rowids_are_far_apart() -> None:
    assert _runs([]) == []
    assert _runs([5]) == [(5, 5)]
    assert _runs([9, 1, 1, 5]) == [(1, 9)]
    assert _runs([1, 1 + MAX_GAP, 2 + 2 * MAX_GAP]) == [(1, 1 + MAX_GAP), (2 + 2 * MAX_GAP, 2 + 2 * MAX_GAP)]
    assert _runs([100, 1, 50]) == [(1, 1), (50, 50), (100, 100)]


def test_matching_rowids_answers_only_the_asked(walk_kb: SQLiteKB) -> None:
    conn = walk_kb._conn()
    rows = conn.execute("SELECT rowid FROM messages ORDER BY rowid").fetchall()
    every = [rowid for (rowid,) in rows]
    coffee, grinder = _fts(conn, "coffee"), _fts(conn, "grinder")
    assert matching_rowids(conn, "message_fts", coffee, []) == set()
    asked = every[::40] + every[5:9]
    assert matching_rowids(conn, "message_fts", coffee, asked) == set(asked)
    found = conn.execute("SELECT rowid FROM message_fts WHERE message_fts MATCH ?", [grinder])
    grinders = {rowid for (rowid,) in found}
    assert 0 < len(grinders) < len(every)
    assert matching_rowids(conn, "message_fts", grinder, every) == grinders
    assert matching_rowids(conn, "message_fts", grinder, every[::3]) == grinders & set(every[::3])
    assert matching_rowids(conn, "message_fts", grinder, [max(every) + 1, -3]) == set()
