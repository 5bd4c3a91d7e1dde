"""Compile a query AST and ``SearchFilters`` into SQL over the embedded KB's tables.

The largest FTS-expressible part of the top-level AND becomes one ``message_fts MATCH ?``
joined to ``messages m`` (so bm25 ranks hits); everything else - fields, negations, ordered
NEAR, text under OR with fields - becomes SQL predicates on ``m``. Every token is quoted
(``"tok"``) before it reaches FTS5, so no user-typed FTS5 syntax is ever interpreted.

Text is indexed analysed in its message's language (``kb.languages``), with the analysis in
the ``lang`` column. So every text leaf (and every ``NEAR``) becomes one alternative per
distinct reading among the analyses the index holds: ``{text subject author} : ("batteri")
AND lang : "en"`` OR ``... ("batter") AND lang : "fr"``; a reading shared by every analysis
the index holds needs no ``lang`` test at all (``coffee`` is ``coffe`` everywhere).

Nesting never reaches a parser's limit. SQLite's and FTS5's parsers have a fixed stack (100
entries: "parser stack overflow" at about 39 nested ``NOT (``, or ``OR``/``NOT`` subqueries
nested 5 deep, and past 32 nested groups in an FTS5 expression). So a boolean structure is not
compiled into nested SQL: every ``AND``/``OR``/``NOT`` group below the top level that is not a
word query becomes a named row set (a common table expression) built from its parts' row sets
with ``UNION``/``INTERSECT``/``EXCEPT``, and refers to them by name - each statement's nesting is
the same however deep the query is. A word query is one FTS5 expression with one group per
boolean level (at most ``kb.query.MAX_DEPTH``, far below FTS5's 32).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kb.analysis import MULTI_VALUED_FIELDS
from kb.base import SearchFilters
from kb.languages import leaf_variants
from kb.query import And, Field, Near, Node, Not, Or, Text
from kb.search_rules import is_word_query

__all__ = [
    "MESSAGE_TEXT_COLUMNS",
    "SUBJECT_COLUMNS",
    "CompiledQuery",
    "compile_message_query",
    "conversation_filter_sql",
    "fts_expression",
]

#: the FTS5 column filter of the searchable text of ``message_fts`` / ``conversation_fts``
MESSAGE_TEXT_COLUMNS = "{text subject author}"
SUBJECT_COLUMNS = "{subject}"
#: a token nothing is indexed under: the expression of a leaf that matches nothing anywhere
_NOTHING = '"\ue001"'

_MAX = "\U0010ffff"
#: message fields stored as columns of ``messages``
_COLUMN_FIELDS = {
    "channel": "m.channel",
    "lang": "m.language",
    "sentiment": "m.sentiment_label",
    "intent": "m.intent",
}
_FTS_ROWS = "SELECT rowid FROM message_fts WHERE message_fts MATCH ?"
_NEAR_ROWS = _FTS_ROWS + " AND parley_near(text, subject, author, lang, ?)"
_ALL_ROWS = "SELECT rowid FROM messages"


@dataclass
class CompiledQuery:
    """``fts``: the MATCH expression (or None); ``where``/``params``: predicates on ``m``.

    The predicates may name row sets defined in ``with_sql`` (bound to ``with_params``): a
    statement using them starts with ``with_sql`` and binds ``with_params`` first.
    """

    fts: str | None = None
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    row_sets: list[str] = field(default_factory=list)
    with_params: list[Any] = field(default_factory=list)
    #: the analyses the index holds (``kb.languages``): every text leaf reads as each of them
    analyses: tuple[str, ...] = ()

    def add(self, sql: str, params: list[Any]) -> None:
        self.where.append(sql)
        self.params.extend(params)

    @property
    def with_sql(self) -> str:
        """``WITH q0(r) AS (...), ... `` defining the named row sets, or "" when there are none."""
        return f"WITH {', '.join(self.row_sets)} " if self.row_sets else ""

    def row_set(self, sql: str, params: list[Any]) -> str:
        """Name the compound SELECT ``sql`` of message rowids; returns the name."""
        name = f"q{len(self.row_sets)}"
        self.row_sets.append(f"{name}(r) AS ({sql})")
        self.with_params.extend(params)
        return name


def _quote(tokens: tuple[str, ...]) -> str:
    return '"' + " ".join(t.replace('"', '""') for t in tokens) + '"'


def _lang_test(names: tuple[str, ...], analyses: tuple[str, ...]) -> str:
    """`` AND lang : (...)`` limiting a reading to ``names``; "" when they are all there are."""
    if set(analyses) <= set(names):
        return ""
    return " AND lang : (" + " OR ".join(_quote((name,)) for name in names) + ")"


def _alternatives(parts: list[str]) -> str:
    if not parts:
        return _NOTHING
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _leaf(text: Text, analyses: tuple[str, ...], columns: str) -> str:
    """``text`` as each analysis the index holds reads it (see the module docstring)."""
    parts = []
    for tokens, names in leaf_variants(text.tokens, text.prefix, analyses):
        phrase = _quote(tokens) + (" *" if text.prefix else "")
        parts.append(f"({columns} : {phrase}{_lang_test(names, analyses)})")
    return _alternatives(parts)


def fts_expression(node: Node, analyses: tuple[str, ...], columns: str = MESSAGE_TEXT_COLUMNS) -> str | None:
    """The FTS5 expression for ``node`` over ``columns``, or None unless it is a word query.

    Which queries are word queries is a search rule (``kb.search_rules.is_word_query``): it
    also decides the default sort and subject matching, for both backends.
    """
    return _fts(node, analyses, columns) if is_word_query(node) else None


def _fts(node: Node, analyses: tuple[str, ...], columns: str) -> str:
    if isinstance(node, Text):
        return _leaf(node, analyses, columns)
    if isinstance(node, Near):
        return _unordered(node, analyses, columns)
    if isinstance(node, Or):
        return "(" + " OR ".join(_fts(c, analyses, columns) for c in node.children) + ")"
    assert isinstance(node, And)
    positives = [_fts(c, analyses, columns) for c in node.children if not isinstance(c, Not)]
    negatives = [_fts(c.child, analyses, columns) for c in node.children if isinstance(c, Not)]
    return _and_not(positives, negatives)


def _and_not(positives: list[str], negatives: list[str]) -> str:
    """``(p1 AND p2 NOT n1 NOT n2)``: one group, however many negations.

    FTS5's NOT binds tighter than AND and both associate left, so this is ``p1 AND ((p2 NOT
    n1) NOT n2)``: the same rows as "all the positives, none of the negatives". Every operand
    is an atom (a quoted token, ``NEAR(...)`` or a group), so each boolean level of the query
    costs FTS5's parser one level of parentheses.
    """
    return "(" + " AND ".join(positives) + "".join(f" NOT {negative}" for negative in negatives) + ")"


def _near_spec(node: Near) -> str:
    return json.dumps(
        {"ops": [[list(op.tokens), op.prefix] for op in node.operands], "n": node.distance, "f": node.ordered}
    )


def _value_match(column: str, node: Field) -> tuple[str, list[Any]]:
    if node.prefix:
        return f"({column} >= ? AND {column} < ?)", [node.value, node.value + _MAX]
    return f"{column} = ?", [node.value]


def _leaf_rows(node: Node, compiled: CompiledQuery) -> tuple[str, list[Any]] | None:
    """A flat SELECT of the rowids of the messages matching ``node``, if it is a leaf to SQL:
    a word query (one MATCH), an ordered NEAR or a field value; None for a boolean group."""
    expr = fts_expression(node, compiled.analyses)
    if expr is not None:
        return _FTS_ROWS, [expr]
    if isinstance(node, Near):  # ordered: FTS5 NEAR narrows, Python checks the order
        return _NEAR_ROWS, [_unordered(node, compiled.analyses), _near_spec(node)]
    if not isinstance(node, Field):
        return None
    if node.name in _COLUMN_FIELDS:
        sql, params = _value_match(_COLUMN_FIELDS[node.name], node)
        return f"SELECT m.rowid FROM messages m WHERE {sql}", params
    sql, params = _value_match("value", node)
    if node.name in MULTI_VALUED_FIELDS:  # stored in message_terms
        return f"SELECT mrow FROM message_terms WHERE field = ? AND {sql}", [node.name, *params]
    return (
        "SELECT m.rowid FROM messages m WHERE m.conversation_id IN (SELECT c.id FROM conversation_terms t"
        f" JOIN conversations c ON c.rowid = t.crow WHERE t.field = ? AND {sql})",
        [node.name, *params],
    )


def _member(node: Node, compiled: CompiledQuery) -> tuple[str, list[Any]]:
    """A flat SELECT of ``node``'s rowids, fit to be one member of a compound SELECT."""
    leaf = _leaf_rows(node, compiled)
    if leaf is not None:
        return leaf
    return f"SELECT r FROM {_row_set(node, compiled)}", []


