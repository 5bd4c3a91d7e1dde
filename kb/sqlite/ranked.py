"""Pages cut in Python from a whole ranked window (the relevance windows of
``kb.sqlite.message_search`` and ``kb.sqlite.conversation_search``).

A relevance search matching more than ``RANK_WINDOW`` (``kb.sqlite.plans``) messages ranks the
newest window of them; that ranking (every row of the window, in sort order) is what
``kb.sqlite.cache`` keeps, and every page of the search - first, by offset or after a cursor -
is then a slice of it, the same rows SQL would answer (the sort keys are numbers, which SQLite
and Python order alike).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from kb.base import SearchRequest
from kb.common import decode_cursor, encode_cursor, page_limit

__all__ = ["COLUMNS", "MAX_RANKED_ROWS", "slice_page"]

#: the columns of a ranked row, as the searches select them (``kb.sqlite.plans.page``)
COLUMNS = ("r", "score", "ts")
#: a ranked list longer than this is not kept (its pages come from SQL)
MAX_RANKED_ROWS = 5000


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def slice_page(
    rows: Sequence[tuple[Any, ...]], request: SearchRequest, sort: str, keys: list[tuple[str, str]]
) -> tuple[list[tuple[Any, ...]], str | None] | None:
    """The page ``request`` asks of ``rows`` (every (r, score, ts) row, sorted by ``keys``) and
    the next cursor; None when the cursor holds a value that is not a number (SQL compares
    those: the caller asks it)."""
    position = [COLUMNS.index(name) for name, _ in keys]
    signs = [1 if direction == "ASC" else -1 for _, direction in keys]

    def order(values: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(sign * value for sign, value in zip(signs, values, strict=True))

    limit = page_limit(request.limit)
    start = max(0, request.offset)
    if request.cursor:
        after = decode_cursor(request.cursor, sort, length=len(keys))
        if not all(_number(v) for v in after):
            return None
        start = bisect_right(rows, order(after), key=lambda row: order([row[i] for i in position]))
    page = list(rows[start : start + limit + 1])
    next_cursor = None
    if len(page) > limit and limit > 0:
        page = page[:limit]
        next_cursor = encode_cursor(sort, [page[-1][i] for i in position])
    return page[:limit], next_cursor
