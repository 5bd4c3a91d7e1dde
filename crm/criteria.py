"""The criteria language of dynamic segments, compiled to a SQL condition over live contacts.

    channel:twitter AND sentiment_avg < -0.3 AND last_seen > now-30d
    (tag:vip OR attributes.plan:gold) AND NOT language:fr
    messages.email >= 3 AND email:*@example.org

Terms are ``field:value`` (membership / equality; ``*`` is a wildcard where the field is text)
or ``field OP value`` with OP one of ``< <= > >= = !=``. Terms combine with ``AND`` (also
implied between adjacent terms), ``OR``, ``NOT`` and parentheses. Times are ISO dates or
``now-30d`` (units s, m, h, d, w). Fields:

* ``channel``, ``tag``, ``language``, ``email``, ``phone``, ``handle``, ``name``, ``id``,
  ``segment`` (member of a segment, by id or name);
* ``message_count``, ``messages.<channel>``, ``sentiment_avg``, ``first_seen``, ``last_seen``,
  ``created_at``;
* ``attributes.<key>`` (custom attributes; numeric comparisons when the value is a number).

Unknown fields, bad values and syntax errors raise ``crm.errors.InvalidRequest`` saying where.
So does criteria nesting ``AND``/``OR``/``NOT`` deeper than :data:`MAX_DEPTH` levels: the
condition becomes nested SQL, which SQLite's parser refuses past about 45 levels ("parser
stack overflow") and SQLAlchemy's compiler cannot build past a few hundred (RecursionError).
The parser builds its tree without recursion, and the depth is checked on it first.
Criteria combining more than :data:`MAX_CRITERIA_TERMS` terms are refused too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import LarkError, UnexpectedInput, VisitError
from sqlalchemy import Text, and_, case, cast, exists, func, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from crm.attributes import text_problem
from crm.errors import InvalidRequest
from crm.normalise import Resolver
from crm.schema import contacts, identities, segment_members, segments

__all__ = ["MAX_CRITERIA_TERMS", "MAX_DEPTH", "compile_criteria", "validate_criteria"]

#: AND/OR/NOT levels nested in one another (each NOT is a level), as kb.query.MAX_DEPTH
MAX_DEPTH = 12
_LEVELS = frozenset({"or_expr", "and_expr", "negation"})
#: field:value and field OP value terms in one criteria expression
MAX_CRITERIA_TERMS = 200

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND? not_expr)*
?not_expr: _NOT not_expr -> negation
         | atom
?atom: "(" or_expr ")"
     | FIELD OP value -> compare
     | FIELD ":" value -> match
?value: ESCAPED_STRING -> quoted
      | VALUE -> bare
_AND.3: /AND\b/
_OR.3: /OR\b/
_NOT.3: /NOT\b/
FIELD.2: /[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)?/
OP: "<=" | ">=" | "!=" | "<" | ">" | "="
VALUE: /[^\s()"]+/
%import common.ESCAPED_STRING
%import common.WS
%ignore WS
"""

_TERMS = {"compare", "match"}

