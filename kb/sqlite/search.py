"""Search over the embedded KB: hits (bm25 or date order), totals, facets, date histograms.

Every statement is built from a fixed SQL skeleton; user input only ever travels as bound
parameters (FTS5 expressions are compiled from the AST with every token quoted).

What a search means (which filters apply where, the default sort, subject matches,
highlights) is stated in ``kb.search_rules``, shared with the Elasticsearch backend; this
module only says how SQLite runs it.

Broad matches (a word in most messages) never cost a pass over every hit for a page:

* totals are counted up to ``SearchRequest.total_limit`` (``LIMIT`` stops the scan) and then
  reported as a lower bound (``total_relation="gte"``);
* a relevance page of a bare word query reads only FTS5 (rowid and bm25), no join;
* a date-ordered page of a broad query (more than :data:`BROAD_MATCHES` hits) walks the date
  index newest (or oldest) first and checks the rows against the matching rowids, stopping
  once the page is full; a conversation page walks conversations by ``last_message_at``
  and keeps those with a matching message, instead of grouping every matching message per
  conversation on every request. Past :data:`PROBE_MATCHES` the candidates are checked a
  block at a time, one FTS5 range scan per run of nearby rowids (``kb.sqlite.walk``).

Narrow queries keep the direct plans (driving from the few hits), which are cheaper for them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

from hub.models import Conversation, Message
from kb.base import DateHistogramBucket, FacetBucket, Hit, SearchFilters, SearchRequest, SearchResult
from kb.common import (
    CONVERSATION_FACETS,
    FACET_SIZE,
    MESSAGE_FACETS,
    check_facets,
    decode_cursor,
    encode_cursor,
    fill_histogram,
    page_limit,
    read_document,
)
from kb.limits import SearchLimits, parse_search_query
from kb.query import Node
from kb.search_rules import (
    conversation_highlights,
    conversation_level,
    effective_sort,
    has_message_level_filters,
    matches_subjects,
    message_highlights,
    message_level,
)
from kb.sqlite.cache import NO_MEMO, Memo
from kb.sqlite.facets import BUCKETS, aggregate_messages
from kb.sqlite.query import (
    SUBJECT_COLUMNS,
    CompiledQuery,
    compile_message_query,
    conversation_filter_sql,
    fts_expression,
)
from kb.sqlite.ranked import MAX_RANKED_ROWS, slice_page
from kb.sqlite.walk import conversation_page, message_page

__all__ = [
    "BROAD_MATCHES",
    "FACET_WINDOW",
    "PROBE_MATCHES",
    "RANK_WINDOW",
    "search_conversations",
    "search_messages",
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
_BM25 = "message_fts.rank"
#: CROSS JOIN pins FTS5 as the outer loop: otherwise SQLite may drive from a filter's index and
#: re-run the MATCH once per candidate row (measured 30x slower for a prefix query at 10k rows)
_FTS_SOURCE = "message_fts CROSS JOIN messages m ON m.rowid = message_fts.rowid"
_SUBJECT_MATCH = "SELECT rowid FROM conversation_fts WHERE conversation_fts MATCH ?"
_SORT_KEYS = {
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


def _page(
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
        f"SELECT r, score, ts FROM ({inner}) WHERE {outer_where} ORDER BY {_order(keys)} LIMIT ? OFFSET ?",
        [*params, *outer_params, limit + 1, max(0, offset)],
    ).fetchall()
    next_cursor = None
    if len(rows) > limit and limit > 0:
        rows = rows[:limit]
        last = dict(zip(("r", "score", "ts"), rows[-1], strict=True))
        next_cursor = encode_cursor(sort, [last[k] for k, _ in keys])
    return rows[:limit], next_cursor


def _order(keys: list[tuple[str, str]]) -> str:
    return ", ".join(f"{k} {d}" for k, d in keys)


def _key(*parts: Any) -> tuple[Any, ...]:
    """A cache key of SQL text and parameters (lists made tuples, so it hashes)."""
    return tuple(tuple(_key(*p)) if isinstance(p, list | tuple) else p for p in parts)


def _histogram(
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


def _capped_count(
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


def _fts_only(compiled: CompiledQuery) -> bool:
    """Whether no predicate reads the FTS table's own columns (an ordered NEAR's check does)."""
    return not any("message_fts." in predicate for predicate in compiled.where)


def _analyses(conn: sqlite3.Connection) -> tuple[str, ...]:
    """The analyses (``kb.languages``) the index holds text in: what queries expand over."""
    return tuple(name for (name,) in conn.execute("SELECT name FROM analyses ORDER BY name"))


def _subject_expression(node: Node | None, analyses: tuple[str, ...]) -> str | None:
    return fts_expression(node, analyses, SUBJECT_COLUMNS) if node is not None else None


def _buckets(rows: list[tuple[Any, int]]) -> list[FacetBucket]:
    return [FacetBucket(str(value), int(count)) for value, count in rows]


def search_messages(
    conn: sqlite3.Connection, request: SearchRequest, limits: SearchLimits, memo: Memo = NO_MEMO
) -> SearchResult[Message]:
    """Messages matching ``request``; ``memo`` keeps what does not depend on the page (the
    total, the ranked relevance window, facets and histogram) while the data is unchanged."""
    node = parse_search_query(request.query, limits.budget)
    facet_names = check_facets(request.facets, MESSAGE_FACETS)
    compiled = compile_message_query(node, request.filters, memo(("analyses",), partial(_analyses, conn)))
    if compiled.fts:
        source, score = _FTS_SOURCE, _BM25
        where, params = ["message_fts MATCH ?", *compiled.where], [compiled.fts, *compiled.params]
    else:
        source, score, where, params = "messages m", "0.0", compiled.where, compiled.params
    # the named row sets of a deep query (kb.sqlite.query) open every statement that filters
    with_sql, params = compiled.with_sql, [*compiled.with_params, *params]
    where_sql = " AND ".join(where) or "1"
    sort = effective_sort(request.sort, node)  # "relevance" exactly when compiled.fts scores
    rowid = "m.rowid"
    bare_match = bool(compiled.fts) and len(where) == 1 and not with_sql
    # the total first: counted up to the limit, it also says whether the query is broad
    if bare_match:  # FTS5 counts a bare MATCH without the join
        counted = "SELECT 1 FROM message_fts WHERE message_fts MATCH ?"
    else:
        counted = f"SELECT 1 FROM {source} WHERE {where_sql}"
    total, relation = memo(
        _key("count", with_sql, counted, params, request.total_limit),
        partial(_capped_count, conn, counted, params, request.total_limit, with_sql),
    )
    inner = (
        f"{with_sql}SELECT {rowid} AS r, {score} AS score, m.created_ts AS ts FROM {source} WHERE {where_sql}"
    )
    window = None
    ranked = None
    walked = None
    if sort == "relevance" and source == _FTS_SOURCE and (relation == "gte" or total > RANK_WINDOW):
        # rank the most recently indexed matches only: FTS5 walks its doclists newest first
        # and stops after the window, so bm25 is computed for RANK_WINDOW rows, not every hit
        window = RANK_WINDOW
        if not bare_match:
            newest = (
                f"SELECT m.rowid AS r, {_BM25} AS score, m.created_ts AS ts FROM {source} WHERE {where_sql}"
                " ORDER BY message_fts.rowid DESC"
            )
        else:
            newest = "SELECT rowid AS r, rank AS score, 0.0 AS ts FROM message_fts WHERE message_fts MATCH ?"
            newest += " ORDER BY rowid DESC"
        inner = f"{with_sql}SELECT r, score, ts FROM ({newest} LIMIT {RANK_WINDOW})"
        if memo.keeps:  # the whole window in rank order, kept: every page is a slice of it
            everything = f"SELECT r, score, ts FROM ({inner}) ORDER BY {_order(_SORT_KEYS[sort])}"
            fetch = partial(_fetch_all, conn, everything, params)
            ranked = partial(memo, _key("ranked", everything, params), fetch)
    elif bare_match and sort == "relevance":
        # ranking reads FTS5 alone (rowid and bm25): no join for hits that are not shown
        inner = f"SELECT rowid AS r, {_BM25} AS score, 0.0 AS ts FROM message_fts WHERE message_fts MATCH ?"
    elif source == _FTS_SOURCE and sort != "relevance" and _fts_only(compiled) and _broad(total, relation):
        # walk the date index and test each message, stopping once the page is full: about
        # (messages / matches) x page rows, instead of sorting every hit
        if relation == "gte" or total >= PROBE_MATCHES:
            # candidates checked a block at a time (kb.sqlite.walk); the SQL below, which probes
            # FTS5 once a row, only answers a cursor holding something other than numbers
            walked = partial(
                message_page,
                conn,
                request,
                sort,
                str(compiled.fts),
                compiled.where,
                compiled.params,
                with_sql,
                compiled.with_params,
            )
            walk = (
                "messages m INDEXED BY messages_created CROSS JOIN message_fts ON message_fts.rowid = m.rowid"
            )
            test = ["message_fts MATCH ?", *where[1:]]
        else:
            walk = "messages m INDEXED BY messages_created"
            test = ["m.rowid IN (SELECT rowid FROM message_fts WHERE message_fts MATCH ?)", *where[1:]]
        inner = (
            f"{with_sql}SELECT m.rowid AS r, 0.0 AS score, m.created_ts AS ts"
            f" FROM {walk} WHERE {' AND '.join(test)}"
        )
    rows, next_cursor = _page(
        conn, inner, params, request, sort, _SORT_KEYS[sort], "message", ranked, walked=walked
    )
    hits, unreadable = [], []
    for doc_id, doc, raw_score in rows:
        message = read_document(Message, "message", doc_id, doc)
        if message is None:  # logged; the rest of the page is served
            unreadable.append(doc_id)
            continue
        marks = message_highlights(message, node) if request.highlight else {}
        hits.append(Hit(message.id, -float(raw_score) if raw_score else 0.0, message, marks))
    facets: dict[str, list[FacetBucket]] = {}
    histogram: list[DateHistogramBucket] = []
    facets_window = None
    if facet_names or request.histogram:
        aggregate = partial(
            _aggregate_messages, conn, facet_names, request.histogram, (source, where_sql, params, with_sql)
        )
        facets, histogram, facets_window = memo(
            _key(
                "aggregations",
                FACET_WINDOW,
                with_sql,
                source,
                where_sql,
                params,
                facet_names,
                request.histogram,
            ),
            partial(aggregate, counted, total, relation),
        )
        facets = {name: list(buckets) for name, buckets in facets.items()}  # the kept lists stay as kept
        histogram = list(histogram)
    return SearchResult(
        total, hits, facets, histogram, next_cursor, unreadable, relation, window, facets_window
    )


def _fetch_all(conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(sql, params).fetchall()


def _aggregate_messages(
    conn: sqlite3.Connection,
    facet_names: tuple[str, ...],
    interval: str | None,
    matches: tuple[str, str, list[Any], str],
    counted: str,
    total: int,
    relation: Literal["eq", "gte"],
) -> tuple[dict[str, list[FacetBucket]], list[DateHistogramBucket], int | None]:
    """Facets, histogram and facet window of the messages of ``matches`` (source, where,
    params, row sets), of which ``counted`` counts ``total`` (``relation``)."""
    source, _, params, with_sql = matches
    facets_window = None
    newest = ""
    if not interval and _matches_more_than(conn, FACET_WINDOW, counted, params, with_sql, total, relation):
        facets_window = FACET_WINDOW
        # FTS5 walks its doclists newest first and stops after the window
        newest_first = "message_fts.rowid" if source == _FTS_SOURCE else "m.rowid"
        newest = f" ORDER BY {newest_first} DESC LIMIT {FACET_WINDOW}"
    facets, histogram = aggregate_messages(conn, facet_names, interval, matches, newest)
    return facets, histogram, facets_window


def _matches_more_than(
    conn: sqlite3.Connection,
    n: int,
    counted: str,
    params: list[Any],
    with_sql: str,
    total: int,
    relation: Literal["eq", "gte"],
) -> bool:
    """Whether ``counted`` has more than ``n`` rows, reusing the page's capped ``total``."""
    if relation == "eq" or total > n:
        return total > n
    return _capped_count(conn, counted, params, n, with_sql)[1] == "gte"


