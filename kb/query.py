"""The listening query language: parsed with lark into a small AST every backend compiles.

Syntax (Brandwatch/Talkwalker style)::

    refund "money back" -spam             terms, phrases, implicit AND, -term
    (refund OR return) AND NOT test        AND / OR / NOT (upper case), parentheses
    refu*                                  prefix wildcard (at the end of a term)
    delay NEAR/3 flight                    within 3 words, either order (at most NEAR/50)
    delay NEAR/3f flight                   within 3 words, in this order
    author:ann channel:twitter lang:en sentiment:negative tag:vip entity:"Acme Corp"
    hashtag:fail mention:parley site:example.com status:open assignee:bob intent:complaint
    channel:(twitter OR facebook)          several values of one field

Precedence, loosest first: OR, AND (explicit or implicit), NOT/-, NEAR. Operators are upper
case; ``and``/``or`` in lower case are ordinary words. Text is analysed like the backends do
(``kb.analysis``): a term that tokenizes to several words is a phrase, one that tokenizes to
nothing (``+++``) is dropped. A query that cannot be parsed raises :class:`QuerySyntaxError`
naming the position and what was expected; nothing the user typed is ever passed to a backend
as its own syntax - backends compile this AST and quote every token.

Limits, each a :class:`QuerySyntaxError` naming where it was passed: :data:`MAX_QUERY_CHARS`
characters, :data:`MAX_LEAVES` terms, ``NEAR/n`` up to :data:`MAX_NEAR_DISTANCE`, operators
nested at most :data:`MAX_DEPTH` deep (each ``AND``/``OR`` group, ``NOT``/``-`` and ``NEAR``
counts one level; redundant parentheses count nothing) and :data:`MAX_NOTS` negations. Every
backend compiles any query within them (the embedded one's FTS5 parser overflows past 32
nested groups; Elasticsearch refuses ``bool`` queries nested deeper than 20). The parser builds
its tree without recursion and the limits are checked on it before anything recursive runs, so
no query raises ``RecursionError``. What a query may *cost* to run is ``kb.limits``.

The AST is normalised: ``AND``/``OR`` are flattened and their repeated parts dropped (``a OR
a`` is ``a``), and a double negation is its operand (``NOT NOT a`` is ``a``).

This module is the language only (grammar, AST, parser) and imports nothing that evaluates it:
``kb.matcher`` evaluates the AST in memory, the backends compile it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from hub.errors import InvalidInput
from kb.analysis import CONVERSATION_FIELDS, MESSAGE_FIELDS, normalise_field_value, tokenize

__all__ = [
    "MAX_DEPTH",
    "MAX_LEAVES",
    "MAX_NEAR_DISTANCE",
    "MAX_NOTS",
    "MAX_QUERY_CHARS",
    "And",
    "Field",
    "Near",
    "Node",
    "Not",
    "Or",
    "QuerySyntaxError",
    "Text",
    "parse_query",
    "positive_texts",
]

#: Long brand monitors are normal, but a query is not a document: Brandwatch also caps at 4096.
MAX_QUERY_CHARS = 4096
#: operator levels nested in one another: far below what FTS5 (32 groups) and Elasticsearch
#: (20 bool levels, 3 of which the backend's own wrapping takes) accept, above what people write
MAX_DEPTH = 12
#: terms, phrases and field values in one query
MAX_LEAVES = 300
#: negations in one query (long exclusion lists are common in listening queries)
MAX_NOTS = 100
#: the widest NEAR/n: a wider window is a different question ("both words") at a far higher cost
MAX_NEAR_DISTANCE = 50

_FIELD_ALIASES = {"language": "lang"}
_FIELDS = (*MESSAGE_FIELDS, *CONVERSATION_FIELDS, "language")


class QuerySyntaxError(InvalidInput):
    """A query that cannot be parsed: ``position`` is the 0-based character offset.

    Invalid input (answered 400), deliberately not a ``ValueError``: a corrupt stored document
    raises pydantic's ``ValidationError``, a ``ValueError``, and must never read as "bad query".
    """

    position: int

    def __init__(self, message: str, *, position: int, expected: list[str] | None = None) -> None:
        super().__init__(message, position=position, expected=expected)


@dataclass(frozen=True)
class Text:
    """Words to find in the text: one token is a term, several a phrase.

    ``tokens`` are folded but unstemmed; ``prefix`` makes the last token a prefix.
    """

    tokens: tuple[str, ...]
    prefix: bool = False
    #: 0-based offset of the leaf in the query (for error messages; not part of equality)
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Field:
    """``field:value`` - exact (normalised) match, or prefix match when ``prefix``."""

    name: str
    value: str
    prefix: bool = False
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Near:
    """Operands within ``distance`` words of each other (in order when ``ordered``)."""

    operands: tuple[Text, ...]
    distance: int
    ordered: bool = False
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node: TypeAlias = Text | Field | Near | And | Or | Not

_GRAMMAR = r"""
start: or_expr?
?or_expr: and_expr (_OR and_expr)*
?and_expr: unary (_AND? unary)*
?unary: NOT unary -> not_
      | NEG unary -> not_
      | near_expr
