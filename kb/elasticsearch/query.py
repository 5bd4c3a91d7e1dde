"""Compile a query AST and ``SearchFilters`` into Elasticsearch query DSL, plus the mappings.

Text leaves search ``text``, ``subject`` and ``author`` like the embedded backend's FTS5
columns; phrases are ``match_phrase`` (through ``multi_match`` type phrase), ``NEAR/n`` is an
``intervals`` ``all_of`` with ``max_gaps: n``, prefixes are ``prefix`` queries on the stemmed
token (FTS5 stems a prefix before expanding it, so this matches the same documents). Field
operators are ``term`` queries on keyword fields holding the values ``kb.analysis`` computes.
Nothing the user typed is ever passed to a Lucene query parser.

Text is indexed already analysed in its message's language (``kb.languages``: the same
tokens the embedded backend indexes, split on spaces by the ``parley_analysed`` analyzer),
with the analysis in the keyword field ``analysis``. A text leaf or ``NEAR`` is therefore one
alternative per distinct reading among the analyses (each limited by a ``terms`` filter on
``analysis``, unless one reading serves them all), exactly as ``kb.sqlite.query`` expands it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kb.base import SearchFilters
from kb.languages import analyses, leaf_variants
from kb.query import And, Field, Near, Node, Not, Or, Text

__all__ = [
    "CONVERSATION_MAPPINGS",
    "INDEX_SETTINGS",
    "MESSAGE_MAPPINGS",
    "compile_node",
    "conversation_filters",
    "message_filters",
]

TEXT_FIELDS = ("text", "subject", "author")

#: the layout of the indices' text (``_meta.parley_layout``): 2 is text analysed per language
INDEX_LAYOUT = 2

INDEX_SETTINGS: dict[str, Any] = {
    "analysis": {
        # The text arrives analysed (kb.languages: folded, stop words replaced, stemmed in its
        # language), as space-separated tokens: split on the spaces and nothing else.
        "tokenizer": {"parley_spaces": {"type": "pattern", "pattern": " "}},
        "analyzer": {"parley_analysed": {"type": "custom", "tokenizer": "parley_spaces", "filter": []}},
        "normalizer": {"parley_lower": {"type": "custom", "filter": ["lowercase", "asciifolding"]}},
    }
}

_KEYWORD = {"type": "keyword"}
_TEXT = {"type": "text", "analyzer": "parley_analysed"}
_TEXT_WITH_KEYWORD = {**_TEXT, "fields": {"keyword": {"type": "keyword", "ignore_above": 512}}}
_DOC = {"type": "object", "enabled": False}

MESSAGE_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "_meta": {"parley_layout": INDEX_LAYOUT},
    "properties": {
        **{
            name: _KEYWORD
            for name in (
                "id",
                "channel",
                "account",
                "direction",
                "author_id",
                "language",
                "sentiment_label",
                "intent",
                "analysis",
                "labels",
                "f_author",
                "f_entity",
                "f_hashtag",
                "f_mention",
                "f_site",
                "conv_status",
                "conv_assignee",
                "conv_assignee_f",
                "conv_queue",
                "conv_tag",
            )
        },
        # Every conversation search with a query aggregates on it; its global ordinals are built
        # at refresh instead of by the first such search after each refresh (a p95 spike)
        "conversation_id": {"type": "keyword", "eager_global_ordinals": True},
        "sentiment": {"type": "float"},
        "created_at": {"type": "date"},
        "text": _TEXT,
        "subject": _TEXT_WITH_KEYWORD,
        "author": _TEXT_WITH_KEYWORD,
        "doc": _DOC,
    },
}

CONVERSATION_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "_meta": {"parley_layout": INDEX_LAYOUT},
    "properties": {
        **{
            name: _KEYWORD
            for name in (
                "id",
                "channel",
                "account",
                "status",
                "assignee",
                "f_assignee",
                "queue",
                "priority",
                "tags",
                "f_tag",
                "languages",
                "analysis",
            )
        },
        "subject": _TEXT_WITH_KEYWORD,
        "first_message_at": {"type": "date"},
        "last_message_at": {"type": "date"},
        "message_count": {"type": "integer"},
        "doc": _DOC,
    },
}

#: query-language field -> keyword field of a message document
_FIELD_TARGETS = {
    "author": "f_author",
    "channel": "channel",
    "lang": "language",
    "sentiment": "sentiment_label",
    "intent": "intent",
    "entity": "f_entity",
    "hashtag": "f_hashtag",
    "mention": "f_mention",
    "site": "f_site",
    "status": "conv_status",
    "assignee": "conv_assignee_f",
    "tag": "conv_tag",
}


def _any_field(per_field: list[dict[str, Any]]) -> dict[str, Any]:
    return {"bool": {"should": per_field, "minimum_should_match": 1}}


#: every analysis a document can be indexed with (``kb.languages``)
_ALL_ANALYSES = analyses()


def _readings(parts: list[tuple[dict[str, Any], tuple[str, ...]]]) -> dict[str, Any]:
    """One query per reading, each limited to its analyses (none needed when one serves all)."""
    if not parts:
        return {"match_none": {}}
    if len(parts) == 1 and set(_ALL_ANALYSES) <= set(parts[0][1]):
        return parts[0][0]
    limited = [
        {"bool": {"must": [query], "filter": [{"terms": {"analysis": list(names)}}]}}
        for query, names in parts
    ]
    return limited[0] if len(limited) == 1 else _any_field(limited)


def _text(node: Text, fields: tuple[str, ...]) -> dict[str, Any]:
    parts = []
    for tokens, names in leaf_variants(node.tokens, node.prefix, _ALL_ANALYSES):
        words = " ".join(tokens)
        if not node.prefix:
            query = {"multi_match": {"query": words, "type": "phrase", "fields": list(fields)}}
        elif len(tokens) == 1:
            query = _any_field([{"prefix": {f: {"value": tokens[0]}}} for f in fields])
        else:
            query = {"multi_match": {"query": words, "type": "phrase_prefix", "fields": list(fields)}}
        parts.append((query, names))
    return _readings(parts)


def _interval_rule(tokens: tuple[str, ...], prefix: bool) -> dict[str, Any]:
    if prefix and len(tokens) == 1:
        return {"prefix": {"prefix": tokens[0]}}
    if prefix:
        # a phrase whose last word is a prefix: the words in order, no gaps
        head = {"match": {"query": " ".join(tokens[:-1]), "max_gaps": 0, "ordered": True}}
        return {
            "all_of": {
                "intervals": [head, {"prefix": {"prefix": tokens[-1]}}],
                "max_gaps": 0,
                "ordered": True,
            }
        }
    return {"match": {"query": " ".join(tokens), "max_gaps": 0, "ordered": True}}


def _near(node: Near, fields: tuple[str, ...]) -> dict[str, Any]:
    readings: dict[tuple[tuple[tuple[str, ...], bool], ...], list[str]] = {}
    for analysis in _ALL_ANALYSES:
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
        rule = {
            "all_of": {
                "intervals": [_interval_rule(tokens, prefix) for tokens, prefix in reading],
                "max_gaps": node.distance,
                "ordered": node.ordered,
            }
        }
        parts.append((_any_field([{"intervals": {f: rule}} for f in fields]), tuple(names)))
    return _readings(parts)


def _field(node: Field) -> dict[str, Any]:
    target = _FIELD_TARGETS[node.name]
    if node.prefix:
        return {"prefix": {target: {"value": node.value}}}
    return {"term": {target: node.value}}


def compile_node(node: Node, fields: tuple[str, ...] = TEXT_FIELDS) -> dict[str, Any]:
    """The query DSL equivalent to ``node``; text leaves search ``fields``.

    On the messages index by default; ``fields=("subject",)`` on the conversations index for
    a query without field operators.
    """
    if isinstance(node, Text):
        return _text(node, fields)
    if isinstance(node, Near):
        return _near(node, fields)
    if isinstance(node, Field):
        return _field(node)
    if isinstance(node, Not):
        return {"bool": {"must_not": [compile_node(node.child, fields)]}}
    if isinstance(node, And):
        must = [compile_node(c, fields) for c in node.children if not isinstance(c, Not)]
        must_not = [compile_node(c.child, fields) for c in node.children if isinstance(c, Not)]
        return {"bool": {"must": must or [{"match_all": {}}], "must_not": must_not}}
    assert isinstance(node, Or)
    return {"bool": {"should": [compile_node(c, fields) for c in node.children], "minimum_should_match": 1}}


def _terms(field: str, values: Any, lower: bool = False) -> dict[str, Any]:
    return {"terms": {field: [str(v).lower() if lower else str(v) for v in values]}}


def _filter_clauses(
    terms: list[tuple[str, Sequence[str] | None, bool]], f: SearchFilters, date_field: str
) -> list[dict[str, Any]]:
    """A ``terms`` clause per (field, values, lowercase) with values, and the since/until range."""
    clauses = [_terms(field, values, lower) for field, values, lower in terms if values is not None]
    date_range: dict[str, str] = {}
    if f.since is not None:
        date_range["gte"] = f.since.isoformat()
    if f.until is not None:
        date_range["lt"] = f.until.isoformat()
    if date_range:
        clauses.append({"range": {date_field: date_range}})
    return clauses


def message_filters(f: SearchFilters) -> list[dict[str, Any]]:
    """Filter clauses on the messages index (conversation state via the denormalised conv_* fields)."""
    terms = [
        ("channel", f.channels, True),
        ("account", f.accounts, False),
        ("language", f.languages, True),
        ("sentiment_label", f.sentiment_labels, True),
        ("intent", f.intents, True),
        ("author_id", f.author_ids, False),
        ("conversation_id", f.conversation_ids, False),
        ("conv_status", f.statuses, False),
        ("conv_assignee", f.assignees, False),
        ("conv_queue", f.queues, False),
        ("conv_tag", f.tags, True),
    ]
    clauses = _filter_clauses(terms, f, "created_at")
    if f.direction:
        clauses.append({"term": {"direction": f.direction}})
    return clauses


def conversation_filters(f: SearchFilters) -> list[dict[str, Any]]:
    """Filter clauses on the conversations index for the conversation-level filters
    (``kb.search_rules.CONVERSATION_LEVEL_FILTERS``); dates test ``last_message_at``."""
    terms = [
        ("channel", f.channels, True),
        ("account", f.accounts, False),
        ("id", f.conversation_ids, False),
        ("status", f.statuses, False),
        ("assignee", f.assignees, False),
        ("queue", f.queues, False),
        ("f_tag", f.tags, True),
    ]
    return _filter_clauses(terms, f, "last_message_at")
