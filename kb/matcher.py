"""Evaluate a parsed query against one message in memory, and highlight matches.

This is the reference semantics the backends are tested against: a text leaf matches when its
tokens, analysed in the message's language (``kb.languages``: stop words, stemmer), occur
consecutively in one of the searchable columns (text, subject, author names) analysed the
same way; a prefix leaf's last token is stemmed and then prefix-matched against the column's
stems, as FTS5 does; ``NEAR/n`` allows at most ``n`` words between operands within one column.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from hub.models import Conversation, Message
from kb.analysis import (
    author_text,
    conversation_field_values,
    effective_language,
    fold,
    message_field_values,
)
from kb.languages import PLAIN, analyse, analyse_leaf, analyse_token, analysis_for
from kb.query import And, Field, Near, Node, Not, Or, Text, parse_query

__all__ = [
    "AnalysedColumns",
    "Matcher",
    "analyse_message",
    "analysed_leaf",
    "build_matcher",
    "compile_matcher",
    "evaluate",
    "highlight",
    "near_in_column",
]

_TOKEN_SPANS = re.compile(r"[^\W_]+")

Matcher = Callable[..., bool]


@dataclass(frozen=True)
class AnalysedColumns:
    """Analysed token sequences of each searchable column of one message, and the analysis
    (``kb.languages.analysis_for`` its language) they were made with."""

    columns: tuple[tuple[str, ...], ...]
    analysis: str = PLAIN


#: the analysed columns of the messages analysed last, by analysis and texts: the flow's kb step
#: analyses a batch's messages to index them, and its routing analyses them again for the
#: rules right after (a first-in first-out bound: a flow batch is 64 messages)
_RECENT: dict[tuple[str, str, str, str], AnalysedColumns] = {}
_RECENT_LIMIT = 256
_RECENT_LOCK = threading.Lock()  # the workers of one process share it


def analyse_message(message: Message) -> AnalysedColumns:
    """The message's searchable columns (text, subject, author) as its language's analysis
    indexes them; the same object for the same texts while they are among the recent ones."""
    analysis = analysis_for(effective_language(message))
    texts = (message.text, message.subject or "", author_text(message))
    key = (analysis, *texts)
    found = _RECENT.get(key)
    if found is None:
        found = AnalysedColumns(tuple(tuple(analyse(text, analysis)) for text in texts), analysis)
        with _RECENT_LOCK:
            if len(_RECENT) >= _RECENT_LIMIT:
                del _RECENT[next(iter(_RECENT))]
            _RECENT[key] = found
    return found


def _positions(want: tuple[str, ...], prefix: bool, column: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) token spans where the analysed tokens ``want`` occur in ``column``."""
    n = len(want)
    last = want[-1]
    if n == 1:  # most leaves: one pass in C-speed comprehensions
        if prefix:
            return [(i, i) for i, token in enumerate(column) if token.startswith(last)]
        return [(i, i) for i, token in enumerate(column) if token == last]
    # a cheap rejection, at C speed: every whole token must occur somewhere in the column
    if any(token not in column for token in (want[:-1] if prefix else want)):
        return []
    first = want[0]
    spans = []
    for i in range(len(column) - n + 1):
        if column[i] != first:
            continue
        ok = all(column[i + k] == want[k] for k in range(1, n - 1))
        end = column[i + n - 1]
        if ok and (end.startswith(last) if prefix else end == last):
            spans.append((i, i + n - 1))
    return spans


@lru_cache(maxsize=65536)
def analysed_leaf(tokens: tuple[str, ...], prefix: bool, analysis: str) -> tuple[str, ...] | None:
    """A leaf's tokens as ``analysis`` indexes them (``kb.languages.analyse_leaf``), cached:
    many monitors and rules ask for the same leaves of every message."""
    return analyse_leaf(tokens, prefix, analysis)


def _leaf_positions(leaf: Text, column: Sequence[str], analysis: str) -> list[tuple[int, int]]:
    """(start, end) token spans where ``leaf`` occurs in ``column`` (analysed by ``analysis``)."""
    want = analysed_leaf(tuple(leaf.tokens), leaf.prefix, analysis)
    return _positions(want, leaf.prefix, column) if want is not None else []


def _leaf_in(leaf: Text, column: Sequence[str], analysis: str) -> bool:
    """Whether ``leaf`` occurs in ``column`` (a one-word term without a prefix: one C-speed search)."""
    if len(leaf.tokens) == 1 and not leaf.prefix:
        want = analysed_leaf(tuple(leaf.tokens), False, analysis)
        return want is not None and want[0] in column
    return bool(_leaf_positions(leaf, column, analysis))


