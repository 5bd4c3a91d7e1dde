"""What a search may cost: the query budget (``kb.limits``), and facets asked for once each."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import InvalidInput
from hub.settings import KBSettings
from kb.base import KnowledgeBase, SearchRequest
from kb.common import MESSAGE_FACETS, check_facets
from kb.elasticsearch import ElasticsearchKB
from kb.limits import (
    DEFAULT_QUERY_BUDGET,
    DEFAULT_QUERY_DEADLINE_S,
    QueryTooExpensive,
    SearchLimits,
    check_budget,
    parse_search_query,
    query_cost,
)
from kb.query import MAX_LEAVES, QuerySyntaxError, parse_query
from kb.sqlite import SQLiteKB
from tests.kb.elasticsearch.fake_es import FakeElasticsearch

#: operands joined by NEAR: 300 of them ran 59 s on 20k messages (with NEAR/999f)
LONG_NEAR = " NEAR/50f ".join(f"w{i}" for i in range(200))


@pytest.mark.parametrize(
    ("query", "cost"),
    [
        ("", 0),
        ("refund", 1),
        ('"money back"', 2),
        ("refund late", 1 + 1 + 2),  # two terms, one AND of two parts
        ("refund -spam", 1 + 1 + 2 + 2),  # ... and a NOT
        ("r*", 1 + 25),
        ("re*", 1 + 12),
        ("refu*", 1 + 6),
        ("channel:twitter", 1),
        ("channel:tw*", 6),
        ("delay NEAR/3 flight", 2 * 2 * 1),
        ("delay NEAR/25 flight", 2 * 2 * 3),
        ("delay NEAR/25f flight", 2 * 2 * 3 * 3),
        ("refund OR refund OR refund", 1),  # repeats fold before they are costed
    ],
)
def test_query_cost(query: str, cost: int) -> None:
    assert query_cost(parse_query(query)) == cost


def test_a_long_or_list_fits_the_default_budget() -> None:
    brand_monitor = " OR ".join(f"w{i}" for i in range(MAX_LEAVES))
    assert query_cost(parse_query(brand_monitor)) == 2 * MAX_LEAVES <= DEFAULT_QUERY_BUDGET
    assert parse_search_query(brand_monitor, DEFAULT_QUERY_BUDGET) is not None


def test_over_the_budget_names_the_part_that_alone_costs_too_much() -> None:
    query = "refund OR " + LONG_NEAR
    with pytest.raises(QueryTooExpensive, match="query too expensive") as raised:
        parse_search_query(query, DEFAULT_QUERY_BUDGET)
    assert raised.value.position == len("refund OR ")  # the NEAR chain starts there
    assert f"against a budget of {DEFAULT_QUERY_BUDGET:,}" in str(raised.value)
    assert isinstance(raised.value, InvalidInput) and not isinstance(raised.value, QuerySyntaxError)


def test_over_the_budget_names_where_the_total_passes_it() -> None:
    prefixes = [f"{a}{b}*" for a in "abcd" for b in "abcdefghijklmnopqrstuvwxyz"][:100]
    query = " OR ".join(prefixes)  # 100 two-letter prefixes, 13 each
    node = parse_query(query)
    assert query_cost(node) == 100 + 100 * 13
    with pytest.raises(QueryTooExpensive) as raised:
        check_budget(node, 1000)
    # the OR group's 100 units come first, then 13 per prefix: the 70th passes 1,000
    assert raised.value.position == query.index(prefixes[69])
    check_budget(node, query_cost(node))  # exactly at the budget is within it


def test_facets_are_computed_once_each() -> None:
    assert check_facets(["authors"] * 3000, MESSAGE_FACETS) == ("authors",)
    assert check_facets(["tags", "channel", "tags"], MESSAGE_FACETS) == ("tags", "channel")
    with pytest.raises(InvalidInput, match="unknown facet 'nope'"):
        check_facets(["channel"] * 10 + ["nope"], MESSAGE_FACETS)


def test_every_backend_refuses_a_search_over_its_budget(loaded_kb: KnowledgeBase) -> None:
    for search in (loaded_kb.search_messages, loaded_kb.search_conversations):
        with pytest.raises(QueryTooExpensive) as raised:
            search(SearchRequest(query=LONG_NEAR))
        assert raised.value.position == 0
        with pytest.raises(QuerySyntaxError, match="NEAR/50"):
            search(SearchRequest(query=LONG_NEAR.replace("NEAR/50f", "NEAR/999f")))
    result = loaded_kb.search_messages(SearchRequest(query="refund", facets=["channel"] * 3000))
    assert list(result.facets) == ["channel"] and result.total == 3


def test_the_budget_is_the_backends_to_configure(tmp_path: Path) -> None:
    kb = SQLiteKB(tmp_path / "kb.sqlite3", limits=SearchLimits(budget=4))
    try:
        assert kb.search_messages(SearchRequest(query="a OR b")).total == 0  # costs 4
        with pytest.raises(QueryTooExpensive):
            kb.search_messages(SearchRequest(query="a OR b OR c"))
    finally:
        kb.close()


def test_a_search_over_the_budget_never_reaches_elasticsearch(
    fake_kb: ElasticsearchKB, fake: FakeElasticsearch
) -> None:
    before = len(fake.requests)
    for search in (fake_kb.search_messages, fake_kb.search_conversations):
        with pytest.raises(QueryTooExpensive):
            search(SearchRequest(query=LONG_NEAR))
    assert fake.requests[before:] == []
    fake_kb.search_messages(SearchRequest(facets=["authors"] * 3000))
    body = fake.requests[-1][2]
    assert list(body["aggs"]) == ["f_authors"]


def test_the_settings_defaults_are_the_documented_ones() -> None:
    defaults = KBSettings()
    assert defaults.query_budget == DEFAULT_QUERY_BUDGET == 1000
    assert defaults.query_deadline_s == DEFAULT_QUERY_DEADLINE_S == 5.0