def _broad(total: int, relation: str) -> bool:
    return relation == "gte" or total > BROAD_MATCHES


def _collect_conversation_hits(
    conn: sqlite3.Connection, compiled: CompiledQuery, window: int | None = None
) -> None:
    """Fill temp.conversation_hits (cid, best score) from the messages matching ``compiled``
    (the query and the message-level filters); with ``window``, from the most recently
    indexed ``window`` of them only.

    Page, count and facets all need this grouping, so it is computed once per search.
    """
    if compiled.fts:
        source, score = _FTS_SOURCE, _BM25
        where, params = ["message_fts MATCH ?", *compiled.where], [compiled.fts, *compiled.params]
    else:
        source, score, where, params = "messages m", "0.0", compiled.where, compiled.params
    # message_fts.rowid, not m.rowid (the same value): FTS5 then walks newest first and stops
    newest = f" ORDER BY message_fts.rowid DESC LIMIT {window}" if window and compiled.fts else ""
    # bm25 cannot sit inside an aggregate: score each message, then keep the best per thread.
    inner = (
        f"{compiled.with_sql}SELECT cid, min(s) AS score FROM (SELECT m.conversation_id AS cid, {score} AS s"
        f" FROM {source} WHERE {' AND '.join(where) or '1'}{newest}) GROUP BY cid"
    )
    conn.execute("DROP TABLE IF EXISTS temp.conversation_hits")
    conn.execute(f"CREATE TEMP TABLE conversation_hits AS {inner}", [*compiled.with_params, *params])
    conn.execute("CREATE INDEX temp.conversation_hits_cid ON conversation_hits(cid)")