def near_in_column(node: Near, column: Sequence[str], analysis: str) -> bool:
    """Whether ``node`` matches in ``column``, a column's tokens analysed by ``analysis``."""
    spans = [_leaf_positions(op, column, analysis) for op in node.operands]
    if not all(spans):
        return False
    # Chains are checked pairwise between neighbours, which is what NEAR/n users mean.
    for left, right in pairwise(spans):
        found = False
        for a0, a1 in left:
            for b0, b1 in right:
                if node.ordered:
                    found = found or (b0 > a1 and b0 - a1 - 1 <= node.distance)
                else:
                    # unordered, like FTS5: the operands may even overlap ("money NEAR/1 money")
                    found = found or max(b0 - a1 - 1, a0 - b1 - 1) <= node.distance
        if not found:
            return False
    return True


def _field_match(node: Field, values: Sequence[str]) -> bool:
    if node.prefix:
        return any(v.startswith(node.value) for v in values)
    return node.value in values


def build_matcher(node: Node | None) -> Matcher:
    """``match(message, conversation=None) -> bool`` for the AST ``node`` (None matches all)."""

    def match(message: Message, conversation: Conversation | None = None) -> bool:
        if node is None:
            return True
        analysed = analyse_message(message)
        fields = message_field_values(message)
        if conversation is not None:
            fields.update(conversation_field_values(conversation))
        return _evaluate(node, analysed, fields)

    return match


def compile_matcher(query: str) -> Matcher:
    """A predicate ``matcher(message, conversation=None) -> bool`` evaluating ``query`` in memory.

    It agrees with the backends' search. Conversation fields (status, assignee, tag) are
    false when no conversation is given. Raises ``kb.query.QuerySyntaxError`` like the backends.
    """
    return build_matcher(parse_query(query))


def evaluate(node: Node | None, analysed: AnalysedColumns, fields: dict[str, list[str]]) -> bool:
    """Whether the AST ``node`` (None matches all) matches a message already analysed
    (:func:`analyse_message`) with its field values (``kb.analysis.message_field_values``, and
    ``conversation_field_values`` for conversation fields): many queries over one message
    analyse it once."""
    return node is None or _evaluate(node, analysed, fields)


def _evaluate(node: Node, analysed: AnalysedColumns, fields: dict[str, list[str]]) -> bool:
    if isinstance(node, Text):
        return any(_leaf_in(node, col, analysed.analysis) for col in analysed.columns)
    if isinstance(node, Near):
        return any(near_in_column(node, col, analysed.analysis) for col in analysed.columns)
    if isinstance(node, Field):
        return _field_match(node, fields.get(node.name, []))
    if isinstance(node, Not):
        return not _evaluate(node.child, analysed, fields)
    if isinstance(node, And):
        return all(_evaluate(c, analysed, fields) for c in node.children)
    assert isinstance(node, Or)
    return any(_evaluate(c, analysed, fields) for c in node.children)


def highlight(
    text: str, leaves: Sequence[Text], *, fragment_chars: int = 160, analysis: str = "en"
) -> list[str]:
    """HTML-escaped fragments of ``text`` with the words matching ``leaves`` in ``<mark>``,
    both analysed by ``analysis`` (``kb.languages``: the language of the text).

    Returns ``[]`` when nothing matches. Fragments are windows around the first matches.
    """
    if not text or not leaves:
        return []
    spans = [(m.start(), m.end()) for m in _TOKEN_SPANS.finditer(text)]
    stems = [analyse_token(fold(text[a:b]), analysis) for a, b in spans]
    marked: set[int] = set()
    for leaf in leaves:
        for start, end in _leaf_positions(leaf, stems, analysis):
            marked.update(range(start, end + 1))
    if not marked:
        return []
    fragments: list[str] = []
    covered_until = -1
    for index in sorted(marked):
        if spans[index][0] < covered_until or len(fragments) >= 3:
            continue
        begin = max(0, spans[index][0] - fragment_chars // 3)
        finish = min(len(text), begin + fragment_chars)
        covered_until = finish
        fragments.append(_render(text, spans, marked, begin, finish))
    return fragments


def _render(text: str, spans: list[tuple[int, int]], marked: set[int], begin: int, finish: int) -> str:
    out: list[str] = ["…" if begin > 0 else ""]
    pos = begin
    for index, (a, b) in enumerate(spans):
        if index not in marked or a < begin or b > finish:
            continue
        out.append(html.escape(text[pos:a]))
        out.append(f"<mark>{html.escape(text[a:b])}</mark>")
        pos = b
    out.append(html.escape(text[pos:finish]))
    out.append("…" if finish < len(text) else "")
    return "".join(out)
