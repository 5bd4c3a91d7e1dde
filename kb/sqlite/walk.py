"""Date-ordered pages of broad matches: walk the date index, check candidates in blocks.

A date-ordered page of a word in most messages (the broad plans of ``kb.sqlite.message_search``
and ``kb.sqlite.conversation_search``) walks messages by ``created_ts`` (or conversations by
``last_ts``) and keeps those that match, until the page is full. Asking FTS5 about one candidate
at a time (``rowid = ?`` with ``MATCH``) costs a whole FTS5 query per candidate - parsing the
expression, seeking every term's doclists - about 20-100 us each, 21 of them for a message page
and about 100 for a page of conversations. Here candidates are read a block at a time, and FTS5
is asked once per run of nearby rowids (``MATCH ? AND rowid BETWEEN ? AND ?``: FTS5 seeks to the
start of the range and reads the matches in it, well under a microsecond each). Messages are
mostly stored in the order they arrive, which is mostly the order of their dates, so a block of
candidates is usually one run; rowids further apart than :data:`MAX_GAP` start a new run, so a
block is never read at more than one range scan per candidate, nor more than :data:`MAX_GAP`
rows of the range per candidate.

The rows and the cursor are exactly those of the SQL plan they replace (``_select_page`` of
``kb.sqlite.plans`` over the walk): the same order (date, then rowid, both descending for
"newest", ascending for "oldest"), the same offset and limit, the same cursor. A cursor holding
something other than numbers is left to SQL (its comparisons of mixed types are SQLite's): the
functions answer None.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from kb.base import SearchRequest
from kb.common import decode_cursor, encode_cursor, page_limit

__all__ = ["FIRST_BLOCK", "MAX_BLOCK", "MAX_GAP", "conversation_page", "matching_rowids", "message_page"]

#: candidates read in the first block; each further block is twice as large (a page of a word
#: in one message in ten reads about ten candidates a hit)
FIRST_BLOCK = 64
#: at most this many candidates a block (also bounds the parameters of one statement)
MAX_BLOCK = 1024
#: candidate rowids further apart than this are checked by separate range scans: a run never
#: reads more than this many rows of FTS5 per candidate
MAX_GAP = 32

#: a candidate: (rowid, date)
Candidate = tuple[int, float]
#: a page row as the searches select it (``kb.sqlite.plans.page``): (rowid, score, date)
PageRow = tuple[int, float, float]


def _runs(rowids: Iterable[int]) -> list[tuple[int, int]]:
    """``rowids`` (any order, duplicates allowed) as (first, last) runs of rowids at most
    :data:`MAX_GAP` apart, ascending."""
    ordered = sorted(set(rowids))
    if not ordered:
        return []
    runs = []
    start = previous = ordered[0]
    for rowid in ordered[1:]:
        if rowid - previous > MAX_GAP:
            runs.append((start, previous))
            start = rowid
        previous = rowid
    runs.append((start, previous))
    return runs


def matching_rowids(
    conn: sqlite3.Connection, fts_table: str, expression: str, rowids: Iterable[int]
) -> set[int]:
    """Those of ``rowids`` whose row of ``fts_table`` (a trusted table name) matches the FTS5
    ``expression``: one range scan per run of nearby rowids."""
    wanted = set(rowids)
    sql = f"SELECT rowid FROM {fts_table} WHERE {fts_table} MATCH ? AND rowid BETWEEN ? AND ?"
    found: set[int] = set()
    for first, last in _runs(wanted):
        found.update(rowid for (rowid,) in conn.execute(sql, (expression, first, last)))
    return found & wanted


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _walk(
    fetch: Callable[[Candidate | None, int], list[Candidate]],
    keep: Callable[[list[Candidate]], set[int]],
    request: SearchRequest,
    sort: str,
) -> tuple[list[PageRow], str | None] | None:
    """The page of ``request`` among the candidates ``fetch`` answers (the next ``n`` after a
    candidate, or from the start, in sort order) that ``keep`` keeps, and the next cursor."""
    limit = page_limit(request.limit)
    offset = max(0, request.offset)
    after: Candidate | None = None
    if request.cursor:
        ts, rowid = decode_cursor(request.cursor, sort, length=2)  # the keys are (ts, r)
        if not (_number(ts) and _number(rowid)):
            return None
        after, offset = (rowid, ts), 0
    wanted = offset + limit + 1
    found: list[Candidate] = []
    block = FIRST_BLOCK
    while len(found) < wanted:
        candidates = fetch(after, block)
        if not candidates:
            break
        kept = keep(candidates)
        found += [candidate for candidate in candidates if candidate[0] in kept]
        if len(candidates) < block:
            break  # the walk reached the end
        after = candidates[-1]
        block = min(block * 2, MAX_BLOCK)
    rows: list[PageRow] = [(rowid, 0.0, ts) for rowid, ts in found[offset : offset + limit + 1]]
    next_cursor = None
    if len(rows) > limit and limit > 0:
        next_cursor = encode_cursor(sort, [rows[limit - 1][2], rows[limit - 1][0]])
    return rows[:limit], next_cursor


def _keyset(ts: str, rowid: str, sort: str, after: Candidate | None) -> tuple[str, str, list[Any]]:
    """(the "after this candidate" predicate or "", the ORDER BY, its parameters) of a walk by
    ``ts`` then ``rowid`` in ``sort`` order."""
    direction, comparison = ("ASC", ">") if sort == "oldest" else ("DESC", "<")
    order = f"{ts} {direction}, {rowid} {direction}"
    if after is None:
        return "", order, []
    return f"({ts}, {rowid}) {comparison} (?, ?)", order, [after[1], after[0]]


def _where(parts: Sequence[str]) -> str:
    return " AND ".join(part for part in parts if part) or "1"


def message_page(
    conn: sqlite3.Connection,
    request: SearchRequest,
    sort: str,
    fts: str,
    where: Sequence[str],
    params: Sequence[Any],
    with_sql: str = "",
    with_params: Sequence[Any] = (),
) -> tuple[list[PageRow], str | None] | None:
    """The date-ordered (``sort`` "newest" or "oldest") page of the messages ``m`` matching the
    FTS5 expression ``fts`` and the predicates ``where`` (on ``m`` and the row sets of
    ``with_sql``, none reading FTS5's columns), and the next cursor; None: ask SQL."""

    def fetch(after: Candidate | None, n: int) -> list[Candidate]:
        keyset, order, keyset_params = _keyset("m.created_ts", "m.rowid", sort, after)
        sql = (
            f"{with_sql}SELECT m.rowid, m.created_ts FROM messages m INDEXED BY messages_created"
            f" WHERE {_where([*where, keyset])} ORDER BY {order} LIMIT ?"
        )
        return conn.execute(sql, [*with_params, *params, *keyset_params, n]).fetchall()

    def keep(candidates: list[Candidate]) -> set[int]:
        return matching_rowids(conn, "message_fts", fts, (rowid for rowid, _ in candidates))

    return _walk(fetch, keep, request, sort)


def conversation_page(
    conn: sqlite3.Connection,
    request: SearchRequest,
    sort: str,
    where: Sequence[str],
    params: Sequence[Any],
    fts: str,
    message_where: Sequence[str],
    message_params: Sequence[Any],
    subject: str | None = None,
    with_sql: str = "",
    with_params: Sequence[Any] = (),
) -> tuple[list[PageRow], str | None] | None:
    """The date-ordered page (by ``last_ts``) of the conversations ``c`` matching ``where`` that
    have a message ``m`` matching the FTS5 expression ``fts`` and ``message_where`` (predicates
    on ``m`` and the row sets of ``with_sql``), or whose subject matches ``subject``; and the
    next cursor. None: ask SQL."""

    def fetch(after: Candidate | None, n: int) -> list[Candidate]:
        keyset, order, keyset_params = _keyset("c.last_ts", "c.rowid", sort, after)
        sql = (
            f"SELECT c.rowid, c.last_ts FROM conversations c WHERE {_where([*where, keyset])}"
            f" ORDER BY {order} LIMIT ?"
        )
        return conn.execute(sql, [*params, *keyset_params, n]).fetchall()

    def keep(candidates: list[Candidate]) -> set[int]:
        marks = ",".join("?" * len(candidates))
        of_candidates = _where([f"c.rowid IN ({marks})", *message_where])
        sql = (
            f"{with_sql}SELECT m.rowid, c.rowid FROM conversations c"
            f" JOIN messages m ON m.conversation_id = c.id WHERE {of_candidates}"
        )
        rows = conn.execute(
            sql, [*with_params, *(rowid for rowid, _ in candidates), *message_params]
        ).fetchall()
        matched = matching_rowids(conn, "message_fts", fts, (message for message, _ in rows))
        kept = {conversation for message, conversation in rows if message in matched}
        if subject is not None:
            rest = [rowid for rowid, _ in candidates if rowid not in kept]
            kept |= matching_rowids(conn, "conversation_fts", subject, rest)
        return kept

    return _walk(fetch, keep, request, sort)