def _matching_messages(conn: sqlite3.Connection, compiled: CompiledQuery, limit: int) -> tuple[int, str]:
    """Messages matching ``compiled``, counted up to ``limit`` (FTS5 alone when it can)."""
    if compiled.fts and not compiled.where:
        counted, params = "SELECT 1 FROM message_fts WHERE message_fts MATCH ?", [compiled.fts]
    elif compiled.fts:
        counted = f"SELECT 1 FROM {_FTS_SOURCE} WHERE message_fts MATCH ? AND {' AND '.join(compiled.where)}"
        params = [*compiled.with_params, compiled.fts, *compiled.params]
    else:
        counted = f"SELECT 1 FROM messages m WHERE {' AND '.join(compiled.where) or '1'}"
        params = [*compiled.with_params, *compiled.params]
    return _capped_count(conn, counted, params, limit, compiled.with_sql if compiled.where else "")


def _has_match(compiled: CompiledQuery) -> tuple[str, list[Any]]:
    """``EXISTS (...)``: conversation ``c`` has a message matching ``compiled``, probing FTS5 by
    rowid for each of its messages (its row sets' parameters excluded: they open the statement)."""
    where = ["m.conversation_id = c.id", *compiled.where]
    params = list(compiled.params)
    source = "messages m"
    if compiled.fts:
        source = "messages m JOIN message_fts ON message_fts.rowid = m.rowid"
        where.insert(1, "message_fts MATCH ?")
        params.insert(0, compiled.fts)
    return f"EXISTS (SELECT 1 FROM {source} WHERE {' AND '.join(where)})", params


