"""What the two SQLite searches share: the tuning constants that choose their plans, pages,
capped totals, histograms and cache keys.

``kb.sqlite.message_search`` and ``kb.sqlite.conversation_search`` run the searches; both build
every statement from a fixed SQL skeleton, and user input only ever travels as bound parameters
(FTS5 expressions are compiled from the AST with every token quoted).

What a search means (which filters apply where, the default sort, subject matches,
highlights) is stated in ``kb.search_rules``, shared with the Elasticsearch backend; these
modules only say how SQLite runs it.

Broad matches (a word in most messages) never cost a pass over every hit for a page: totals
are counted up to ``SearchRequest.total_limit`` (``LIMIT`` stops the scan, :func:`capped_count`)
and then reported as a lower bound (``total_relation="gte"``); past :data:`BROAD_MATCHES`
(date order) or :data:`RANK_WINDOW` (relevance) hits each search takes its broad plans, which
its module describes. Narrow queries keep the direct plans (driving from the few hits), which
are cheaper for them.

The searches read the tuning constants as ``plans.NAME`` when they run, never as copies made by
``from kb.sqlite.plans import NAME``: a value patched here (as the tests do) reaches both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from kb.base import DateHistogramBucket, FacetBucket, SearchRequest
from kb.common import decode_cursor, encode_cursor, fill_histogram, page_limit
from kb.query import Node
from kb.sqlite.facets import BUCKETS
from kb.sqlite.query import SUBJECT_COLUMNS, CompiledQuery, fts_expression
from kb.sqlite.ranked import slice_page

__all__ = [
    "BM25",
    "BROAD_MATCHES",
    "FACET_WINDOW",
    "FTS_SOURCE",
    "PROBE_MATCHES",
    "RANK_WINDOW",
    "SORT_KEYS",
    "SUBJECT_MATCH",
    "analyses",
    "buckets",
    "capped_count",
    "fts_only",
    "histogram",
    "key",
    "order",
    "page",
    "subject_expression",
]

#: matching messages past which a date-ordered page walks the date index instead of sorting
#: every hit: the walk then reads about (messages / matches) x page rows, under a thousand
BROAD_MATCHES = 1000
#: matching messages past which the walk checks its candidates against FTS5 (a range scan per
#: run of nearby candidates, ``kb.sqlite.walk``) instead of first listing every matching rowid
#: (about 1.5 us a match): cheaper once matches are this many
PROBE_MATCHES = 10_000
#: a relevance search matching more messages than this ranks the most recently indexed this
#: many by bm25 (``SearchResult.relevance_window``): bm25 costs about 15 us a row, and a word
#: in most messages scores alike everywhere (its IDF is nil). Measured again at 100,000
#: messages: a statement using bm25 first reads every row matching each phrase of the query
#: (FTS5 counts them for the IDF: 1.3-2.6 ms for a word in half of them, 3.7 ms for one in
#: all), then costs about 1 us a ranked row; so the window bounds the second part only
RANK_WINDOW = 2000
#: a search matching more messages than this counts its facets over the most recently indexed
#: this many (``SearchResult.facets_window``): exact facets of a word in every other message
#: of 100,000 cost about 150 ms of grouping; a window of 5,000 about a tenth. Histograms
#: (trends over time) always count every match.
FACET_WINDOW = 5000

#: FTS5's rank column is bm25 with the column weights the schema configures (kb.sqlite.store); unlike
#: a bm25() call it may be used inside aggregates and flattened subqueries
BM25 = "message_fts.rank"
#: CROSS JOIN pins FTS5 as the outer loop: otherwise SQLite may drive from a filter's index and
#: re-run the MATCH once per candidate row (measured 30x slower for a prefix query at 10k rows)
FTS_SOURCE = "message_fts CROSS JOIN messages m ON m.rowid = message_fts.rowid"
SUBJECT_MATCH = "SELECT rowid FROM conversation_fts WHERE conversation_fts MATCH ?"
SORT_KEYS = {
    "relevance": [("score", "ASC"), ("r", "ASC")],
    "newest": [("ts", "DESC"), ("r", "DESC")],
    "oldest": [("ts", "ASC"), ("r", "ASC")],
}


def _after(keys: list[tuple[str, str]], values: list[Any]) -> tuple[str, list[Any]]:
    """Lexicographic "strictly after ``values``" for the sort ``keys`` (as many values as keys)."""
    ors: list[str] = []
    params: list[Any] = []
    for i, (name, direction) in enumerate(keys):
        ands = [f"{k} = ?" for k, _ in keys[:i]] + [f"{name} {'>' if direction == 'ASC' else '<'} ?"]
        ors.append("(" + " AND ".join(ands) + ")")
        params += [*values[:i], values[i]]
    return "(" + " OR ".join(ors) + ")", params


#: the start of "SELECT rowid, id, document ... <rowid> IN (...)" for each kind of hit
_DOCS_BY_ROWID = {
    "message": "SELECT d.rowid, t.id, d.doc FROM message_docs d JOIN messages t ON t.rowid = d.rowid"
    " WHERE d.rowid",
    "conversation": "SELECT rowid, id, doc FROM conversations WHERE rowid",
}


def page(
    conn: sqlite3.Connection,
    inner: str,
    params: list[Any],
    request: SearchRequest,
    sort: str,
    keys: list[tuple[str, str]],
    kind: str,
    ranked: Callable[[], list[tuple[Any, ...]] | None] | None = None,
    prepare: Callable[[], None] | None = None,
    walked: Callable[[], tuple[list[Any], str | None] | None] | None = None,
) -> tuple[list[tuple[Any, ...]], str | None]:
    """One page of ``inner`` (columns r, score, ts) as (id, doc, score) rows, and the next cursor.

    Sorting happens on the narrow (r, score, ts) rows; documents are fetched for the page only.
    ``ranked``, when given, answers every row of ``inner`` in sort order (a relevance window,
    kept by ``kb.sqlite.cache``) or None: the page is then a slice of it (``kb.sqlite.ranked``).
    ``walked``, when given, answers the page's rows of ``inner`` and the cursor by walking the
    date index in Python (``kb.sqlite.walk``), or None: SQL is then asked.
    ``prepare`` runs before ``inner`` is read by SQL (it fills the temp tables ``inner`` reads).
    """
    selected = None
    if ranked is not None:
        every_row = ranked()
        if every_row is not None:
            selected = slice_page(every_row, request, sort, keys)
    if selected is None and walked is not None:
        selected = walked()
    if selected is None:
        if prepare is not None:
            prepare()
        selected = _select_page(conn, inner, params, request, sort, keys)
    rows, next_cursor = selected
    docs: dict[int, tuple[str, str]] = {}
    if rows:
        marks = ",".join("?" * len(rows))
        found = conn.execute(f"{_DOCS_BY_ROWID[kind]} IN ({marks})", [r[0] for r in rows])
        docs = {rowid: (doc_id, doc) for rowid, doc_id, doc in found}
    return [(*docs[r], score) for r, score, _ in rows], next_cursor


def _select_page(
    conn: sqlite3.Connection,
    inner: str,
    params: list[Any],
    request: SearchRequest,
    sort: str,
    keys: list[tuple[str, str]],
) -> tuple[list[tuple[Any, ...]], str | None]:
    """The (r, score, ts) rows of ``request``'s page of ``inner``, and the next cursor."""
    limit = page_limit(request.limit)
    outer_where, outer_params, offset = "1", list[Any](), request.offset
    if request.cursor:
        outer_where, outer_params = _after(keys, decode_cursor(request.cursor, sort, length=len(keys)))
        offset = 0
    rows = conn.execute(
        f"SELECT r, score, ts FROM ({inner}) WHERE {outer_where} ORDER BY {order(keys)} LIMIT ? OFFSET ?",
        [*params, *outer_params, limit + 1, max(0, offset)],
    ).fetchall()
    next_cursor = None
    if len(rows) > limit and limit > 0:
        rows = rows[:limit]
        last = dict(zip(("r", "score", "ts"), rows[-1], strict=True))
        next_cursor = encode_cursor(sort, [last[k] for k, _ in keys])
    return rows[:limit], next_cursor


