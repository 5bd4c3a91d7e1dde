"""Facets and the date histogram of a message search, counted in one statement.

The matches are read once - the MATCH run and each hit joined to ``messages`` once - into a
materialized common table expression ``matched`` of the columns the aggregations read, and
every facet and the histogram is one member of a ``UNION ALL`` over it. No hit is scored for a
count. Before, the matches went into a temp table of every faceted column, dropped and created
again on every search, then each facet was a statement of its own (measured for two facets
of the newest 5,000 matches of 100,000 messages: 5.4 ms then, 3.8 ms in one statement).

Each facet answers, as before, its :data:`kb.common.FACET_SIZE` most frequent values, most
frequent first, then by value (SQLite's ``BINARY`` order: UTF-8 bytes, the order of code points,
which is Python's order of ``str``); the histogram counts every match per interval.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from kb.base import DateHistogramBucket, FacetBucket
from kb.common import FACET_SIZE, fill_histogram

__all__ = ["BUCKETS", "CONVERSATION_COLUMNS", "MESSAGE_COLUMNS", "MESSAGE_TERMS", "aggregate_messages"]

#: the SQL of an interval's bucket (an ISO date) of a unix time ``{ts}``
BUCKETS = {
    "hour": "strftime('%Y-%m-%dT%H:00:00', {ts}, 'unixepoch')",
    "day": "date({ts}, 'unixepoch')",
    "week": "date({ts}, 'unixepoch', 'weekday 0', '-6 days')",
    "month": "strftime('%Y-%m-01', {ts}, 'unixepoch')",
}
#: message facets that are columns of ``messages m`` (the same names in ``matched``)
MESSAGE_COLUMNS = {
    "channel": "m.channel",
    "account": "m.account",
    "language": "m.language",
    "sentiment_label": "m.sentiment_label",
    "intent": "m.intent",
    "direction": "m.direction",
    "authors": "m.author_id",
}
#: message facets kept in ``message_terms``: the facet's name -> the terms' field
MESSAGE_TERMS = {"entities": "entity", "hashtags": "hashtag", "mentions": "mention", "sites": "site"}
#: message facets that are columns of the message's conversation
CONVERSATION_COLUMNS = {"status": "status", "assignee": "assignee", "queue": "queue", "priority": "priority"}

_TOP = f"GROUP BY 2 ORDER BY 3 DESC, 2 LIMIT {FACET_SIZE}"
_CONVERSATION = "matched m JOIN conversations c ON c.id = m.conversation_id"


def _facet_sql(index: int, name: str) -> str:
    """The (index, value, count) rows of facet ``name`` over ``matched m``: its top values."""
    if name in MESSAGE_COLUMNS:
        column = MESSAGE_COLUMNS[name]
        return f"SELECT {index}, {column}, count(*) FROM matched m WHERE {column} IS NOT NULL {_TOP}"
    if name in MESSAGE_TERMS:
        return (
            f"SELECT {index}, t.value, count(*) FROM message_terms t WHERE t.field = '{MESSAGE_TERMS[name]}'"
            f" AND t.mrow IN (SELECT m.r FROM matched m) {_TOP}"
        )
    if name == "tags":
        return (
            f"SELECT {index}, t.value, count(*) FROM {_CONVERSATION} JOIN conversation_terms t"
            f" ON t.crow = c.rowid AND t.field = 'tag' {_TOP}"
        )
    column = f"c.{CONVERSATION_COLUMNS[name]}"
    return f"SELECT {index}, {column}, count(*) FROM {_CONVERSATION} WHERE {column} IS NOT NULL {_TOP}"


def _matched_columns(facet_names: tuple[str, ...], interval: str | None) -> list[str]:
    """What ``matched`` keeps of each match: only the columns the aggregations read."""
    columns = ["m.rowid AS r"]
    if interval is not None:
        columns.append("m.created_ts AS created_ts")
    if any(name not in MESSAGE_COLUMNS and name not in MESSAGE_TERMS for name in facet_names):
        columns.append("m.conversation_id AS conversation_id")
    for name in facet_names:
        column = MESSAGE_COLUMNS.get(name)
        if column is not None:
            as_named = f"{column} AS {column.removeprefix('m.')}"
            if as_named not in columns:
                columns.append(as_named)
    return columns


def aggregate_messages(
    conn: sqlite3.Connection,
    facet_names: tuple[str, ...],
    interval: str | None,
    matches: tuple[str, str, list[Any], str],
    newest: str = "",
) -> tuple[dict[str, list[FacetBucket]], list[DateHistogramBucket]]:
    """The facets ``facet_names`` and the ``interval`` histogram (none if None) of the messages
    ``m`` of ``matches``: (source, where, params, row sets - "" or ``WITH ...``, as
    ``CompiledQuery.with_sql``), limited by ``newest`` (an ``ORDER BY ... LIMIT`` of them, or "")."""
    if not facet_names and interval is None:
        return {}, []
    source, where_sql, params, with_sql = matches
    members = [_facet_sql(index, name) for index, name in enumerate(facet_names)]
    histogram_index = len(facet_names)
    if interval is not None:
        bucket = BUCKETS[interval].format(ts="m.created_ts")
        members.append(f"SELECT {histogram_index}, {bucket}, count(*) FROM matched m GROUP BY 2")
    # the query's own row sets (``WITH q0(r) AS (...), ...``) come first: ``matched`` reads them
    opening = f"{with_sql.rstrip()}, " if with_sql else "WITH "
    matched = (
        f"matched AS MATERIALIZED (SELECT {', '.join(_matched_columns(facet_names, interval))}"
        f" FROM {source} WHERE {where_sql}{newest})"
    )
    # each member a subquery: its ORDER BY and LIMIT apply to it alone
    sql = f"{opening}{matched} " + " UNION ALL ".join(f"SELECT * FROM ({member})" for member in members)
    counted: dict[int, list[tuple[Any, int]]] = {}
    for index, value, count in conn.execute(sql, params):
        counted.setdefault(index, []).append((value, int(count)))
    facets = {}
    for index, name in enumerate(facet_names):
        # the members' rows in their own order whatever order UNION ALL gives them in
        top = sorted(counted.get(index, []), key=lambda bucket: (-bucket[1], bucket[0]))
        facets[name] = [FacetBucket(str(value), count) for value, count in top]
    histogram: list[DateHistogramBucket] = []
    if interval is not None:
        counts = {
            datetime.fromisoformat(start).replace(tzinfo=UTC): count
            for start, count in counted.get(histogram_index, [])
            if start
        }
        histogram = fill_histogram(counts, interval)
    return facets, histogram