@dataclass
class _ConversationPlan:
    """How one conversation search runs: rows of ``source`` (conversations ``c``) matching
    ``where`` (after ``with_sql``), scored by ``score``; ``count`` overrides how the total is
    counted for broad matches."""

    source: str = "conversations c"
    score: str = "0.0"
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    with_sql: str = ""
    with_params: list[Any] = field(default_factory=list)
    window: int | None = None
    #: fills the temp tables ``source`` reads (a windowed ranking: only when its page is not kept)
    prepare: Callable[[], None] | None = None
    #: what ``source`` and ``where`` leave out that the rows depend on (the message query)
    key: tuple[Any, ...] = ()
    count: Callable[[int | None], tuple[int, Literal["eq", "gte"]]] | None = None
    #: facets and histograms count every match: with a window, (where, params) over all of them
    every_match: tuple[list[str], list[Any]] | None = None
    #: a date-ordered page of broad matches, walked in Python (``kb.sqlite.walk``): given the
    #: request and the sort, the page's rows and cursor, or None (then SQL answers)
    walk: Callable[[SearchRequest, str], tuple[list[Any], str | None] | None] | None = None


def _plan_conversations(
    conn: sqlite3.Connection, node: Node | None, f: SearchFilters, sort: str, memo: Memo
) -> _ConversationPlan:
    plan = _ConversationPlan()
    plan.where, plan.params = conversation_filter_sql(conversation_level(f))
    if node is None and not has_message_level_filters(f):
        return plan  # the inbox: conversations alone
    analyses = memo(("analyses",), partial(_analyses, conn))
    compiled = compile_message_query(node, message_level(f), analyses)
    by_subject = node is not None and matches_subjects(node, f)
    subject = _subject_expression(node, analyses) if by_subject else None
    plan.key = _key(compiled.with_sql, compiled.with_params, compiled.fts, compiled.where, compiled.params)
    limit = max(BROAD_MATCHES, RANK_WINDOW)
    matched, relation = memo(
        _key("matching messages", plan.key, limit), partial(_matching_messages, conn, compiled, limit)
    )
    many = relation == "gte" or matched > (RANK_WINDOW if sort == "relevance" else BROAD_MATCHES)
    if not many or not compiled.fts or not _fts_only(compiled):
        # few matches (or an ordered NEAR to check): group them all per conversation
        _collect_conversation_hits(conn, compiled)
        _join_hits(plan, subject)
        return plan
    exists, exists_params = _has_match(compiled)
    count = partial(
        _count_broad, conn, compiled, list(plan.where), list(plan.params), subject, exists, exists_params
    )
    count_key = _key("conversations", plan.key, plan.where, plan.params, subject)
    plan.count = lambda limit: memo((*count_key, limit), partial(count, limit))
    plan.with_sql, plan.with_params = compiled.with_sql, list(compiled.with_params)
    if subject is not None:
        exists = f"({exists} OR c.rowid IN ({_SUBJECT_MATCH}))"
        exists_params = [*exists_params, subject]
    every = ([exists, *plan.where], [*exists_params, *plan.params])
    if sort == "relevance":
        # rank the conversations of the most recently indexed matches (see RANK_WINDOW), when
        # the ranking is not kept already (search_conversations)
        plan.prepare = partial(_collect_conversation_hits, conn, compiled, window=RANK_WINDOW)
        _join_hits(plan, subject)
        plan.window, plan.every_match = RANK_WINDOW, every
        return plan
    # Date order needs no score: walk conversations by their last message and keep those
    # with a matching one, until the page is full (no grouping of every hit). The candidates'
    # messages are checked against FTS5 a block at a time (kb.sqlite.walk); the EXISTS plan,
    # which probes FTS5 once a message, answers a cursor holding something other than numbers.
    plan.walk = partial(
        conversation_page,
        conn,
        where=list(plan.where),
        params=list(plan.params),
        fts=str(compiled.fts),
        message_where=list(compiled.where),
        message_params=list(compiled.params),
        subject=subject,
        with_sql=compiled.with_sql,
        with_params=list(compiled.with_params),
    )
    plan.where, plan.params = every
    return plan