def order(keys: list[tuple[str, str]]) -> str:
    """The ``ORDER BY`` list of the sort ``keys``."""
    return ", ".join(f"{k} {d}" for k, d in keys)


def key(*parts: Any) -> tuple[Any, ...]:
    """A cache key of SQL text and parameters (lists made tuples, so it hashes)."""
    return tuple(tuple(key(*p)) if isinstance(p, list | tuple) else p for p in parts)


def histogram(
    conn: sqlite3.Connection,
    interval: str | None,
    ts: str,
    source: str,
    where: str,
    params: list[Any],
    with_sql: str = "",
) -> list[DateHistogramBucket]:
    """Counts of the rows of ``source`` matching ``where`` per ``interval`` of column ``ts``."""
    if interval is None:
        return []
    bucket = BUCKETS[interval].format(ts=ts)
    sql = f"{with_sql}SELECT {bucket}, count(*) FROM {source} WHERE {where} GROUP BY 1"
    counts = {
        datetime.fromisoformat(bucket).replace(tzinfo=UTC): count
        for bucket, count in conn.execute(sql, params)
        if bucket
    }
    return fill_histogram(counts, interval)


def capped_count(
    conn: sqlite3.Connection, select_one: str, params: list[Any], limit: int | None, with_sql: str = ""
) -> tuple[int, Literal["eq", "gte"]]:
    """The rows of ``select_one`` (a "SELECT 1 FROM ... WHERE ..."), counted up to ``limit``.

    Past the limit the scan stops: (limit, "gte"). None counts every row: (count, "eq").
    """
    if limit is None:
        total = conn.execute(f"{with_sql}SELECT count(*) FROM ({select_one})", params).fetchone()[0]
        return int(total), "eq"
    limit = max(0, limit)
    total = conn.execute(
        f"{with_sql}SELECT count(*) FROM ({select_one} LIMIT ?)", [*params, limit + 1]
    ).fetchone()[0]
    return (limit, "gte") if total > limit else (int(total), "eq")


def fts_only(compiled: CompiledQuery) -> bool:
    """Whether no predicate reads the FTS table's own columns (an ordered NEAR's check does)."""
    return not any("message_fts." in predicate for predicate in compiled.where)


def analyses(conn: sqlite3.Connection) -> tuple[str, ...]:
    """The analyses (``kb.languages``) the index holds text in: what queries expand over."""
    return tuple(name for (name,) in conn.execute("SELECT name FROM analyses ORDER BY name"))


def subject_expression(node: Node | None, analyses: tuple[str, ...]) -> str | None:
    """The FTS5 expression of ``node`` over the subject columns (conversation_fts); None without one."""
    return fts_expression(node, analyses, SUBJECT_COLUMNS) if node is not None else None


def buckets(rows: list[tuple[Any, int]]) -> list[FacetBucket]:
    """Facet buckets of (value, count) rows."""
    return [FacetBucket(str(value), int(count)) for value, count in rows]
