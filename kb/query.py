"""The listening query language: parsed with lark into a small AST every backend compiles.

Syntax (Brandwatch/Talkwalker style)::

    refund "money back" -spam             terms, phrases, implicit AND, -term
    (refund OR return) AND NOT test        AND / OR / NOT (upper case), parentheses
    refu*                                  prefix wildcard (at the end of a term)
    delay NEAR/3 flight                    within 3 words, either order
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

This module is the language only (grammar, AST, parser) and imports nothing that evaluates it:
``kb.matcher`` evaluates the AST in memory, the backends compile it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from hub.errors import InvalidInput
from kb.analysis import CONVERSATION_FIELDS, MESSAGE_FIELDS, normalise_field_value, tokenize

__all__ = [
    "MAX_DEPTH",
    "MAX_LEAVES",
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
MAX_DEPTH = 32
MAX_LEAVES = 300

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


@dataclass(frozen=True)
class Field:
    """``field:value`` - exact (normalised) match, or prefix match when ``prefix``."""

    name: str
    value: str
    prefix: bool = False


@dataclass(frozen=True)
class Near:
    """Operands within ``distance`` words of each other (in order when ``ordered``)."""

    operands: tuple[Text, ...]
    distance: int
    ordered: bool = False


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
?unary: _NOT unary -> not_
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
_NOT.5: /NOT(?=[\s()"]|$)/
NEAR.5: /NEAR\/\d{1,3}f?(?=[\s()"]|$)/
FIELD.4: /(?i:FIELDS):(?=[^\s)])/
NEG.3: /-(?=[^\s()"-])/
PHRASE.2: /"[^"]*"/
WORD.1: /[^\s()"]+/
_LPAR: "("
_RPAR: ")"
%ignore /\s+/
""".replace("FIELDS", "|".join(sorted(_FIELDS, key=len, reverse=True)))

_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False, propagate_positions=False)

_FRIENDLY = {
    "_RPAR": "')'",
    "RPAR": "')'",
    "_LPAR": "'('",
    "LPAR": "'('",
    "WORD": "a term",
    "PHRASE": 'a "phrase"',
    "FIELD": "a field (channel:...)",
    "_NOT": "NOT",
    "NEG": "-term",
    "_AND": "AND",
    "_OR": "OR",
    "NEAR": "NEAR/n",
    "$END": "the end of the query",
}


class _TooComplex(Exception):
    pass


@v_args(inline=True)
class _ToAst(Transformer[Token, Node | None]):
    def start(self, expr: Node | None = None) -> Node | None:
        return expr

    def word(self, token: Token) -> Node | None:
        raw = str(token)
        prefix = raw.endswith("*")
        tokens = tuple(tokenize(raw))
        return Text(tokens, prefix=prefix and bool(tokens)) if tokens else None

    def phrase(self, token: Token) -> Node | None:
        tokens = tuple(tokenize(str(token)[1:-1]))
        return Text(tokens) if tokens else None

    def field_value(self, token: Token) -> str:
        raw = str(token)
        return raw[1:-1] if raw.startswith('"') else raw

    def field(self, name: Token, *values: str) -> Node | None:
        field = _FIELD_ALIASES.get(name[:-1].lower(), name[:-1].lower())
        leaves: list[Node] = []
        for raw in values:
            prefix = raw.endswith("*") and len(raw) > 1
            value = normalise_field_value(field, raw[:-1] if prefix else raw)
            if value:
                leaves.append(Field(field, value, prefix))
        return _combine(Or, leaves)

    def not_(self, _op: Token | Node | None, child: Node | None = None) -> Node | None:
        # "NOT x" passes only the child (the keyword is filtered); "-x" passes the NEG token too.
        if child is None and not isinstance(_op, Token):
            child = _op
        return Not(child) if child is not None else None

    def near_expr(self, *items: Any) -> Node | None:
        operands = [item for item in items[0::2] if item is not None]
        tokens: list[Token] = list(items[1::2])
        where = tokens[0].start_pos or 0
        specs = {(int(op[5:].rstrip("f")), op.endswith("f")) for op in tokens}
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
        return Near(tuple(operands), distance, ordered)

    def and_expr(self, *children: Node | None) -> Node | None:
        return _combine(And, children)

    def or_expr(self, *children: Node | None) -> Node | None:
        return _combine(Or, children)


def _combine(kind: type[And] | type[Or], children: Any) -> Node | None:
    flat: list[Node] = []
    for child in children:
        if child is None:
            continue
        flat.extend(child.children if isinstance(child, kind) else [child])
    if not flat:
        return None
    return flat[0] if len(flat) == 1 else kind(tuple(flat))


def _check_shape(query: str) -> None:
    if len(query) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(
            f"query is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}"
            f" (cut at position {MAX_QUERY_CHARS + 1})",
            position=MAX_QUERY_CHARS,
        )
    depth, in_quote = 0, False
    for pos, ch in enumerate(query):
        if ch == '"':
            in_quote = not in_quote
        elif not in_quote and ch == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise QuerySyntaxError(
                    f"parentheses nested deeper than {MAX_DEPTH} at position {pos + 1}", position=pos
                )


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


def _count_leaves(node: Node) -> int:
    if isinstance(node, And | Or):
        return sum(_count_leaves(c) for c in node.children)
    if isinstance(node, Not):
        return _count_leaves(node.child)
    if isinstance(node, Near):
        return len(node.operands)
    return 1


def parse_query(query: str) -> Node | None:
    """The AST of ``query``; ``None`` for a query with nothing to search (match everything)."""
    _check_shape(query)
    if not query.strip():
        return None
    try:
        tree = _PARSER.parse(query)
    except UnexpectedInput as exc:
        raise _describe(exc, query) from None
    try:
        node = _ToAst().transform(tree)
    except Exception as exc:  # lark wraps transformer errors in VisitError
        inner = getattr(exc, "orig_exc", exc)
        if isinstance(inner, QuerySyntaxError):
            raise inner from None
        raise
    if node is not None and _count_leaves(node) > MAX_LEAVES:
        raise QuerySyntaxError(f"query has more than {MAX_LEAVES} terms (from position 1)", position=0)
    return node


def positive_texts(node: Node | None) -> list[Text]:
    """Text leaves that contribute matches (not under NOT): what a highlighter marks."""
    if node is None or isinstance(node, Field | Not):
        return []
    if isinstance(node, Text):
        return [node]
    if isinstance(node, Near):
        return list(node.operands)
    return [t for child in node.children for t in positive_texts(child)]
