"""Queries as deep and as negated as the language allows run on every backend and in memory.

Random queries up to the limits of ``kb.query`` either parse and then search without error,
finding what the in-memory matcher finds, or are refused as the user's mistake
(``InvalidInput``): never a ``sqlite3.OperationalError`` ("parser stack overflow"), a
``RecursionError`` or any other error.
"""

from __future__ import annotations

import random

import pytest

from hub.errors import InvalidInput
from kb.base import KnowledgeBase, SearchRequest
from kb.matcher import compile_matcher
from kb.query import MAX_DEPTH, MAX_NOTS, parse_query
from tests.kb.docs import CONVERSATIONS, MESSAGES

_WORDS = ["refund", "flight", "delayed", '"money back"', "ref*", "lisbon", "ann", "voucher", "caf*"]
_FIELDS = ["channel:email", "channel:tw*", "lang:fr", "status:open", "tag:vip", "hashtag:fail", "author:ann"]


def _leaf(rng: random.Random) -> str:
    return rng.choice(_WORDS + _FIELDS)


def _query(rng: random.Random, levels: int) -> str:
    """A random query whose operators nest at most ``levels`` deep."""
    if levels == 0 or rng.random() < 0.15:
        return _leaf(rng)
    kind = rng.choice(["AND", "OR", "implicit", "NOT", "-", "NEAR"])
    if kind == "NOT":
        return f"NOT ({_query(rng, levels - 1)})"
    if kind == "-":
        return "-" + _leaf(rng)
    if kind == "NEAR":
        words = rng.sample([w for w in _WORDS if w != '"money back"'], rng.randint(2, 3))
        op = f" NEAR/{rng.randint(0, 50)}{rng.choice(['', 'f'])} "
        return op.join(words)
    parts = [f"({_query(rng, levels - 1)})" for _ in range(rng.randint(2, 3))]
    return (" " if kind == "implicit" else f" {kind} ").join(parts)


def _chain(pattern: str) -> str:
    """``pattern`` (two operator levels, "{w} OR NOT ({rest})"...) nested into itself as deep
    as the language allows."""
    query = "refund"
    for level in range(MAX_DEPTH // 2):
        query = pattern.format(w=_WORDS[level % len(_WORDS)], rest=query)
    return query


#: the shapes that overflowed SQLite's parser stack, at the deepest the language accepts
DEEPEST = {
    "OR/NOT": _chain("{w} OR NOT ({rest})"),
    "AND/NOT": _chain("{w} AND NOT ({rest})"),
    "AND/OR": _chain("{w} OR ({w} AND ({rest}))"),
    "NOT chain": "NOT " * MAX_DEPTH + "refund",
    "NOT chain after a word": "refund " + "NOT " * (MAX_DEPTH - 1) + "lisbon",
    "groups of fields": _chain("channel:email OR NOT ({rest})"),
    "exclusions": "flight " + " ".join(f"-w{i}" for i in range(MAX_NOTS)),
    "negated groups": "flight " + " ".join(f"NOT (w{i} OR channel:sms)" for i in range(MAX_NOTS)),
}


def _expected(query: str) -> set[str]:
    match = compile_matcher(query)
    conversations = {c.id: c for c in CONVERSATIONS}
    return {m.id for m in MESSAGES if match(m, conversations[str(m.conversation_id)])}


@pytest.mark.parametrize("query", list(DEEPEST.values()), ids=list(DEEPEST))
def test_the_deepest_queries_run_and_agree_with_the_matcher(loaded_kb: KnowledgeBase, query: str) -> None:
    assert parse_query(query) is not None
    expected = _expected(query)
    result = loaded_kb.search_messages(SearchRequest(query=query, limit=50, facets=["channel"]))
    assert {h.id for h in result.hits} == expected and result.total == len(expected)
    conversations = loaded_kb.search_conversations(SearchRequest(query=query, limit=50))
    assert conversations.total == len({m.conversation_id for m in MESSAGES if m.id in expected})


def test_random_deep_queries_never_raise_anything_but_invalid_input(loaded_kb: KnowledgeBase) -> None:
    rng = random.Random(11)
    ran = 0
    for _ in range(250):
        query = _query(rng, rng.randint(1, MAX_DEPTH + 2))
        try:
            expected = _expected(query)
        except InvalidInput:
            with pytest.raises(InvalidInput):
                loaded_kb.search_messages(SearchRequest(query=query))
            continue
        try:
            result = loaded_kb.search_messages(SearchRequest(query=query, limit=50))
            loaded_kb.search_conversations(SearchRequest(query=query, sort="relevance"))
        except InvalidInput:
            continue  # over the cost budget: the user's to narrow, and said so
        assert {h.id for h in result.hits} == expected, query
        ran += 1
    assert ran > 150  # most random queries are within the limits and really ran
