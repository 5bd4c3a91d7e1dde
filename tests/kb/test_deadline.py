"""A search stops at its deadline (``kb.query_deadline_s``) on every backend.

No test here measures time: the clock the deadline reads is made to jump past it, so what is
checked is that the work is interrupted and reported, not how fast anything runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.errors import InvalidInput
from hub.settings import Settings
from kb import open_kb
from kb.base import SearchRequest
from kb.elasticsearch import ElasticsearchKB
from kb.elasticsearch import deadline as es_deadline
from kb.limits import QueryTooExpensive, SearchLimits
from kb.sqlite import SQLiteKB
from tests.kb.docs import CONVERSATIONS, MESSAGES
from tests.kb.elasticsearch.fake_es import FakeElasticsearch


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """``kb.limits``'s monotonic clock, moved by hand: ``clock[0]`` is "now"."""
    now = [1000.0]
    monkeypatch.setattr("kb.limits.time.monotonic", lambda: now[0])
    yield now


@pytest.fixture
def sqlite_kb(tmp_path: Path) -> Iterator[SQLiteKB]:
    kb = SQLiteKB(tmp_path / "kb.sqlite3", limits=SearchLimits(deadline_s=5.0))
    kb.upsert_messages(MESSAGES)
    kb.upsert_conversations(CONVERSATIONS)
    yield kb
    kb.close()


def test_sqlite_interrupts_a_statement_once_the_deadline_passes(
    sqlite_kb: SQLiteKB, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every reading of the clock is a minute later: the first progress check is past the
    # deadline; checks come every instruction, as the test documents are too few for more
    ticks = itertools.count(start=1000.0, step=60.0)
    monkeypatch.setattr("kb.limits.time.monotonic", lambda: next(ticks))
    monkeypatch.setattr("kb.sqlite.store._DEADLINE_CHECK_STEPS", 1)
    for search in (sqlite_kb.search_messages, sqlite_kb.search_conversations):
        with pytest.raises(QueryTooExpensive, match="stopped after 5 s") as raised:
            search(SearchRequest(query="refund OR -channel:twitter", facets=["channel"]))
        assert isinstance(raised.value, InvalidInput)  # answered 400: narrow the query
        assert isinstance(raised.value.__cause__, Exception) and "interrupt" in str(raised.value.__cause__)
    monkeypatch.undo()
    # the handler is gone with the search: the same connection serves the next one in full
    assert sqlite_kb.search_messages(SearchRequest(query="refund OR -channel:twitter")).total == 8


def test_sqlite_search_within_the_deadline_is_untouched(sqlite_kb: SQLiteKB, clock: list[float]) -> None:
    assert sqlite_kb.search_messages(SearchRequest(query="refund", facets=["channel"])).total == 3
    unlimited = SQLiteKB(sqlite_kb.path, limits=SearchLimits(deadline_s=0))
    try:
        clock[0] = float("inf")  # no deadline: the clock is never consulted
        assert unlimited.search_conversations(SearchRequest(query="refund")).total == 2
    finally:
        unlimited.close()


def test_the_deadline_and_budget_come_from_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, demo=False, kb={"query_deadline_s": 0.5, "query_budget": 42})
    kb = open_kb(settings)
    try:
        assert isinstance(kb, SQLiteKB) and kb.limits == SearchLimits(budget=42, deadline_s=0.5)
    finally:
        kb.close()


@pytest.fixture
def es(fake_kb: ElasticsearchKB) -> ElasticsearchKB:
    fake_kb.limits = SearchLimits(deadline_s=5.0)
    fake_kb.upsert_conversations(CONVERSATIONS)
    fake_kb.upsert_messages(MESSAGES)
    return fake_kb


def test_elasticsearch_searches_carry_the_deadline(es: ElasticsearchKB, fake: FakeElasticsearch) -> None:
    before = len(fake.requests)
    es.search_conversations(SearchRequest(query="refund", sort="relevance"))
    searches = [body for _, path, body in fake.requests[before:] if path.endswith("_search")]
    assert len(searches) == 2
    for body in searches:
        assert body["timeout"].endswith("ms") and 0 < int(body["timeout"][:-2]) <= 5000
        assert "terminate_after" not in body
    # one opaque id per search, so its tasks can be found and cancelled
    assert len(set(fake.opaque_ids[-2:])) == 1 and str(fake.opaque_ids[-1]).startswith("parley-search-")


def test_elasticsearch_timed_out_shards_are_not_served_as_results(
    es: ElasticsearchKB, fake: FakeElasticsearch
) -> None:
    fake.searches_time_out = True
    for search in (es.search_messages, es.search_conversations):
        with pytest.raises(QueryTooExpensive, match="stopped after 5 s"):
            search(SearchRequest(query="refund"))
    fake.searches_time_out = False
    assert es.search_messages(SearchRequest(query="refund")).total == len(MESSAGES)  # the fake's canned total


def test_elasticsearch_search_past_the_deadline_is_dropped_and_cancelled(
    es: ElasticsearchKB, fake: FakeElasticsearch, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the cluster never answers in time: the client gives up at the deadline (plus grace),
    # does not retry, and cancels the search task it had started
    es.limits = SearchLimits(deadline_s=0.3)  # ample for the fake to start the task
    monkeypatch.setattr(es_deadline, "GRACE_S", 0.05)
    fake.stall_searches = True
    searches_before = len(fake.opaque_ids)
    with pytest.raises(QueryTooExpensive):
        es.search_messages(SearchRequest(query="refund"))
    assert len(fake.opaque_ids) == searches_before + 1  # sent once: no retry on timeout
    assert fake.cancelled == ["node1:1"]


def test_no_elasticsearch_request_is_sent_once_the_deadline_has_passed(
    es: ElasticsearchKB, fake: FakeElasticsearch, clock: list[float]
) -> None:
    real_search = es_deadline.TimedRequests.search

    def search_then_time_passes(self: es_deadline.TimedRequests, **body: object) -> object:
        response = real_search(self, **body)
        clock[0] += 60.0
        return response

    es_deadline.TimedRequests.search = search_then_time_passes  # type: ignore[method-assign]
    try:
        before = len(fake.requests)
        with pytest.raises(QueryTooExpensive):
            es.search_conversations(SearchRequest(query="refund", sort="relevance"))
        sent = [path for _, path, _ in fake.requests[before:]]
        assert sent == ["t-messages/_search"]  # the conversations search was never sent
    finally:
        es_deadline.TimedRequests.search = real_search  # type: ignore[method-assign]
