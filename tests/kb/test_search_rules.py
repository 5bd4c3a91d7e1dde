"""The search rules both backends consume: where filters apply, the default sort, subjects."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import pytest

from hub.models import Conversation
from kb.base import SearchFilters
from kb.query import QuerySyntaxError, parse_query
from kb.search_rules import (
    CONVERSATION_LEVEL_FILTERS,
    CONVERSATION_STATE_FILTERS,
    MESSAGE_LEVEL_FILTERS,
    conversation_highlights,
    conversation_level,
    effective_sort,
    has_message_level_filters,
    is_word_query,
    matches_subjects,
    message_level,
    ranks_by_relevance,
)
from kb.sqlite.query import compile_message_query
from tests.kb.test_behaviour import CASES, _random_queries


def test_every_filter_applies_in_exactly_one_place() -> None:
    # a new SearchFilters field must be placed here, or a conversation search would ignore it
    names = {f.name for f in fields(SearchFilters)}
    assert set(MESSAGE_LEVEL_FILTERS) | set(CONVERSATION_LEVEL_FILTERS) == names
    assert not set(MESSAGE_LEVEL_FILTERS) & set(CONVERSATION_LEVEL_FILTERS)
    assert set(CONVERSATION_STATE_FILTERS) <= set(CONVERSATION_LEVEL_FILTERS)


def test_filters_split_into_message_and_conversation_levels() -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    f = SearchFilters(channels=["sms"], languages=["en"], statuses=["open"], direction="in", since=since)
    assert message_level(f) == SearchFilters(languages=["en"], direction="in")
    assert conversation_level(f) == SearchFilters(channels=["sms"], statuses=["open"], since=since)
    assert has_message_level_filters(f)
    assert not has_message_level_filters(SearchFilters(channels=["sms"], tags=["vip"]))


@pytest.mark.parametrize(
    ("query", "words", "ranked"),
    [
        ("refund", True, True),
        ('"money back" OR ref*', True, True),
        ("flight -lisbon", True, True),
        ("delay NEAR/3 flight", True, True),
        ("delay NEAR/3f flight", False, True),  # scored unordered, order checked after
        ("delay NEAR/3f flight channel:email", False, True),
        ("refund channel:email", False, True),
        ("refund OR channel:email", False, False),
        ("-refund", False, False),
        ("-refund channel:sms", False, False),
        ("channel:sms", False, False),
        ("(delay NEAR/0f flight OR hashtag:fail) -lisbon", False, False),
    ],
)
def test_word_queries_and_relevance(query: str, words: bool, ranked: bool) -> None:
    node = parse_query(query)
    assert node is not None
    assert is_word_query(node) is words
    assert ranks_by_relevance(node) is ranked
    assert effective_sort("relevance", node) == ("relevance" if ranked else "newest")
    assert effective_sort("oldest", node) == "oldest"


def test_relevance_falls_back_to_newest_without_a_query() -> None:
    assert effective_sort("relevance", None) == "newest"
    assert not matches_subjects(None, SearchFilters())


def test_the_rule_agrees_with_what_the_embedded_index_can_score() -> None:
    # relevance is served exactly when the SQLite compiler finds an FTS5 MATCH to rank by
    queries = [q for q, expected in CASES if expected is not None] + _random_queries(300, seed=11)
    checked = 0
    for query in queries:
        try:
            node = parse_query(query)
        except QuerySyntaxError:
            continue
        compiled = compile_message_query(node, SearchFilters())
        assert ranks_by_relevance(node) is (compiled.fts is not None), query
        checked += 1
    assert checked > 250


def test_only_word_queries_without_message_filters_match_subjects() -> None:
    words = parse_query("warranty OR lisbon")
    assert matches_subjects(words, SearchFilters(statuses=["open"]))
    assert not matches_subjects(words, SearchFilters(languages=["en"]))
    assert not matches_subjects(parse_query("warranty channel:sms"), SearchFilters())


def test_conversation_subjects_are_highlighted() -> None:
    conversation = Conversation(id="c", channel="email", subject="Refund <please>", languages=["en"])
    marks = conversation_highlights(conversation, parse_query("refunds -voucher"))
    assert marks == {"subject": ["<mark>Refund</mark> &lt;please&gt;"]}
    assert conversation_highlights(conversation, parse_query("channel:email")) == {}
