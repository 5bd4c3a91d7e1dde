"""Conversation search over the embedded KB (``search_conversations``): conversations with a
message matching the query (or a matching subject, ``kb.search_rules``), in bm25 or date
order, the total, facets and date histograms.

Matching messages are grouped per conversation (temp.conversation_hits, best score each) once
a search. Broad matches (a word in most messages) never cost a pass over every hit for a page:

* the total is counted up to ``SearchRequest.total_limit`` and then reported as a lower bound
  (``total_relation="gte"``): distinct conversations of the matches, streamed;
* a relevance page of more than :data:`~kb.sqlite.plans.RANK_WINDOW` matching messages ranks
  the conversations of the most recently indexed that many (``SearchResult.relevance_window``);
  facets and histograms still count every matching conversation;
* a date-ordered page of a broad query (more than :data:`~kb.sqlite.plans.BROAD_MATCHES`
  matching messages) walks conversations by ``last_message_at`` and keeps those with a
  matching message, instead of grouping every matching message per conversation on every
  request; the candidates' messages are checked a block at a time (``kb.sqlite.walk``).

Narrow queries keep the direct plans (driving from the few hits), which are cheaper for them.
What it shares with the message search (the tuning constants, pages, capped counts) is
``kb.sqlite.plans``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from hub.models import Conversation
from kb.base import Hit, SearchFilters, SearchRequest, SearchResult
from kb.common import CONVERSATION_FACETS, FACET_SIZE, check_facets, read_document
from kb.limits import SearchLimits, parse_search_query
from kb.query import Node
from kb.search_rules import (
    conversation_highlights,
    conversation_level,
    effective_sort,
    has_message_level_filters,
    matches_subjects,
    message_level,
)
from kb.sqlite import plans
from kb.sqlite.cache import NO_MEMO, Memo
from kb.sqlite.query import CompiledQuery, compile_message_query, conversation_filter_sql
from kb.sqlite.ranked import MAX_RANKED_ROWS
from kb.sqlite.walk import conversation_page

__all__ = ["search_conversations"]


def _collect_conversation_hits(
    conn: sqlite3.Connection, compiled: CompiledQuery, window: int | None = None
) -> None:
    """Fill temp.conversation_hits (cid, best score) from the messages matching ``compiled``
    (the query and the message-level filters); with ``window``, from the most recently
    indexed ``window`` of them only.

    Page, count and facets all need this grouping, so it is computed once per search.
    """
    if compiled.fts:
        source, score = plans.FTS_SOURCE, plans.BM25
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
        counted = (
            f"SELECT 1 FROM {plans.FTS_SOURCE} WHERE message_fts MATCH ? AND {' AND '.join(compiled.where)}"
        )
        params = [*compiled.with_params, compiled.fts, *compiled.params]
    else:
        counted = f"SELECT 1 FROM messages m WHERE {' AND '.join(compiled.where) or '1'}"
        params = [*compiled.with_params, *compiled.params]
    return plans.capped_count(conn, counted, params, limit, compiled.with_sql if compiled.where else "")


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
    analyses = memo(("analyses",), partial(plans.analyses, conn))
    compiled = compile_message_query(node, message_level(f), analyses)
    by_subject = node is not None and matches_subjects(node, f)
    subject = plans.subject_expression(node, analyses) if by_subject else None
    plan.key = plans.key(
        compiled.with_sql, compiled.with_params, compiled.fts, compiled.where, compiled.params
    )
    limit = max(plans.BROAD_MATCHES, plans.RANK_WINDOW)
    matched, relation = memo(
        plans.key("matching messages", plan.key, limit), partial(_matching_messages, conn, compiled, limit)
    )
    many = relation == "gte" or matched > (plans.RANK_WINDOW if sort == "relevance" else plans.BROAD_MATCHES)
    if not many or not compiled.fts or not plans.fts_only(compiled):
        # few matches (or an ordered NEAR to check): group them all per conversation
        _collect_conversation_hits(conn, compiled)
        _join_hits(plan, subject)
        return plan
    exists, exists_params = _has_match(compiled)
    count = partial(
        _count_broad, conn, compiled, list(plan.where), list(plan.params), subject, exists, exists_params
    )
    count_key = plans.key("conversations", plan.key, plan.where, plan.params, subject)
    plan.count = lambda limit: memo((*count_key, limit), partial(count, limit))
    plan.with_sql, plan.with_params = compiled.with_sql, list(compiled.with_params)
    if subject is not None:
        exists = f"({exists} OR c.rowid IN ({plans.SUBJECT_MATCH}))"
        exists_params = [*exists_params, subject]
    every = ([exists, *plan.where], [*exists_params, *plan.params])
    if sort == "relevance":
        # rank the conversations of the most recently indexed matches (see RANK_WINDOW in
        # kb.sqlite.plans), when the ranking is not kept already (search_conversations)
        plan.prepare = partial(_collect_conversation_hits, conn, compiled, window=plans.RANK_WINDOW)
        _join_hits(plan, subject)
        plan.window, plan.every_match = plans.RANK_WINDOW, every
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
            f" JOIN conversations hc ON hc.id = hh.cid UNION {plans.SUBJECT_MATCH})",
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
        f"SELECT DISTINCT c.rowid FROM {plans.FTS_SOURCE} JOIN conversations c ON c.id = m.conversation_id"
        f" WHERE message_fts MATCH ?{message_where}{conversation_where}"
    )
    with_sql = compiled.with_sql
    total, relation = plans.capped_count(
        conn, distinct, [*compiled.with_params, compiled.fts, *compiled.params, *params], limit, with_sql
    )
    if subject is None or relation == "gte":
        return total, relation
    # conversations found by their subject alone (few: an agent's titles)
    only_subject = f"SELECT 1 FROM conversations c WHERE c.rowid IN ({plans.SUBJECT_MATCH}) AND NOT {exists}"
    extra, _ = plans.capped_count(
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
        f"SELECT r, score, ts FROM ({inner}) ORDER BY {plans.order(keys)} LIMIT {MAX_RANKED_ROWS + 1}", params
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
    keys = [("score", "ASC"), ("ts", "DESC"), ("r", "DESC")] if sort == "relevance" else plans.SORT_KEYS[sort]
    inner_sql = (
        f"{with_sql}SELECT c.rowid AS r, {plan.score} AS score, c.last_ts AS ts"
        f" FROM {source} WHERE {where_sql}"
    )
    ranked, prepare = None, _once(plan.prepare)
    if prepare is not None and memo.keeps:
        ranked = partial(
            memo,
            plans.key("conversations ranked", plan.window, inner_sql, params, plan.key, keys),
            partial(_rank_window, conn, prepare, inner_sql, params, keys),
            _kept_whole,
        )
    walked = partial(plan.walk, request, sort) if plan.walk is not None else None
    rows, next_cursor = plans.page(
        conn, inner_sql, params, request, sort, keys, "conversation", ranked, prepare, walked
    )
    if plan.count is not None:
        total, relation = plan.count(request.total_limit)
    else:
        counted = f"SELECT 1 FROM {source} WHERE {where_sql}"
        total, relation = memo(
            plans.key("count", plan.key, with_sql, counted, params, request.total_limit),
            partial(plans.capped_count, conn, counted, params, request.total_limit, with_sql),
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
        facets[name] = plans.buckets(conn.execute(sql, params).fetchall())
    # conversations without messages have no date (last_ts 0): they belong in no bucket
    dated = f"{where_sql} AND c.last_ts > 0"
    histogram = plans.histogram(conn, request.histogram, "c.last_ts", source, dated, params, with_sql)
    return SearchResult(int(total), hits, facets, histogram, next_cursor, unreadable, relation, plan.window)
