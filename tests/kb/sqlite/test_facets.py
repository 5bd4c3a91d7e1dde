"""Facets and histograms of message searches, counted in one statement (``kb.sqlite.facets``).

Every facet is checked against counts made in Python from the matching rows themselves: more
distinct values than a facet shows (so the cut at ``FACET_SIZE`` and the order of ties count),
the newest-indexed window of a broad match, a histogram beside facets, a deep query whose row
sets open the statement, and a query matching nothing.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import kb.sqlite.plans as plans
from hub.models import Conversation, Enrichment, Identity, Message
from kb.base import SearchRequest
from kb.common import FACET_SIZE, MESSAGE_FACETS
from kb.sqlite import SQLiteKB
from kb.sqlite.facets import CONVERSATION_COLUMNS, MESSAGE_COLUMNS, MESSAGE_TERMS, aggregate_messages

START = datetime(2026, 6, 1, tzinfo=UTC)
N = 600
TAGS = ("vip", "press", "billing")


def _corpus() -> tuple[list[Message], list[Conversation]]:
    rng = random.Random(17)
    authors = [Identity(channel="twitter", native_id=f"a{i}", handle=f"user{i}") for i in range(40)]
    messages = []
    for i in range(N):
        hashtags = rng.sample([f"h{k}" for k in range(30)], k=rng.randint(0, 3))
        messages.append(
            Message(
                channel=("email", "twitter", "sms")[i % 3],
                native_id=f"f{i}",
                conversation_id=f"cnv_f{i // 3}",
                # authors' counts skewed (a few frequent, many tied at the bottom)
                author=authors[min(int(rng.expovariate(0.15)), 39)],
                text="coffee " + ("machine" if i % 4 else "grinder") + "".join(f" #{h}" for h in hashtags),
                language=("en", "fr", "de", "es")[i % 4 if i % 10 else 0],
                created_at=START + timedelta(hours=i * 5),
                enrichment=Enrichment(
                    language="en",
                    sentiment_label=("positive", "negative", "neutral")[i % 3],
                    hashtags=hashtags,
                    intent=rng.choice(["complaint", "question", None]),
                ),
            )
        )
    conversations = [
        Conversation(
            id=f"cnv_f{c}",
            channel="twitter",
            status=("open", "pending", "resolved")[c % 3],
            priority=("low", "normal", "high")[c % 5 % 3],
            assignee=f"agent{c % 7}" if c % 4 else None,
            tags=[TAGS[c % 3]] + ([TAGS[(c + 1) % 3]] if c % 5 == 0 else []),
            first_message_at=START,
            last_message_at=START,
            message_count=3,
        )
        for c in range(N // 3)
    ]
    return messages, conversations


MESSAGES, CONVERSATIONS = _corpus()


@pytest.fixture(scope="module")
def facet_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteKB]:
    path: Path = tmp_path_factory.mktemp("facets") / "kb.sqlite3"
    kb = SQLiteKB(path, search_cache_entries=0)
    kb.upsert_messages(MESSAGES)  # in order: rowid i + 1 is message i
    kb.upsert_conversations(CONVERSATIONS)
    yield kb
    kb.close()


def _expected(conn: sqlite3.Connection, rowids: list[int], name: str) -> list[tuple[str, int]]:
    """Facet ``name`` of the messages ``rowids``, counted in Python from their rows."""
    marks = ",".join("?" * len(rowids))
    joined = "messages m JOIN conversations c ON c.id = m.conversation_id"
    if name in MESSAGE_COLUMNS:
        sql = f"SELECT {MESSAGE_COLUMNS[name]} FROM messages m WHERE m.rowid IN ({marks})"
    elif name in MESSAGE_TERMS:
        sql = f"SELECT value FROM message_terms WHERE field = '{MESSAGE_TERMS[name]}' AND mrow IN ({marks})"
    elif name == "tags":
        sql = (
            f"SELECT t.value FROM {joined} JOIN conversation_terms t ON t.crow = c.rowid AND t.field = 'tag'"
            f" WHERE m.rowid IN ({marks})"
        )
    else:
        sql = f"SELECT c.{CONVERSATION_COLUMNS[name]} FROM {joined} WHERE m.rowid IN ({marks})"
    counts = Counter(value for (value,) in conn.execute(sql, rowids) if value is not None)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:FACET_SIZE]


def _rowids(predicate: object) -> list[int]:
    return [i + 1 for i, m in enumerate(MESSAGES) if callable(predicate) and predicate(m)]


def _facets(kb: SQLiteKB, request: SearchRequest) -> dict[str, list[tuple[str, int]]]:
    result = kb.search_messages(request)
    return {name: [(b.value, b.count) for b in buckets] for name, buckets in result.facets.items()}


@pytest.mark.parametrize("sort", ["relevance", "newest"])
def test_every_facet_of_a_word_in_every_message(facet_kb: SQLiteKB, sort: str) -> None:
    request = SearchRequest(query="coffee", facets=MESSAGE_FACETS, limit=3, sort=sort)  # type: ignore[arg-type]
    facets = _facets(facet_kb, request)
    every = _rowids(lambda m: True)
    conn = facet_kb._conn()
    assert list(facets) == list(MESSAGE_FACETS)
    for name in MESSAGE_FACETS:
        assert facets[name] == _expected(conn, every, name), name
    assert len(facets["authors"]) == FACET_SIZE  # more authors than a facet shows
    assert len(facets["hashtags"]) == FACET_SIZE


def test_a_broad_match_counts_its_newest_window(facet_kb: SQLiteKB, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plans, "FACET_WINDOW", 250)
    result = facet_kb.search_messages(SearchRequest(query="machine", facets=("authors", "tags", "status")))
    assert result.facets_window == 250
    newest = _rowids(lambda m: "machine" in m.text)[-250:]
    conn = facet_kb._conn()
    for name in ("authors", "tags", "status"):
        assert [(b.value, b.count) for b in result.facets[name]] == _expected(conn, newest, name)


def test_a_histogram_beside_facets_counts_every_match(
    facet_kb: SQLiteKB, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plans, "FACET_WINDOW", 50)
    request = SearchRequest(query="grinder", facets=("channel", "hashtags"), histogram="week")
    result = facet_kb.search_messages(request)
    assert result.facets_window is None  # a histogram counts every match, so facets do too
    grinders = [m for m in MESSAGES if "grinder" in m.text]
    conn = facet_kb._conn()
    rowids = _rowids(lambda m: "grinder" in m.text)
    assert [(b.value, b.count) for b in result.facets["channel"]] == _expected(conn, rowids, "channel")
    assert [(b.value, b.count) for b in result.facets["hashtags"]] == _expected(conn, rowids, "hashtags")
    assert sum(b.count for b in result.histogram) == len(grinders)
    # weeks start on Mondays
    weeks = Counter(m.created_at.date() - timedelta(days=m.created_at.weekday()) for m in grinders)
    assert {b.start.date(): b.count for b in result.histogram if b.count} == dict(weeks)
    only_histogram = facet_kb.search_messages(SearchRequest(query="grinder", histogram="month"))
    assert only_histogram.facets == {}
    assert sum(b.count for b in only_histogram.histogram) == len(grinders)


def test_a_deep_query_opens_with_its_row_sets(facet_kb: SQLiteKB) -> None:
    query = "coffee (channel:sms OR #h3) -lang:fr"
    facets = _facets(facet_kb, SearchRequest(query=query, facets=("language", "hashtags", "assignee")))
    rowids = _rowids(lambda m: (m.channel == "sms" or "h3" in m.enrichment.hashtags) and m.language != "fr")
    conn = facet_kb._conn()
    for name in ("language", "hashtags", "assignee"):
        assert facets[name] == _expected(conn, rowids, name), name


def test_nothing_matched_counts_nothing(facet_kb: SQLiteKB) -> None:
    result = facet_kb.search_messages(
        SearchRequest(query="zzzunknown", facets=("channel", "tags", "entities"), histogram="day")
    )
    assert result.facets == {"channel": [], "tags": [], "entities": []}
    assert result.histogram == []
    conn = facet_kb._conn()
    matches = ("messages m", "m.rowid < 0", [], "")
    assert aggregate_messages(conn, ("authors",), None, matches) == ({"authors": []}, [])
    assert aggregate_messages(conn, (), None, matches) == ({}, [])