def _row_set(node: Node, compiled: CompiledQuery) -> str:
    """The name of a row set (defined in ``compiled``) of the rowids of messages matching ``node``.

    Its parts are leaves or row sets named before it, so its SQL never nests deeper than one
    compound SELECT, whatever the depth of ``node``.
    """
    if isinstance(node, Not):
        positives: list[Node] = []
        negatives = [node.child]
    elif isinstance(node, And):
        positives = [c for c in node.children if not isinstance(c, Not)]
        negatives = [c.child for c in node.children if isinstance(c, Not)]
    else:
        positives, negatives = [node], []
    if isinstance(node, Or):
        members = [_member(c, compiled) for c in node.children]
        operators = [" UNION "] * (len(members) - 1)
    else:
        # SQLite applies compound operators left to right: (p1 INTERSECT p2) EXCEPT n1 EXCEPT n2
        members = [_member(c, compiled) for c in positives] or [(_ALL_ROWS, [])]
        operators = [" INTERSECT "] * (len(members) - 1)
        for negative in negatives:
            members.append(_member(negative, compiled))
            operators.append(" EXCEPT ")
    sql = members[0][0] + "".join(op + member for op, (member, _) in zip(operators, members[1:], strict=True))
    return compiled.row_set(sql, [p for _, params in members for p in params])


