"""The SQL compiler's nesting stays within SQLite's and FTS5's parser stacks.

SQLite's parser and FTS5's expression parser have fixed stacks ("parser stack overflow"): the
compiler must keep every statement's nesting flat and every FTS5 expression well inside what
FTS5 accepts (measured here, so a SQLite that accepts less fails this test, not a search).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kb.base import SearchFilters, SearchRequest
from kb.query import MAX_DEPTH, And, Field, Node, Not, Or, Text, parse_query
from kb.sqlite import SQLiteKB
from kb.sqlite.query import compile_message_query, fts_expression
from tests.kb.docs import CONVERSATIONS, MESSAGES


def _paren_depth(expression: str) -> int:
    depth = deepest = 0
    for ch in expression.replace('""', ""):  # quoted tokens hold no structure
        depth += {"(": 1, ")": -1}.get(ch, 0)
        deepest = max(deepest, depth)
    return deepest


def _fts5_accepts(depth: int) -> bool:
    with sqlite3.connect(":memory:") as conn:
        conn.execute("CREATE VIRTUAL TABLE f USING fts5(t)")
        expression = '("a" OR ' * depth + '"b"' + ")" * depth
        try:
            conn.execute("SELECT count(*) FROM f WHERE f MATCH ?", [expression]).fetchall()
        except sqlite3.OperationalError as exc:
            assert "stack overflow" in str(exc)
            return False
    return True


def _deepest_word_queries() -> list[str]:
    """Word queries (one FTS5 expression) nested as deep as the language allows."""
    #: shape -> operator levels it adds each time it wraps the rest
    shapes = {
        "w{i} OR (w{i} AND ({rest}))": 2,
        "w{i} AND NOT (w{i} OR ({rest}))": 3,
        "(w{i} OR ({rest})) -w{i}": 2,
    }
    queries = []
    for shape, levels in shapes.items():
        query = "refund"
        for i in range(MAX_DEPTH // levels):
            query = shape.format(i=i, rest=query)
        queries.append(query)
    return queries


#: analyses that read "refund" and the w<i> words differently, so every leaf has alternatives
ANALYSES = ("de", "en", "fr", "xx")


def test_fts5_expressions_stay_well_inside_what_fts5_accepts() -> None:
    deepest = 0
    for query in _deepest_word_queries():
        expression = fts_expression(parse_query(query), ANALYSES)  # type: ignore[arg-type]
        assert expression is not None, query
        deepest = max(deepest, _paren_depth(expression))
    # one group per boolean level, and a leaf's alternatives: (({cols} : "w" AND lang : (...)) OR ...)
    assert deepest <= MAX_DEPTH + 3
    # FTS5 accepts 32 nested groups (SQLite 3.40); keep at least twice our deepest below it
    assert _fts5_accepts(2 * deepest)


def _deep(levels: int) -> Node:
    """``NOT (channel:email OR (lang:fr AND NOT (...)))``, built without the parser's limits."""
    node: Node = Text(("refund",))
    for level in range(levels):
        pair: Node = Or((Field("channel", "email"), node)) if level % 2 else And((Field("lang", "fr"), node))
        node = Not(pair)
    return node


def test_sql_nesting_does_not_grow_with_the_query(tmp_path: Path) -> None:
    kb = SQLiteKB(tmp_path / "kb.sqlite3")
    kb.upsert_messages(MESSAGES)
    kb.upsert_conversations(CONVERSATIONS)
    conn = kb._conn()
    try:
        for levels in (1, 5, 4 * MAX_DEPTH):  # far deeper than any query may be
            compiled = compile_message_query(_deep(levels), SearchFilters(), ANALYSES)
            where = " AND ".join(compiled.where)
            sql = f"{compiled.with_sql}SELECT count(*) FROM messages m WHERE {where}"
            assert _paren_depth(" ".join(compiled.row_sets)) <= 4 and _paren_depth(where) <= 3
            conn.execute(sql, [*compiled.with_params, *compiled.params]).fetchone()
    finally:
        kb.close()


@pytest.mark.parametrize("query", ["NOT " * (MAX_DEPTH - 1) + "refund", "-refund -channel:sms"])
def test_negations_compile_flat(tmp_path: Path, query: str) -> None:
    kb = SQLiteKB(tmp_path / "kb.sqlite3")
    kb.upsert_messages(MESSAGES)
    try:
        assert kb.search_messages(SearchRequest(query=query)).total >= 1
    finally:
        kb.close()