_RELATIVE = re.compile(r"^now(?:-(\d+)([smhdw]))?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_NUMERIC = {"message_count": contacts.c.message_count, "sentiment_avg": contacts.c.sentiment_avg}
_TIMES = {
    "first_seen": contacts.c.first_seen,
    "last_seen": contacts.c.last_seen,
    "created_at": contacts.c.created_at,
}


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", maybe_placeholders=False)


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def _json_contains(column: Any, value: str) -> ColumnElement[bool]:
    # Lists are stored as JSON text on both backends; an element appears as its JSON literal.
    needle = "%" + _like(json.dumps(value)) + "%"
    return cast(column, Text).like(needle, escape="\\")


def _has_identity(*conditions: Any) -> ColumnElement[bool]:
    query = select(identities.c.id).where(identities.c.contact_id == contacts.c.id, *conditions)
    return exists(query.correlate(contacts))


def _as_number(item: Any) -> Any:
    # A non-numeric value must not match (PostgreSQL would raise on the cast, SQLite read 0).
    return case((item.as_string().regexp_match(r"^-?[0-9]+(\.[0-9]+)?$"), item.as_float()), else_=None)


@v_args(inline=True)
class _Compiler(Transformer[Token, ColumnElement[bool]]):
    def __init__(self, now: datetime, resolver: Resolver) -> None:
        super().__init__()
        self.now = now
        self.resolver = resolver

    def quoted(self, token: Token) -> str:
        value = str(json.loads(token))
        # An escape (\u0000, a lone \ud800) can spell what the database cannot compare with.
        if (problem := text_problem(value)) is not None:
            raise InvalidRequest(f"a quoted value in the criteria {problem}")
        return value

    def bare(self, token: Token) -> str:
        return str(token)

    def or_expr(self, *terms: ColumnElement[bool]) -> ColumnElement[bool]:
        return or_(*terms)

    def and_expr(self, *terms: ColumnElement[bool]) -> ColumnElement[bool]:
        return and_(*terms)

    def negation(self, term: ColumnElement[bool]) -> ColumnElement[bool]:
        return not_(term)

    def _number(self, field: str, value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):  # "nan" and "inf" are floats to Python, not numbers here
            raise InvalidRequest(f"{field} needs a number, not {value!r}")
        return number

    def _time(self, field: str, value: str) -> datetime:
        relative = _RELATIVE.match(value)
        if relative:
            amount, unit = relative.groups()
            return self.now - (timedelta(**{_UNITS[unit]: int(amount)}) if amount else timedelta())
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidRequest(f"{field} needs a date (2026-11-01) or now-30d, not {value!r}") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def compare(self, field: Token, op: Token, value: str) -> ColumnElement[bool]:
        name = str(field)
        apply = _OPS[str(op)]
        if name in _NUMERIC:
            return apply(_NUMERIC[name], self._number(name, value))
        if name in _TIMES:
            return apply(_TIMES[name], self._time(name, value))
        if name.startswith("messages."):
            total = (
                select(func.coalesce(func.sum(identities.c.message_count), 0))
                .where(
                    identities.c.contact_id == contacts.c.id, identities.c.channel == name.split(".", 1)[1]
                )
                .correlate(contacts)
                .scalar_subquery()
            )
            return apply(total, self._number(name, value))
        if name.startswith("attributes."):
            item = contacts.c.attributes[name.split(".", 1)[1]]
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if math.isfinite(number):
                return apply(_as_number(item), number)
            return apply(item.as_string(), value)
        if str(op) in {"=", "!="}:
            term = self.match(field, value)
            return term if str(op) == "=" else not_(term)
        raise InvalidRequest(f"{name} cannot be compared with {op}; use {name}:value")

    def match(self, field: Token, value: str) -> ColumnElement[bool]:
        name = str(field)
        low = value.lower()
        if name == "channel":
            return _has_identity(identities.c.channel == low, identities.c.kind == "account")
        if name == "tag":
            return _json_contains(contacts.c.tags, value)
        if name == "language":
            return _json_contains(contacts.c.languages, low)
        if name == "email":
            if "*" not in value:
                low = self.resolver.email(value).value
            pattern = _like(low)
            return _has_identity(
                or_(
                    and_(identities.c.kind == "email", identities.c.native_id.like(pattern, escape="\\")),
                    identities.c.email.like(pattern, escape="\\"),
                )
            )
        if name == "phone":
            number = self.resolver.phone(value).value
            return _has_identity(or_(identities.c.native_id == number, identities.c.phone == number))
        if name == "handle":
            return _has_identity(func.lower(identities.c.handle).like(_like(low.lstrip("@")), escape="\\"))
        if name == "name":
            display = func.lower(func.coalesce(contacts.c.name_override, contacts.c.display_name, ""))
            pattern = _like(low) if "*" in low else f"%{_like(low)}%"
            return display.like(pattern, escape="\\")
        if name == "id":
            return contacts.c.id == value
        if name == "segment":
            by_name = select(segments.c.id).where(segments.c.name == value).scalar_subquery()
            member = select(segment_members.c.contact_id).where(
                or_(segment_members.c.segment_id == value, segment_members.c.segment_id == by_name)
            )
            return contacts.c.id.in_(member)
        if name in _NUMERIC or name in _TIMES or name.startswith(("messages.", "attributes.")):
            if name.startswith("attributes.") and not re.fullmatch(r"-?\d+(\.\d+)?", value):
                return contacts.c.attributes[name.split(".", 1)[1]].as_string() == value
            return self.compare(field, Token("OP", "="), value)
        raise InvalidRequest(f"unknown field {name!r} in segment criteria")


def _check_terms(tree: Tree[Token]) -> None:
    """``InvalidRequest`` when ``tree`` combines more than :data:`MAX_CRITERIA_TERMS` terms
    (walked with an explicit stack, like the depth check)."""
    terms = 0
    stack: list[Tree[Token]] = [tree]
    while stack:
        node = stack.pop()
        if node.data in _TERMS:
            terms += 1
            if terms > MAX_CRITERIA_TERMS:
                raise InvalidRequest(f"criteria combine more than {MAX_CRITERIA_TERMS} terms")
        stack.extend(child for child in node.children if isinstance(child, Tree))


def compile_criteria(
    text: str, *, now: datetime | None = None, resolver: Resolver | None = None
) -> ColumnElement[bool]:
    """The SQL condition on ``contacts`` that ``text`` means, evaluated at ``now``."""
    if not text.strip():
        raise InvalidRequest("segment criteria are empty")
    if (problem := text_problem(text)) is not None:
        raise InvalidRequest(f"segment criteria {problem}")
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise InvalidRequest(
            f"cannot parse criteria at column {exc.column}: {exc.get_context(text).strip()}"
        ) from exc
    except LarkError as exc:
        raise InvalidRequest(f"cannot parse criteria: {exc}") from exc
    _check_depth(tree)
    if isinstance(tree, Tree):
        _check_terms(tree)
    from hub.settings import CRMSettings

    compiler = _Compiler(now or datetime.now(UTC), resolver or Resolver(CRMSettings()))
    try:
        condition = compiler.transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, InvalidRequest):
            raise exc.orig_exc from exc
        raise InvalidRequest(f"invalid criteria: {exc.orig_exc}") from exc
    if isinstance(condition, Token):  # a lone bare word parses as a value, not a term
        raise InvalidRequest(f"criteria need field:value terms, not {condition!r}")
    return condition


def _check_depth(tree: Tree[Token] | Token) -> None:
    """``InvalidRequest`` for criteria nested deeper than :data:`MAX_DEPTH` (iteratively)."""
    stack: list[tuple[Tree[Token] | Token, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Tree):
            continue
        depth += node.data in _LEVELS
        if depth > MAX_DEPTH:
            first: Tree[Token] | Token = node
            while isinstance(first, Tree) and first.children:
                first = first.children[0]
            column = f" at column {first.column}" if isinstance(first, Token) and first.column else ""
            raise InvalidRequest(
                f"criteria nest AND/OR/NOT deeper than {MAX_DEPTH} levels{column} (each NOT is a level)"
            )
        stack.extend((child, depth) for child in node.children)


def validate_criteria(text: str) -> None:
    """Raise ``InvalidRequest`` unless ``text`` compiles."""
    compile_criteria(text)
