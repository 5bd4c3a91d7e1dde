"""Message search over the embedded KB (``search_messages``): hits (bm25 or date order), the
total, facets and date histograms.

Broad matches (a word in most messages) never cost a pass over every hit for a page:

* the total is counted up to ``SearchRequest.total_limit`` (``LIMIT`` stops the scan) and then
  reported as a lower bound (``total_relation="gte"``);
* a relevance page of a bare word query reads only FTS5 (rowid and bm25), no join; past
  :data:`~kb.sqlite.plans.RANK_WINDOW` matches only the most recently indexed that many are
  ranked (``SearchResult.relevance_window``);
* a date-ordered page of a broad query (more than :data:`~kb.sqlite.plans.BROAD_MATCHES` hits)
  walks the date index newest (or oldest) first and checks the rows against the matching
  rowids, stopping once the page is full. Past :data:`~kb.sqlite.plans.PROBE_MATCHES` the
  candidates are checked a block at a time, one FTS5 range scan per run of nearby rowids
  (``kb.sqlite.walk``);
* facets of more than :data:`~kb.sqlite.plans.FACET_WINDOW` matches count the most recently
  indexed that many (``SearchResult.facets_window``), unless a histogram is asked: histograms
  (trends over time) count every match, and facets beside one do too.

Narrow queries keep the direct plans (driving from the few hits), which are cheaper for them.
What it shares with the conversation search (the tuning constants, pages, capped counts) is
``kb.sqlite.plans``.
"""

from __future__ import annotations

import sqlite3
from functools import partial
from typing import Any, Literal

from hub.models import Message
from kb.base import DateHistogramBucket, FacetBucket, Hit, SearchRequest, SearchResult
from kb.common import MESSAGE_FACETS, check_facets, read_document
from kb.limits import SearchLimits, parse_search_query
from kb.search_rules import effective_sort, message_highlights
from kb.sqlite import plans
from kb.sqlite.cache import NO_MEMO, Memo
from kb.sqlite.facets import aggregate_messages
from kb.sqlite.query import compile_message_query
from kb.sqlite.walk import message_page

__all__ = ["search_messages"]


def search_messages(
    conn: sqlite3.Connection, request: SearchRequest, limits: SearchLimits, memo: Memo = NO_MEMO
) -> SearchResult[Message]:
    """Messages matching ``request``; ``memo`` keeps what does not depend on the page (the
    total, the ranked relevance window, facets and histogram) while the data is unchanged."""
    node = parse_search_query(request.query, limits.budget)
    facet_names = check_facets(request.facets, MESSAGE_FACETS)
    compiled = compile_message_query(
        node, request.filters, memo(("analyses",), partial(plans.analyses, conn))
    )
    if compiled.fts:
        source, score = plans.FTS_SOURCE, plans.BM25
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
        plans.key("count", with_sql, counted, params, request.total_limit),
        partial(plans.capped_count, conn, counted, params, request.total_limit, with_sql),
    )
    inner = (
        f"{with_sql}SELECT {rowid} AS r, {score} AS score, m.created_ts AS ts FROM {source} WHERE {where_sql}"
    )
    window = None
    ranked = None
    walked = None
    if (
        sort == "relevance"
        and source == plans.FTS_SOURCE
        and (relation == "gte" or total > plans.RANK_WINDOW)
    ):
        # rank the most recently indexed matches only: FTS5 walks its doclists newest first
        # and stops after the window, so bm25 is computed for RANK_WINDOW rows, not every hit
        window = plans.RANK_WINDOW
        if not bare_match:
            newest = (
                f"SELECT m.rowid AS r, {plans.BM25} AS score, m.created_ts AS ts"
                f" FROM {source} WHERE {where_sql} ORDER BY message_fts.rowid DESC"
            )
        else:
            newest = "SELECT rowid AS r, rank AS score, 0.0 AS ts FROM message_fts WHERE message_fts MATCH ?"
            newest += " ORDER BY rowid DESC"
        inner = f"{with_sql}SELECT r, score, ts FROM ({newest} LIMIT {plans.RANK_WINDOW})"
        if memo.keeps:  # the whole window in rank order, kept: every page is a slice of it
            everything = f"SELECT r, score, ts FROM ({inner}) ORDER BY {plans.order(plans.SORT_KEYS[sort])}"
            fetch = partial(_fetch_all, conn, everything, params)
            ranked = partial(memo, plans.key("ranked", everything, params), fetch)
    elif bare_match and sort == "relevance":
        # ranking reads FTS5 alone (rowid and bm25): no join for hits that are not shown
        inner = (
            f"SELECT rowid AS r, {plans.BM25} AS score, 0.0 AS ts FROM message_fts WHERE message_fts MATCH ?"
        )
    elif (
        source == plans.FTS_SOURCE
        and sort != "relevance"
        and plans.fts_only(compiled)
        and _broad(total, relation)
    ):
        # walk the date index and test each message, stopping once the page is full: about
        # (messages / matches) x page rows, instead of sorting every hit
        if relation == "gte" or total >= plans.PROBE_MATCHES:
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
    rows, next_cursor = plans.page(
        conn, inner, params, request, sort, plans.SORT_KEYS[sort], "message", ranked, walked=walked
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
            plans.key(
                "aggregations",
                plans.FACET_WINDOW,
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
    if not interval and _matches_more_than(
        conn, plans.FACET_WINDOW, counted, params, with_sql, total, relation
    ):
        facets_window = plans.FACET_WINDOW
        # FTS5 walks its doclists newest first and stops after the window
        newest_first = "message_fts.rowid" if source == plans.FTS_SOURCE else "m.rowid"
        newest = f" ORDER BY {newest_first} DESC LIMIT {plans.FACET_WINDOW}"
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
    return plans.capped_count(conn, counted, params, n, with_sql)[1] == "gte"


def _broad(total: int, relation: str) -> bool:
    return relation == "gte" or total > plans.BROAD_MATCHES