?near_expr: atom (NEAR atom)*
?atom: _LPAR or_expr _RPAR
     | FIELD field_value -> field
     | FIELD _LPAR field_value (_OR? field_value)* _RPAR -> field
     | PHRASE -> phrase
     | WORD -> word
field_value: WORD | PHRASE

_OR.5: /OR(?=[\s()"]|$)/
_AND.5: /AND(?=[\s()"]|$)/
NOT.5: /NOT(?=[\s()"]|$)/
NEAR.5: /NEAR\/\d+f?(?=[\s()"]|$)/
FIELD.4: /(?i:FIELDS):(?=[^\s)])/
NEG.3: /-(?=[^\s()"-])/
PHRASE.2: /"[^"]*"/
WORD.1: /[^\s()"]+/
_LPAR: "("
_RPAR: ")"
%ignore /\s+/
""".replace("FIELDS", "|".join(sorted(_FIELDS, key=len, reverse=True)))


@functools.cache
def _parser() -> Lark:
    """The query parser, built on first use: building its tables took 0.1 s of every import
    of this module, paid by each flow process whether or not it parses a query."""
    return Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False, propagate_positions=False)


_FRIENDLY = {
    "_RPAR": "')'",
    "RPAR": "')'",
    "_LPAR": "'('",
    "LPAR": "'('",
    "WORD": "a term",
    "PHRASE": 'a "phrase"',
    "FIELD": "a field (channel:...)",
    "NOT": "NOT",
    "NEG": "-term",
    "_AND": "AND",
    "_OR": "OR",
    "NEAR": "NEAR/n",
    "$END": "the end of the query",
}


@v_args(inline=True)
class _ToAst(Transformer[Token, Node | None]):
    def start(self, expr: Node | None = None) -> Node | None:
        return expr

    def word(self, token: Token) -> Node | None:
        raw = str(token)
        prefix = raw.endswith("*")
        tokens = tuple(tokenize(raw))
        return Text(tokens, prefix=prefix and bool(tokens), position=_pos(token)) if tokens else None

    def phrase(self, token: Token) -> Node | None:
        tokens = tuple(tokenize(str(token)[1:-1]))
        return Text(tokens, position=_pos(token)) if tokens else None

    def field_value(self, token: Token) -> str:
        raw = str(token)
        return raw[1:-1] if raw.startswith('"') else raw

    def field(self, name: Token, *values: str) -> Node | None:
        field_name = _FIELD_ALIASES.get(name[:-1].lower(), name[:-1].lower())
        leaves: list[Node] = []
        for raw in values:
            prefix = raw.endswith("*") and len(raw) > 1
            value = normalise_field_value(field_name, raw[:-1] if prefix else raw)
            if value:
                leaves.append(Field(field_name, value, prefix, position=_pos(name)))
        return _combine(Or, leaves)

    def not_(self, _op: Token, child: Node | None = None) -> Node | None:
        if child is None:  # the operand tokenized to nothing: "-+++"
            return None
        return child.child if isinstance(child, Not) else Not(child)  # NOT NOT a is a

    def near_expr(self, *items: Any) -> Node | None:
        operands = [item for item in items[0::2] if item is not None]
        tokens: list[Token] = list(items[1::2])
        where = _pos(tokens[0])
        specs = {_near_spec(op) for op in tokens}
        if len(specs) > 1:
            raise QuerySyntaxError(
                f"a NEAR chain must use one distance and order (NEAR at position {where + 1})", position=where
            )
        if not all(isinstance(o, Text) for o in operands):
            raise QuerySyntaxError(
                f"NEAR/n joins terms or phrases, not fields or groups (NEAR at position {where + 1})",
                position=where,
                expected=["a term", 'a "phrase"'],
            )
        if len(operands) < 2:  # an operand tokenized to nothing
            return operands[0] if operands else None
        distance, ordered = specs.pop()
        return Near(tuple(operands), distance, ordered, position=operands[0].position)

    def and_expr(self, *children: Node | None) -> Node | None:
        return _combine(And, children)

    def or_expr(self, *children: Node | None) -> Node | None:
        return _combine(Or, children)


def _pos(token: Token) -> int:
    return token.start_pos or 0


def _near_spec(token: Token) -> tuple[int, bool]:
    """(distance, ordered) of a ``NEAR/n[f]`` token, within :data:`MAX_NEAR_DISTANCE`."""
    digits = token[5:].rstrip("f")
    # never int() an absurd digit string: anything this long is over the limit anyway
    distance = int(digits) if len(digits) <= 6 else MAX_NEAR_DISTANCE + 1
    if distance > MAX_NEAR_DISTANCE:
        where = _pos(token)
        raise QuerySyntaxError(
            f"{token} at position {where + 1} is too wide: the largest distance is NEAR/{MAX_NEAR_DISTANCE}",
            position=where,
            expected=[f"NEAR/0 to NEAR/{MAX_NEAR_DISTANCE}"],
        )
    return distance, token.endswith("f")


def _combine(kind: type[And] | type[Or], children: Any) -> Node | None:
    flat: list[Node] = []
    for child in children:
        if child is None:
            continue
        flat.extend(child.children if isinstance(child, kind) else [child])
    unique = list(dict.fromkeys(flat))  # "a OR a" is "a": repeating a part adds only cost
    if not unique:
        return None
    return unique[0] if len(unique) == 1 else kind(tuple(unique))


def _check_length(query: str) -> None:
    if len(query) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(
            f"query is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}"
            f" (cut at position {MAX_QUERY_CHARS + 1})",
            position=MAX_QUERY_CHARS,
        )


#: parse-tree rules that are one level of operators (a field with several values is one too)
_OPERATOR_RULES = frozenset({"or_expr", "and_expr", "not_", "near_expr"})
_LEAF_RULES = frozenset({"word", "phrase", "field_value"})


def _first_position(tree: Tree[Token]) -> int:
    """Where the subtree ``tree`` starts in the query: its leftmost token (parentheses are
    filtered out of the tree, so a group starts at its first word)."""
    node: Tree[Token] | Token = tree
    while isinstance(node, Tree) and node.children:
        node = node.children[0]
    return _pos(node) if isinstance(node, Token) else 0


def _check_tree(tree: Tree[Token]) -> None:
    """Refuse trees past :data:`MAX_DEPTH`, :data:`MAX_NOTS` or :data:`MAX_LEAVES`.

    Iterative, on lark's tree, before anything recursive walks it: the transformer and every
    compiler recurse once per level, so a tree that passes here cannot exhaust the stack.
    Leaves are counted as typed (before ``a OR a`` is folded): the limit is on the query's size.
    """
    nots: list[int] = []
    leaves: list[int] = []
    stack: list[tuple[Tree[Token], int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data == "field" and sum(isinstance(c, Tree) for c in node.children) > 1:
            depth += 1
        elif node.data in _OPERATOR_RULES:
            depth += 1
            if node.data == "not_":
                nots.append(_first_position(node))
        if node.data in _LEAF_RULES:
            leaves.append(_first_position(node))
        if depth > MAX_DEPTH:
            where = _first_position(node)
            raise QuerySyntaxError(
                f"operators nested deeper than {MAX_DEPTH} levels at position {where + 1}"
                " (each group, NOT and NEAR is a level)",
                position=where,
            )
        stack.extend((child, depth) for child in node.children if isinstance(child, Tree))
    for found, limit, what in ((nots, MAX_NOTS, "negations"), (leaves, MAX_LEAVES, "terms")):
        if len(found) > limit:
            where = sorted(found)[limit]
            message = f"query has more than {limit} {what} (the next one is at position {where + 1})"
            raise QuerySyntaxError(message, position=where)


def _describe(exc: UnexpectedInput, query: str) -> QuerySyntaxError:
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        if query[pos] == '"':
            return QuerySyntaxError(
                f"unbalanced quote at position {pos + 1}: expected a closing '\"'",
                position=pos,
                expected=["'\"'"],
            )
        expected = sorted({_FRIENDLY.get(t, t) for t in exc.allowed or ()})
        return QuerySyntaxError(
            f"unexpected {query[pos]!r} at position {pos + 1}: expected {' or '.join(expected)}",
            position=pos,
            expected=expected,
        )
    expected = sorted({_FRIENDLY.get(t, t) for t in getattr(exc, "expected", ()) or ()})
    want = " or ".join(expected) or "more input"
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        pos = len(query)
        return QuerySyntaxError(
            f"unexpected end of query at position {pos + 1}: expected {want}", position=pos, expected=expected
        )
    assert isinstance(exc, UnexpectedToken)
    pos = exc.token.start_pos if exc.token.start_pos is not None else 0
    return QuerySyntaxError(
        f"unexpected {str(exc.token)!r} at position {pos + 1}: expected {want}",
        position=pos,
        expected=expected,
    )


def parse_query(query: str) -> Node | None:
    """The AST of ``query``; ``None`` for a query with nothing to search (match everything).

    Raises :class:`QuerySyntaxError` for a query that does not parse or passes a limit (see the
    module docstring); never anything else for any string.
    """
    _check_length(query)
    if not query.strip():
        return None
    try:
        tree = _parser().parse(query)
    except UnexpectedInput as exc:
        raise _describe(exc, query) from None
    _check_tree(tree)
    try:
        return _ToAst().transform(tree)
    except Exception as exc:  # lark wraps transformer errors in VisitError
        inner = getattr(exc, "orig_exc", exc)
        if isinstance(inner, QuerySyntaxError):
            raise inner from None
        raise


def positive_texts(node: Node | None) -> list[Text]:
    """Text leaves that contribute matches (not under NOT): what a highlighter marks."""
    if node is None or isinstance(node, Field | Not):
        return []
    if isinstance(node, Text):
        return [node]
    if isinstance(node, Near):
        return list(node.operands)
    return [t for child in node.children for t in positive_texts(child)]
