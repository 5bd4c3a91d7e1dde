"""What one search may cost: a static budget on the parsed query, and a deadline on the work.

The query language's own limits (length, terms, nesting, negations, ``NEAR/n``) are
``kb.query``'s and hold everywhere a query is parsed. This module bounds what a *search over
the knowledge base* may cost, in two complementary ways:

* **The budget** (``kb.query_budget``, default :data:`DEFAULT_QUERY_BUDGET`) refuses a query
  before it runs when its estimated cost (:func:`query_cost`) is above it. The estimate knows
  the query, not the data: it grows with every part of the query, and much faster with what
  makes the engines do more work per part (see :func:`query_cost`).
* **The deadline** (``kb.query_deadline_s``, default :data:`DEFAULT_QUERY_DEADLINE_S`) stops a
  search that runs longer anyway (common words in an ordered ``NEAR``, say): SQLite's progress
  handler interrupts the statement, Elasticsearch gets ``timeout`` and the connection is dropped
  (which cancels the search task) when it passes. It runs whether or not anyone still waits for
  the answer, so the work stops when a client has gone.

Both raise :class:`QueryTooExpensive`, an ``InvalidInput``: the API answers 400 ("narrow the
query"), not 503 - a client retrying the same query would only spend the same time again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.errors import InvalidInput
from kb.query import And, Field, Near, Node, Not, Or, Text, parse_query

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = [
    "DEFAULT_QUERY_BUDGET",
    "DEFAULT_QUERY_DEADLINE_S",
    "Deadline",
    "QueryTooExpensive",
    "SearchLimits",
    "check_budget",
    "parse_search_query",
    "query_cost",
]

#: cost units a search may spend; 300 plain terms joined by OR cost 600
DEFAULT_QUERY_BUDGET = 1000
#: seconds a search may run before it is stopped
DEFAULT_QUERY_DEADLINE_S = 5.0

#: extra cost of a prefix by its length: a short prefix expands to many more terms
#: (measured at 20k messages: 100 ``w*`` in an OR took 13 s, ``w123*`` ~1/20 of ``w*``)
_PREFIX_COST = {1: 25, 2: 12}
_LONG_PREFIX_COST = 6
#: a prefix field value scans a range of the field's index instead of one entry
_FIELD_PREFIX_COST = 5
#: a negation outside a word query is a set difference against every message
_NOT_COST = 2
#: an ordered NEAR is confirmed word by word in Python after the engine's unordered check
_ORDERED_FACTOR = 3
#: every this many words of NEAR distance multiply the positions to compare once more
_NEAR_STEP = 10


class QueryTooExpensive(InvalidInput):
    """A search refused (over the budget) or stopped (past the deadline): narrow the query.

    Invalid input, answered 400: the same query would cost the same again, so it is the query
    that must change, not the moment it is sent.
    """


@dataclass(frozen=True)
class SearchLimits:
    """The budget and deadline a backend applies to every search (from ``hub.settings.KBSettings``)."""

    budget: int = DEFAULT_QUERY_BUDGET
    deadline_s: float = DEFAULT_QUERY_DEADLINE_S

    @classmethod
    def from_settings(cls, settings: Settings) -> SearchLimits:
        return cls(budget=settings.kb.query_budget, deadline_s=settings.kb.query_deadline_s)


def _text_cost(node: Text) -> int:
    cost = len(node.tokens)
    if node.prefix:
        cost += _PREFIX_COST.get(len(node.tokens[-1]), _LONG_PREFIX_COST)
    return cost


def _near_cost(node: Near) -> int:
    # Every operand's positions are compared with its neighbours' within the window, in every
    # row holding all of them: the work grows with the operands' count and the window's width.
    per_operand = sum(_text_cost(op) for op in node.operands)
    cost = per_operand * len(node.operands) * (1 + node.distance // _NEAR_STEP)
    return cost * _ORDERED_FACTOR if node.ordered else cost


def _parts(node: Node) -> list[tuple[int, int]]:
    """(cost, position) of every part of ``node``'s cost, in query order.

    The leaves (terms, phrases, field values) and ``NEAR`` chains carry their own cost; each
    ``AND``/``OR`` group adds one unit per operand it combines (a set operation over them) and
    each ``NOT`` adds :data:`_NOT_COST`, both charged where the group or negation starts.
    """
    if isinstance(node, Text):
        return [(_text_cost(node), node.position)]
    if isinstance(node, Field):
        return [(1 + (_FIELD_PREFIX_COST if node.prefix else 0), node.position)]
    if isinstance(node, Near):
        return [(_near_cost(node), node.position)]
    if isinstance(node, Not):
        inner = _parts(node.child)
        return [(_NOT_COST, inner[0][1]), *inner]
    assert isinstance(node, And | Or)
    inner = [part for child in node.children for part in _parts(child)]
    return [(len(node.children), inner[0][1]), *inner]


def query_cost(node: Node | None) -> int:
    """The estimated cost of searching for ``node``, in the units of the budget.

    A term costs 1 per word; a prefix adds 25 (one letter), 12 (two) or 6 (longer); a field
    value 1 (a prefix one 6); ``NEAR`` costs its operands' cost times their number times
    ``1 + distance // 10``, three times that when ordered; each ``NOT`` adds 2 and each
    ``AND``/``OR`` group 1 per operand. The empty query costs nothing.
    """
    return sum(cost for cost, _ in _parts(node)) if node is not None else 0


def check_budget(node: Node | None, budget: int) -> None:
    """Raise :class:`QueryTooExpensive` when ``node`` costs more than ``budget``.

    The position is that of a part which alone costs more than the budget, else of the part
    from which the running total passes it.
    """
    if node is None:
        return
    parts = _parts(node)
    total = sum(cost for cost, _ in parts)
    if total <= budget:
        return
    worst_cost, worst_at = max(parts, key=lambda part: part[0])
    if worst_cost > budget:
        where, why = worst_at, f"the part at position {worst_at + 1} alone costs {worst_cost:,}"
    else:
        running = 0
        where = parts[-1][1]
        for cost, position in parts:
            running += cost
            if running > budget:
                where = position
                break
        why = f"the total passes it at position {where + 1}"
    raise QueryTooExpensive(
        f"query too expensive: it costs {total:,} against a budget of {budget:,} ({why}); use fewer"
        " terms, longer prefixes, fewer or closer NEAR operands, or filters instead",
        position=where,
    )


def parse_search_query(query: str, budget: int) -> Node | None:
    """``kb.query.parse_query`` for a search over the knowledge base: also within ``budget``."""
    node = parse_query(query)
    check_budget(node, budget)
    return node


class Deadline:
    """A point in (monotonic) time a search must finish by; ``seconds <= 0`` means none."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds if seconds > 0 else None

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None without a deadline."""
        return None if self._end is None else max(0.0, self._end - time.monotonic())

    def passed(self) -> bool:
        return self._end is not None and time.monotonic() >= self._end

    def exceeded(self) -> QueryTooExpensive:
        """The error a search stopped at this deadline raises."""
        return QueryTooExpensive(
            f"the search was stopped after {self.seconds:g} s (kb.query_deadline_s); narrow the"
            " query or add filters (channel, dates) so it matches fewer messages"
        )

    def check(self) -> None:
        """Raise :meth:`exceeded` when the deadline has passed (between steps of a search)."""
        if self.passed():
            raise self.exceeded()
