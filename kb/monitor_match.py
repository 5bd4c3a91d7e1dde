"""Many saved listening queries against one message at a time, cheaply: what monitors count.

:class:`MonitorSet` compiles each monitor's query once and indexes it by its **required
keys**: a set of words (analysed in the message's language, as the matcher compares them) or
exact field values of which every matching message holds at least one (:func:`required_keys`).
A message is analysed once; only monitors whose keys it holds (and those with no key to index,
such as ``NOT x`` alone or ``re*``) are evaluated, with the same semantics as ``kb.matcher``
and the backends. With 200 brand and product monitors a message typically evaluates a handful.

A query that does not compile, or raises while it is evaluated, is reported (``failed`` /
the failures returned by :meth:`MonitorSet.match`) rather than raised: the caller disables
that monitor and the other monitors go on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hub.models import Message
from kb.analysis import effective_language, message_field_values
from kb.languages import PLAIN, STOP
from kb.matcher import AnalysedColumns, analyse_message, analysed_leaf, evaluate
from kb.query import And, Field, Near, Node, Not, Or, Text, parse_query

__all__ = ["MonitorSet", "MonitorSpec", "author_key", "hit_fields", "message_keys", "required_keys"]


@dataclass(frozen=True)
class MonitorSpec:
    """What the matcher needs of a monitor: its query, channel and language limits."""

    id: str
    query: str
    channels: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Compiled:
    spec: MonitorSpec
    node: Node | None


#: fields with few values (every message has one of a handful): poor keys to index by
_WEAK_FIELDS = ("f:channel:", "f:lang:", "f:sentiment:", "f:intent:")
#: a prefix term is indexed by its first characters (``refu*`` by ``p:ref``)
PREFIX_KEY = 3


def _text_key(leaf: Text, analysis: str) -> str | None:
    """The key a message analysed by ``analysis`` holds when it matches ``leaf``: its longest
    analysed word (likely the rarest), or its stemmed prefix; "" when the leaf can match
    nothing there (only stop words); None when there is no key to index by."""
    want = analysed_leaf(tuple(leaf.tokens), leaf.prefix, analysis)
    if want is None:
        return ""
    words = [token for token in (want[:-1] if leaf.prefix else want) if token != STOP]
    if words:
        return "t:" + max(words, key=len)
    # a lone prefix term: the message's word starts with the stemmed prefix (kb.matcher)
    prefix = want[-1] if leaf.prefix else ""
    return f"p:{prefix[:PREFIX_KEY]}" if len(prefix) >= PREFIX_KEY else None


def _weak(keys: frozenset[str]) -> bool:
    return all(key.startswith(_WEAK_FIELDS) for key in keys)


def required_keys(node: Node | None, analysis: str) -> frozenset[str] | None:
    """Keys of which any message analysed by ``analysis`` (its language's stemmer, as the
    matcher and the backends use) that matches ``node`` holds at least one; None when no such
    set is known (the monitor is then evaluated on every such message). An empty set: no
    message analysed so can match."""
    if node is None or isinstance(node, Not):
        return None
    if isinstance(node, Text):
        key = _text_key(node, analysis)
        if key == "":
            return frozenset()
        return frozenset({key}) if key else None
    if isinstance(node, Near):
        for operand in node.operands:
            key = _text_key(operand, analysis)
            if key == "":
                return frozenset()
            if key:
                return frozenset({key})
        return None
    if isinstance(node, Field):
        return None if node.prefix else frozenset({f"f:{node.name}:{node.value}"})
    if isinstance(node, And):
        options = [
            keys for keys in (required_keys(child, analysis) for child in node.children) if keys is not None
        ]
        # any child's keys will do: the fewest, preferring words to channel:/lang:-like fields
        return min(options, key=lambda keys: (_weak(keys), len(keys))) if options else None
    assert isinstance(node, Or)
    union: set[str] = set()
    for child in node.children:
        keys = required_keys(child, analysis)
        if keys is None:
            return None
        union |= keys
    return frozenset(union)


def message_keys(analysed: AnalysedColumns, fields: dict[str, list[str]]) -> set[str]:
    """The keys a message holds (its analysed words, their first characters, its field values),
    to test against :func:`required_keys` of the same analysis."""
    keys = {f"t:{token}" for column in analysed.columns for token in column}
    keys.update(
        f"p:{token[:PREFIX_KEY]}"
        for column in analysed.columns
        for token in column
        if len(token) >= PREFIX_KEY
    )
    keys.update(f"f:{name}:{value}" for name, values in fields.items() for value in values)
    return keys


@dataclass
class _KeyIndex:
    """Monitor positions by required key, for messages of one analysis (language)."""

    by_key: dict[str, list[int]] = field(default_factory=dict)
    always: list[int] = field(default_factory=list)


@dataclass
class MonitorSet:
    """Compiled monitors with their required-key index."""

    monitors: list[_Compiled] = field(default_factory=list)
    #: monitor id -> why its query did not compile
    failed: dict[str, str] = field(default_factory=dict)
    #: one index per analysis (language) seen, built when its first message arrives: a word's
    #: key is its stem in the message's language
    _indexes: dict[str, _KeyIndex] = field(default_factory=dict)

    @classmethod
    def compile(cls, specs: Iterable[MonitorSpec]) -> MonitorSet:
        compiled = cls()
        for spec in specs:
            try:
                node = parse_query(spec.query)
            except Exception as exc:  # InvalidInput, or a bug: either way this monitor only
                compiled.failed[spec.id] = f"its query does not compile: {exc}"
                continue
            compiled.monitors.append(_Compiled(spec, node))
        return compiled

    def _index_for(self, analysis: str) -> _KeyIndex:
        index = self._indexes.get(analysis)
        if index is None:
            index = _KeyIndex()
            for position, compiled in enumerate(self.monitors):
                keys = required_keys(compiled.node, analysis)
                if keys is None:
                    index.always.append(position)
                else:
                    for key in keys:
                        index.by_key.setdefault(key, []).append(position)
            self._indexes[analysis] = index
        return index

    def __len__(self) -> int:
        return len(self.monitors)

    def candidates(self, keys: set[str], analysis: str = PLAIN) -> list[int]:
        """Positions of the monitors a message analysed by ``analysis`` with ``keys`` may match."""
        key_index = self._index_for(analysis)
        found = set(key_index.always)
        index = key_index.by_key
        if len(index) < len(keys):
            for key, positions in index.items():
                if key in keys:
                    found.update(positions)
        else:
            for key in keys:
                listed = index.get(key)
                if listed:
                    found.update(listed)
        return sorted(found)

    def match(self, message: Message) -> tuple[list[str], dict[str, str]]:
        """(ids of the monitors ``message`` matches, {monitor id: error} for those that failed)."""
        if not self.monitors:
            return [], {}
        analysed = analyse_message(message)
        fields = message_field_values(message)
        keys = message_keys(analysed, fields)
        channel = message.channel.lower()
        language = effective_language(message)
        matched: list[str] = []
        failures: dict[str, str] = {}
        for position in self.candidates(keys, analysed.analysis):
            compiled = self.monitors[position]
            spec = compiled.spec
            if (spec.channels and channel not in spec.channels) or (
                spec.languages and language not in spec.languages
            ):
                continue
            try:
                ok = compiled.node is None or evaluate(compiled.node, analysed, fields)
            except Exception as exc:  # RecursionError, MemoryError on a pathological message...
                failures[spec.id] = f"evaluating its query failed: {type(exc).__name__}: {exc}"
                continue
            if ok:
                matched.append(spec.id)
        return matched, failures


def author_key(message: Message) -> str | None:
    author = message.author
    if author is None:
        return None
    if author.handle:
        return "@" + author.handle.lstrip("@").lower()
    return author.display_name or author.email or author.native_id


def hit_fields(message: Message) -> dict[str, Any]:
    """What a monitor counts of a message it matched (``crm.monitor_windows.Hit``'s fields
    but the monitor's): the same whether the flow or the backfill counts it."""
    enrichment = message.enrichment
    hashtags = (h.lower().lstrip("#") for h in enrichment.hashtags if h.strip("#"))
    entities = (" ".join(e.text.lower().split()) for e in enrichment.entities if e.text.strip())
    return {
        "message_id": message.id,
        "sent_at": message.created_at,
        "channel": message.channel.lower(),
        "language": effective_language(message),
        "sentiment": enrichment.sentiment_label,
        "author": author_key(message),
        "hashtags": tuple(dict.fromkeys(hashtags)),
        "entities": tuple(dict.fromkeys(entities)),
    }
