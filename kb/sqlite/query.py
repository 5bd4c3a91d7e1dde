"""Compile a query AST and ``SearchFilters`` into SQL over the embedded KB's tables.

The largest FTS-expressible part of the top-level AND becomes one ``message_fts MATCH ?``
joined to ``messages m`` (so bm25 ranks hits); everything else - fields, negations, ordered
NEAR, text under OR with fields - becomes SQL predicates on ``m``. Every token is quoted
(``"tok"``) before it reaches FTS5, so no user-typed FTS5 syntax is ever interpreted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kb.analysis import MULTI_VALUED_FIELDS
from kb.base import SearchFilters
from kb.query import And, Field, Near, Node, Not, Or, Text
from kb.search_rules import is_word_query

__all__ = ["CompiledQuery", "compile_message_query", "conversation_filter_sql", "fts_expression"]

_MAX = "\U0010ffff"
#: message fields stored as columns of ``messages``
_COLUMN_FIELDS = {
    "channel": "m.channel",
    "lang": "m.language",
    "sentiment": "m.sentiment_label",
    "intent": "m.intent",
}


@dataclass
class CompiledQuery:
    """``fts``: the MATCH expression (or None); ``where``/``params``: predicates on ``m``."""

    fts: str | None = None
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, sql: str, params: list[Any]) -> None:
        self.where.append(sql)
        self.params.extend(params)


def _quote(tokens: tuple[str, ...]) -> str:
    return '"' + " ".join(t.replace('"', '""') for t in tokens) + '"'


def _leaf(text: Text) -> str:
    return _quote(text.tokens) + (" *" if text.prefix else "")


def fts_expression(node: Node) -> str | None:
    """The FTS5 expression for ``node``, or None unless it is a word query.

    Which queries are word queries is a search rule (``kb.search_rules.is_word_query``): it
    also decides the default sort and subject matching, for both backends.
    """
    return _fts(node) if is_word_query(node) else None


def _fts(node: Node) -> str:
    if isinstance(node, Text):
        return _leaf(node)
    if isinstance(node, Near):
        return _unordered(node)
    if isinstance(node, Or):
        return "(" + " OR ".join(_fts(c) for c in node.children) + ")"
    assert isinstance(node, And)
    positives = [_fts(c) for c in node.children if not isinstance(c, Not)]
    negatives = [_fts(c.child) for c in node.children if isinstance(c, Not)]
    expr = "(" + " AND ".join(positives) + ")"
    return f"({expr} NOT ({' OR '.join(negatives)}))" if negatives else expr


def _near_spec(node: Near) -> str:
    return json.dumps(
        {"ops": [[list(op.tokens), op.prefix] for op in node.operands], "n": node.distance, "f": node.ordered}
    )


def _value_match(column: str, node: Field) -> tuple[str, list[Any]]:
    if node.prefix:
        return f"({column} >= ? AND {column} < ?)", [node.value, node.value + _MAX]
    return f"{column} = ?", [node.value]


def _predicate(node: Node) -> tuple[str, list[Any]]:
    """A SQL predicate on ``m`` equivalent to ``node``."""
    expr = fts_expression(node)
    if expr is not None:
        return "m.rowid IN (SELECT rowid FROM message_fts WHERE message_fts MATCH ?)", [expr]
    if isinstance(node, Near):  # ordered: FTS5 NEAR narrows, Python checks the order
        unordered = _unordered(node)
        return (
            "m.rowid IN (SELECT rowid FROM message_fts WHERE message_fts MATCH ?"
            " AND parley_near(text, subject, author, ?))",
            [unordered, _near_spec(node)],
        )
    if isinstance(node, Field):
        if node.name in _COLUMN_FIELDS:
            return _value_match(_COLUMN_FIELDS[node.name], node)
        sql, params = _value_match("value", node)
        if node.name in MULTI_VALUED_FIELDS:  # stored in message_terms
            return f"m.rowid IN (SELECT mrow FROM message_terms WHERE field = ? AND {sql})", [
                node.name,
                *params,
            ]
        return (
            "m.conversation_id IN (SELECT c.id FROM conversation_terms t JOIN conversations c"
            f" ON c.rowid = t.crow WHERE t.field = ? AND {sql})",
            [node.name, *params],
        )
    if isinstance(node, Not):
        sql, params = _predicate(node.child)
        return f"NOT ({sql})", params
    if isinstance(node, Or):
        # One set of rowids probed per row beats SQLite's MULTI-INDEX OR, which looks every
        # match up by rowid and sorts them (measured 2-3x at 100k for "hashtag:x OR word").
        sql, params = _rowset(node)
        return f"m.rowid IN ({sql})", params
    assert isinstance(node, And)
    parts = [_predicate(c) for c in node.children]
    return "(" + " AND ".join(p[0] for p in parts) + ")", [x for p in parts for x in p[1]]


def _rowset(node: Node) -> tuple[str, list[Any]]:
    """A compound SELECT of the message rowids matching ``node``."""
    if isinstance(node, Or | And):
        parts = [_rowset(c) for c in node.children]
        op = " UNION " if isinstance(node, Or) else " INTERSECT "
        return op.join(f"SELECT * FROM ({p[0]})" for p in parts), [x for p in parts for x in p[1]]
    if isinstance(node, Not):
        sql, params = _rowset(node.child)
        return f"SELECT rowid FROM messages EXCEPT SELECT * FROM ({sql})", params
    sql, params = _predicate(node)
    if sql.startswith("m.rowid IN (") and sql.endswith(")"):
        return sql[len("m.rowid IN (") : -1], params
    return f"SELECT m.rowid FROM messages m WHERE {sql}", params


def _unordered(node: Near) -> str:
    return f"NEAR({' '.join(_leaf(op) for op in node.operands)}, {node.distance})"


def compile_message_query(node: Node | None, filters: SearchFilters) -> CompiledQuery:
    """Split ``node`` into an FTS MATCH (for ranking) and predicates; add the filters.

    Of a top-level AND, every FTS-expressible child joins the MATCH, negated ones as FTS5's
    ``NOT``; an ordered NEAR joins as an unordered NEAR plus a ``parley_near`` check on the
    matched row's columns. The rest become predicates.
    """
    compiled = CompiledQuery()
    if node is not None:
        compiled.fts = fts_expression(node)
        if compiled.fts is None:
            _split_top_level(node, compiled)
    _message_filters(compiled, filters)
    return compiled


def _split_top_level(node: Node, compiled: CompiledQuery) -> None:
    children = node.children if isinstance(node, And) else (node,)
    positive: list[str] = []
    negative: list[str] = []
    rest: list[Node] = []
    checks: list[Near] = []
    for child in children:
        if isinstance(child, Near) and child.ordered:
            positive.append(_unordered(child))
            checks.append(child)
        elif isinstance(child, Not) and fts_expression(child.child) is not None:
            negative.append(str(fts_expression(child.child)))
        elif not isinstance(child, Not) and fts_expression(child) is not None:
            positive.append(str(fts_expression(child)))
        else:
            rest.append(child)
    if not positive:  # FTS5 cannot express "everything except": all of it is predicates
        for child in children:
            compiled.add(*_predicate(child))
        return
    expr = "(" + " AND ".join(positive) + ")"
    compiled.fts = f"({expr} NOT ({' OR '.join(negative)}))" if negative else expr
    for near in checks:
        compiled.add(
            "parley_near(message_fts.text, message_fts.subject, message_fts.author, ?)", [_near_spec(near)]
        )
    for child in rest:
        compiled.add(*_predicate(child))


def _in(column: str, values: Any, lower: bool = False) -> tuple[str, list[Any]]:
    vals = [str(v).lower() if lower else str(v) for v in values]
    return f"{column} IN ({','.join('?' * len(vals))})", vals


def _message_filters(compiled: CompiledQuery, f: SearchFilters) -> None:
    for column, values, lower in (
        ("m.channel", f.channels, True),
        ("m.account", f.accounts, False),
        ("m.language", f.languages, True),
        ("m.sentiment_label", f.sentiment_labels, True),
        ("m.intent", f.intents, True),
        ("m.author_id", f.author_ids, False),
        ("m.conversation_id", f.conversation_ids, False),
    ):
        if values is not None:
            compiled.add(*_in(column, values, lower))
    if f.direction:
        compiled.add("m.direction = ?", [f.direction])
    if f.since is not None:
        compiled.add("m.created_ts >= ?", [f.since.timestamp()])
    if f.until is not None:
        compiled.add("m.created_ts < ?", [f.until.timestamp()])
    # the conversation-state filters (kb.search_rules) test the message's conversation
    conv_sql, conv_params = conversation_state_sql(f)
    if conv_sql:
        compiled.add(
            f"m.conversation_id IN (SELECT c.id FROM conversations c WHERE {' AND '.join(conv_sql)})",
            conv_params,
        )


def conversation_state_sql(f: SearchFilters) -> tuple[list[str], list[Any]]:
    """Predicates on conversations ``c`` for the conversation-state filters (status, assignee,
    queue, tags)."""
    where: list[str] = []
    params: list[Any] = []
    for column, values in (("status", f.statuses), ("assignee", f.assignees), ("queue", f.queues)):
        if values is not None:
            sql, p = _in(f"c.{column}", values)
            where.append(sql)
            params += p
    if f.tags is not None:
        sql, p = _in("value", f.tags, lower=True)
        where.append(f"c.rowid IN (SELECT crow FROM conversation_terms WHERE field = 'tag' AND {sql})")
        params += p
    return where, params


def conversation_filter_sql(f: SearchFilters) -> tuple[list[str], list[Any]]:
    """Predicates on conversations ``c`` for the conversation-level filters of a conversation
    search (``kb.search_rules.CONVERSATION_LEVEL_FILTERS``); dates test ``last_message_at``."""
    where, params = conversation_state_sql(f)
    for column, values, lower in (
        ("c.channel", f.channels, True),
        ("c.account", f.accounts, False),
        ("c.id", f.conversation_ids, False),
    ):
        if values is not None:
            sql, p = _in(column, values, lower)
            where.append(sql)
            params += p
    if f.since is not None:
        where.append("c.last_ts >= ?")
        params.append(f.since.timestamp())
    if f.until is not None:
        where.append("c.last_ts < ?")
        params.append(f.until.timestamp())
    return where, params