def _predicate(node: Node, compiled: CompiledQuery) -> tuple[str, list[Any]]:
    """A SQL predicate on ``m`` equivalent to ``node`` (a part of the top-level AND).

    A column field tests the column; another leaf probes its rowids; a group is a row set (see
    :func:`_row_set`); a negation negates its operand's: never nested deeper than that.
    """
    if isinstance(node, Not):
        sql, params = _predicate(node.child, compiled)  # the child of a Not is never a Not
        return f"NOT ({sql})", params
    if isinstance(node, Field) and node.name in _COLUMN_FIELDS:
        return _value_match(_COLUMN_FIELDS[node.name], node)
    return _in(node, compiled)


def _in(node: Node, compiled: CompiledQuery) -> tuple[str, list[Any]]:
    """``m.rowid IN (...)`` for ``node``: its leaf SELECT, or the row set it names."""
    leaf = _leaf_rows(node, compiled)
    if leaf is not None:
        return f"m.rowid IN ({leaf[0]})", leaf[1]
    return f"m.rowid IN {_row_set(node, compiled)}", []


def _unordered(node: Near, analyses: tuple[str, ...], columns: str = MESSAGE_TEXT_COLUMNS) -> str:
    """FTS5's (unordered) ``NEAR`` of ``node``'s operands, once per reading of all of them."""
    readings: dict[tuple[tuple[tuple[str, ...], bool], ...], list[str]] = {}
    for analysis in analyses:
        operands = []
        for op in node.operands:
            variants = leaf_variants(op.tokens, op.prefix, (analysis,))
            if not variants:
                break  # an operand of stop words only: NEAR cannot match in this analysis
            operands.append((variants[0][0], op.prefix))
        else:
            readings.setdefault(tuple(operands), []).append(analysis)
    parts = []
    for reading, names in readings.items():
        phrases = " ".join(_quote(tokens) + (" *" if prefix else "") for tokens, prefix in reading)
        parts.append(f"({columns} : NEAR({phrases}, {node.distance}){_lang_test(tuple(names), analyses)})")
    return _alternatives(parts)


def compile_message_query(
    node: Node | None, filters: SearchFilters, analyses: tuple[str, ...] = ()
) -> CompiledQuery:
    """Split ``node`` into an FTS MATCH (for ranking) and predicates; add the filters.

    Of a top-level AND, every FTS-expressible child joins the MATCH, negated ones as FTS5's
    ``NOT``; an ordered NEAR joins as an unordered NEAR plus a ``parley_near`` check on the
    matched row's columns. The rest become predicates. ``analyses`` are those the index holds.
    """
    compiled = CompiledQuery(analyses=tuple(analyses))
    if node is not None:
        compiled.fts = fts_expression(node, compiled.analyses)
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
    analyses = compiled.analyses
    for child in children:
        if isinstance(child, Near) and child.ordered:
            positive.append(_unordered(child, analyses))
            checks.append(child)
        elif isinstance(child, Not) and fts_expression(child.child, analyses) is not None:
            negative.append(str(fts_expression(child.child, analyses)))
        elif not isinstance(child, Not) and fts_expression(child, analyses) is not None:
            positive.append(str(fts_expression(child, analyses)))
        else:
            rest.append(child)
    if not positive:  # FTS5 cannot express "everything except": all of it is predicates
        for child in children:
            compiled.add(*_predicate(child, compiled))
        return
    compiled.fts = _and_not(positive, negative)
    for near in checks:
        compiled.add(
            "parley_near(message_fts.text, message_fts.subject, message_fts.author, message_fts.lang, ?)",
            [_near_spec(near)],
        )
    for child in rest:
        compiled.add(*_predicate(child, compiled))


def _in_values(column: str, values: Any, lower: bool = False) -> tuple[str, list[Any]]:
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
            compiled.add(*_in_values(column, values, lower))
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
            sql, p = _in_values(f"c.{column}", values)
            where.append(sql)
            params += p
    if f.tags is not None:
        sql, p = _in_values("value", f.tags, lower=True)
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
            sql, p = _in_values(column, values, lower)
            where.append(sql)
            params += p
    if f.since is not None:
        where.append("c.last_ts >= ?")
        params.append(f.since.timestamp())
    if f.until is not None:
        where.append("c.last_ts < ?")
        params.append(f.until.timestamp())
    return where, params