def _join_hits(plan: _ConversationPlan, subject: str | None) -> None:
    """Conversations with a row in temp.conversation_hits, or a subject matching ``subject``."""
    plan.source, plan.score = "conversations c JOIN temp.conversation_hits h ON h.cid = c.id", "h.score"
    if subject is not None:
        # subject matches rank after conversations with matching messages (score 0)
        plan.source = "conversations c LEFT JOIN temp.conversation_hits h ON h.cid = c.id"
        plan.score = "coalesce(h.score, 0.0)"
        # one rowid set of both kinds: "h.cid IS NOT NULL OR c.rowid IN (...)" scanned every
        # conversation (8.7 against 0.5 ms at 25,000 conversations)
        plan.where.insert(
            0,
            "c.rowid IN (SELECT hc.rowid FROM temp.conversation_hits hh"
            f" JOIN conversations hc ON hc.id = hh.cid UNION {_SUBJECT_MATCH})",
        )
        plan.params.insert(0, subject)


def _count_broad(
    conn: sqlite3.Connection,
    compiled: CompiledQuery,
    where: list[str],
    params: list[Any],
    subject: str | None,
    exists: str,
    exists_params: list[Any],
    limit: int | None,
) -> tuple[int, Literal["eq", "gte"]]:
    """Conversations with a message matching ``compiled`` (or a matching ``subject``) and
    ``where``, counted up to ``limit``: distinct conversations of the matches, streamed, so
    counting stops after about ``limit`` x messages-per-conversation matches."""
    conversation_where = "".join(f" AND {w}" for w in where)
    message_where = "".join(f" AND {w}" for w in compiled.where)
    distinct = (
        f"SELECT DISTINCT c.rowid FROM {_FTS_SOURCE} JOIN conversations c ON c.id = m.conversation_id"
        f" WHERE message_fts MATCH ?{message_where}{conversation_where}"
    )
    with_sql = compiled.with_sql
    total, relation = _capped_count(
        conn, distinct, [*compiled.with_params, compiled.fts, *compiled.params, *params], limit, with_sql
    )
    if subject is None or relation == "gte":
        return total, relation
    # conversations found by their subject alone (few: an agent's titles)
    only_subject = f"SELECT 1 FROM conversations c WHERE c.rowid IN ({_SUBJECT_MATCH}) AND NOT {exists}"
    extra, _ = _capped_count(
        conn,
        only_subject + conversation_where,
        [*compiled.with_params, subject, *exists_params, *params],
        None,
        with_sql,
    )
    if limit is not None and total + extra > limit:
        return limit, "gte"
    return total + extra, "eq"


def _rank_window(
    conn: sqlite3.Connection,
    prepare: Callable[[], None],
    inner: str,
    params: list[Any],
    keys: list[tuple[str, str]],
) -> list[tuple[Any, ...]] | None:
    """Every row of a windowed ranking in sort order (``prepare`` fills its temp table); None
    when there are more than :data:`MAX_RANKED_ROWS` (its pages then come from SQL)."""
    prepare()
    rows = conn.execute(
        f"SELECT r, score, ts FROM ({inner}) ORDER BY {_order(keys)} LIMIT {MAX_RANKED_ROWS + 1}", params
    ).fetchall()
    return rows if len(rows) <= MAX_RANKED_ROWS else None


def _kept_whole(rows: list[tuple[Any, ...]] | None) -> bool:
    return rows is not None


def _once(work: Callable[[], None] | None) -> Callable[[], None] | None:
    """``work``, done at most once however often the result is called."""
    if work is None:
        return None
    done = False

    def run() -> None:
        nonlocal done
        if not done:
            work()
            done = True

    return run


def search_conversations(
    conn: sqlite3.Connection, request: SearchRequest, limits: SearchLimits, memo: Memo = NO_MEMO
) -> SearchResult[Conversation]:
    """Conversations matching ``request``; ``memo`` keeps what does not depend on the page (the
    total, the ranked relevance window) while the data is unchanged."""
    node: Node | None = parse_search_query(request.query, limits.budget)
    facet_names = check_facets(request.facets, CONVERSATION_FACETS)
    sort = effective_sort(request.sort, node)
    plan = _plan_conversations(conn, node, request.filters, sort, memo)
    source, with_sql = plan.source, plan.with_sql
    where_sql = " AND ".join(plan.where) or "1"
    params = [*plan.with_params, *plan.params]
    keys = [("score", "ASC"), ("ts", "DESC"), ("r", "DESC")] if sort == "relevance" else _SORT_KEYS[sort]
    inner_sql = (
        f"{with_sql}SELECT c.rowid AS r, {plan.score} AS score, c.last_ts AS ts"
        f" FROM {source} WHERE {where_sql}"
    )
    ranked, prepare = None, _once(plan.prepare)
    if prepare is not None and memo.keeps:
        ranked = partial(
            memo,
            _key("conversations ranked", plan.window, inner_sql, params, plan.key, keys),
            partial(_rank_window, conn, prepare, inner_sql, params, keys),
            _kept_whole,
        )
    walked = partial(plan.walk, request, sort) if plan.walk is not None else None
    rows, next_cursor = _page(
        conn, inner_sql, params, request, sort, keys, "conversation", ranked, prepare, walked
    )
    if plan.count is not None:
        total, relation = plan.count(request.total_limit)
    else:
        counted = f"SELECT 1 FROM {source} WHERE {where_sql}"
        total, relation = memo(
            _key("count", plan.key, with_sql, counted, params, request.total_limit),
            partial(_capped_count, conn, counted, params, request.total_limit, with_sql),
        )
    hits, unreadable = [], []
    for doc_id, doc, raw_score in rows:
        conversation = read_document(Conversation, "conversation", doc_id, doc)
        if conversation is None:
            unreadable.append(doc_id)
            continue
        marks = conversation_highlights(conversation, node) if request.highlight else {}
        hits.append(Hit(conversation.id, -float(raw_score) if raw_score else 0.0, conversation, marks))
    if plan.every_match is not None:  # aggregations count every match, not the ranked window
        source = "conversations c"
        where_sql = " AND ".join(plan.every_match[0])
        params = [*plan.with_params, *plan.every_match[1]]
    facets = {}
    for name in facet_names:
        tail = f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {FACET_SIZE}"
        if name in ("tags", "languages"):
            field_name = "tag" if name == "tags" else "lang"
            sql = (
                f"{with_sql}SELECT t.value, count(*) FROM {source}"
                f" JOIN conversation_terms t ON t.crow = c.rowid AND t.field = '{field_name}'"
                f" WHERE {where_sql} {tail}"
            )
        else:
            col = f"c.{name}"
            sql = (
                f"{with_sql}SELECT {col}, count(*) FROM {source}"
                f" WHERE {where_sql} AND {col} IS NOT NULL {tail}"
            )
        facets[name] = _buckets(conn.execute(sql, params).fetchall())
    # conversations without messages have no date (last_ts 0): they belong in no bucket
    dated = f"{where_sql} AND c.last_ts > 0"
    histogram = _histogram(conn, request.histogram, "c.last_ts", source, dated, params, with_sql)
    return SearchResult(int(total), hits, facets, histogram, next_cursor, unreadable, relation, plan.window)
