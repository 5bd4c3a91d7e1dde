"""Search requests against the Elasticsearch indices: hits, highlights, facets, histograms.

Messages page with ``search_after`` on (score or date, id). A conversation search with a query
first ranks conversations by their best matching message (a ``terms`` aggregation on
``conversation_id`` ordered by max score, capped at :data:`MAX_CONVERSATION_MATCHES`), then
filters, counts and facets those conversations in the conversations index; its cursor is an
opaque offset.

What a search means - which filters apply to messages or conversations, when relevance falls
back to newest, when subjects match, which fields are highlighted and how - is stated in
``kb.search_rules``, shared with the embedded backend; this module only says how Elasticsearch
runs it. Highlights come from the shared highlighter over the returned documents, so both
backends mark the same words in the same fragments.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from elasticsearch import Elasticsearch

from hub.errors import InvalidInput
from hub.models import Conversation, Message
from kb.base import FacetBucket, Hit, SearchFilters, SearchRequest, SearchResult
from kb.common import (
    CONVERSATION_FACETS,
    FACET_SIZE,
    MESSAGE_FACETS,
    CursorError,
    check_facets,
    decode_cursor,
    encode_cursor,
    fill_histogram,
    page_limit,
    read_document,
)
from kb.elasticsearch.deadline import TimedRequests
from kb.elasticsearch.query import compile_node, conversation_filters, message_filters
from kb.limits import Deadline, SearchLimits, parse_search_query
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

__all__ = ["MAX_CONVERSATION_MATCHES", "search_conversations", "search_messages"]

MAX_WINDOW = 10_000
MAX_CONVERSATION_MATCHES = 10_000

_MESSAGE_FACET_FIELDS = {
    "channel": "channel",
    "account": "account",
    "language": "language",
    "sentiment_label": "sentiment_label",
    "intent": "intent",
    "direction": "direction",
    "authors": "author_id",
    "entities": "f_entity",
    "hashtags": "f_hashtag",
    "mentions": "f_mention",
    "sites": "f_site",
    "status": "conv_status",
    "assignee": "conv_assignee",
    "queue": "conv_queue",
    "tags": "conv_tag",
}
_CONVERSATION_FACET_FIELDS = {
    "channel": "channel",
    "account": "account",
    "status": "status",
    "assignee": "assignee",
    "queue": "queue",
    "priority": "priority",
    "tags": "f_tag",
    "languages": "languages",
}


def _aggs(facets: tuple[str, ...], fields: dict[str, str], histogram: str | None, date: str) -> Any:
    aggs: dict[str, Any] = {}
    for name in facets:
        aggs[f"f_{name}"] = {
            "terms": {
                "field": fields[name],
                "size": FACET_SIZE,
                "order": [{"_count": "desc"}, {"_key": "asc"}],
            }
        }
    if histogram:
        aggs["histogram"] = {
            "date_histogram": {
                "field": date,
                "calendar_interval": histogram,
                "time_zone": "UTC",
                "min_doc_count": 0,
            }
        }
    return aggs


def _read_aggs(response: Any, facets: Any, histogram: str | None) -> tuple[dict[str, list[FacetBucket]], Any]:
    aggs = response.get("aggregations", {})
    out = {
        name: [FacetBucket(str(b["key"]), int(b["doc_count"])) for b in aggs[f"f_{name}"]["buckets"]]
        for name in facets
    }
    buckets: Any = []
    if histogram:
        counts = {
            datetime.fromisoformat(b["key_as_string"].replace("Z", "+00:00")): int(b["doc_count"])
            for b in aggs["histogram"]["buckets"]
        }
        buckets = fill_histogram(counts, histogram)
    return out, buckets


def _window(request: SearchRequest) -> tuple[int, int]:
    limit = page_limit(request.limit)
    if request.offset + limit > MAX_WINDOW:
        raise InvalidInput(f"offset paging stops at {MAX_WINDOW} hits; page with the cursor instead")
    return limit, max(0, request.offset)


def search_messages(
    client: Elasticsearch, index: str, request: SearchRequest, limits: SearchLimits
) -> SearchResult[Message]:
    node = parse_search_query(request.query, limits.budget)
    facet_names = check_facets(request.facets, MESSAGE_FACETS)
    timed = TimedRequests(client, Deadline(limits.deadline_s))
    limit, offset = _window(request)
    sort_name = effective_sort(request.sort, node)
    sort = {
        "relevance": [{"_score": "desc"}, {"id": "asc"}],
        "newest": [{"created_at": "desc"}, {"id": "desc"}],
        "oldest": [{"created_at": "asc"}, {"id": "asc"}],
    }[sort_name]
    body: dict[str, Any] = {
        "query": {
            "bool": {
                "must": [compile_node(node)] if node is not None else [{"match_all": {}}],
                "filter": message_filters(request.filters),
            }
        },
        "sort": sort,
        "size": limit + 1 if limit else 0,
        "track_total_hits": _track_total_hits(request),
        "source": {"includes": ["doc"]},
        "aggs": _aggs(facet_names, _MESSAGE_FACET_FIELDS, request.histogram, "created_at"),
    }
    if request.cursor:
        body["search_after"] = decode_cursor(request.cursor, sort_name, length=len(sort))
    elif offset:
        body["from_"] = offset
    response = timed.search(index=index, **body)
    raw_hits = response["hits"]["hits"]
    next_cursor = None
    if limit and len(raw_hits) > limit:
        raw_hits = raw_hits[:limit]
        next_cursor = encode_cursor(sort_name, list(raw_hits[-1]["sort"]))
    hits, unreadable = [], []
    for hit in raw_hits:
        message = read_document(Message, "message", hit["_id"], hit["_source"].get("doc"))
        if message is None:  # logged; the rest of the page is served
            unreadable.append(hit["_id"])
            continue
        # the one highlighter both backends use (kb.search_rules), not Elasticsearch's own
        marks = message_highlights(message, node) if request.highlight else {}
        score = float(hit.get("_score") or 0.0) if sort_name == "relevance" else 0.0
        hits.append(Hit(hit["_id"], score, message, marks))
    facets, histogram = _read_aggs(response, facet_names, request.histogram)
    total, relation = _total(response, request.total_limit)
    return SearchResult(total, hits, facets, histogram, next_cursor, unreadable, relation)


def _track_total_hits(request: SearchRequest) -> bool | int:
    """``track_total_hits`` for the request's ``total_limit`` (True: count every hit)."""
    return True if request.total_limit is None else max(0, request.total_limit)


def _total(response: Any, limit: int | None, *, capped: bool = False) -> tuple[int, Literal["eq", "gte"]]:
    """(total, relation) from a response's ``hits.total``, as the embedded backend reports it:
    at most ``limit``, "gte" once counting stopped there (or ``capped``: fewer were looked at)."""
    found = response["hits"]["total"]
    total, relation = int(found["value"]), found.get("relation", "eq")
    if limit is not None and total > limit:
        total, relation = limit, "gte"
    return total, "gte" if relation == "gte" or capped else "eq"


#: how the conversations found through messages are ranked (and which the cap keeps), by sort
_CONVERSATION_RANKS: dict[str, tuple[dict[str, Any], str]] = {
    # the best score of a conversation's matching messages ...
    "relevance": ({"max": {"script": {"source": "_score"}}}, "desc"),
    # ... or, with nothing to score, its latest matching message: a plain doc-values max, no
    # script and no scoring, and the conversations the cap keeps are the most recent ones
    "newest": ({"max": {"field": "created_at"}}, "desc"),
    "oldest": ({"max": {"field": "created_at"}}, "asc"),
}


def _matching_conversations(
    timed: TimedRequests, index: str, node: Node | None, filters: SearchFilters, sort_name: str
) -> dict[str, float]:
    """conversation id -> best score of its messages matching ``node`` and ``filters`` (the
    message-level part of a conversation search's filters); at most
    :data:`MAX_CONVERSATION_MATCHES`, the best for ``sort_name``. Scores are 0 unless it is
    ``relevance``: then the query scores, otherwise it runs as a (cacheable) filter."""
    rank, direction = _CONVERSATION_RANKS[sort_name]
    match = [compile_node(node)] if node is not None else []
    clauses = {"must": match, "filter": message_filters(filters)}
    if sort_name != "relevance":
        clauses = {"filter": match + message_filters(filters)}
    response = timed.search(
        index=index,
        query={"bool": clauses},
        size=0,
        track_total_hits=False,  # only the buckets are read
        aggs={
            "conversations": {
                "terms": {
                    "field": "conversation_id",
                    "size": MAX_CONVERSATION_MATCHES,
                    "order": [{"rank": direction}, {"_key": "asc"}],
                },
                "aggs": {"rank": rank},
            }
        },
    )
    relevance = sort_name == "relevance"
    return {
        b["key"]: float(b["rank"]["value"] or 0.0) if relevance else 0.0
        for b in response["aggregations"]["conversations"]["buckets"]
    }


def search_conversations(
    client: Elasticsearch, messages_index: str, index: str, request: SearchRequest, limits: SearchLimits
) -> SearchResult[Conversation]:
    node = parse_search_query(request.query, limits.budget)
    facet_names = check_facets(request.facets, CONVERSATION_FACETS)
    timed = TimedRequests(client, Deadline(limits.deadline_s))
    limit, offset = _window(request)
    f = request.filters
    sort_name = effective_sort(request.sort, node)
    if request.cursor:
        (offset,) = decode_cursor(request.cursor, sort_name, length=1)
        if not isinstance(offset, int) or offset < 0:
            raise CursorError("invalid cursor")
    scores: dict[str, float] | None = None
    if node is not None or has_message_level_filters(f):
        scores = _matching_conversations(timed, messages_index, node, message_level(f), sort_name)
    filters = conversation_filters(conversation_level(f))
    by_subject = node is not None and matches_subjects(node, f)
    if scores is not None:
        matched: dict[str, Any] = {"ids": {"values": list(scores)}}
        if node is not None and by_subject:
            # subject matches score 0: they rank after conversations with matching messages
            subject = compile_node(node, fields=("subject",))
            matched = {"bool": {"should": [matched, subject], "minimum_should_match": 1}}
        filters.append(matched)
    date_sort = [
        {"last_message_at": {"order": "desc" if sort_name != "oldest" else "asc", "missing": "_last"}}
    ]
    by_score = sort_name == "relevance" and scores is not None
    # Ranked by score, every candidate's id is fetched and ranked here: as many as matched
    # through messages, and up to the cap when subjects match too (those are found only now).
    ranked = MAX_CONVERSATION_MATCHES if by_subject else min(len(scores or {}), MAX_CONVERSATION_MATCHES)
    response = timed.search(
        index=index,
        query={"bool": {"filter": filters}},
        sort=[*date_sort, {"id": "desc" if sort_name != "oldest" else "asc"}],
        size=ranked if by_score else (limit + 1 if limit else 0),
        from_=0 if by_score else offset,
        # ranking by score reads every candidate anyway; otherwise count up to the limit
        track_total_hits=True if by_score else _track_total_hits(request),
        # ranking needs ids only: no _source to load and parse for thousands of hits
        source=False if by_score else {"includes": ["doc"]},
        aggs=_aggs(facet_names, _CONVERSATION_FACET_FIELDS, request.histogram, "last_message_at"),
    )
    raw = response["hits"]["hits"]
    if by_score and scores is not None:
        ordered = sorted(raw, key=lambda h: -scores.get(h["_id"], 0.0))  # stable: date order breaks ties
        page_ids = [h["_id"] for h in ordered[offset : offset + limit + 1]]
        docs = timed.mget(index=index, ids=page_ids, source=["doc"])["docs"] if page_ids else []
        raw = [{"_id": d["_id"], "_source": d["_source"]} for d in docs if d.get("found")]
    next_cursor = encode_cursor(sort_name, [offset + limit]) if limit and len(raw) > limit else None
    hits, unreadable = [], []
    for h in raw[:limit]:
        conversation = read_document(Conversation, "conversation", h["_id"], h["_source"].get("doc"))
        if conversation is None:
            unreadable.append(h["_id"])
            continue
        marks = conversation_highlights(conversation, node) if request.highlight else {}
        score = (scores or {}).get(h["_id"], 0.0) if sort_name == "relevance" else 0.0
        hits.append(Hit(h["_id"], score, conversation, marks))
    facets, histogram = _read_aggs(response, facet_names, request.histogram)
    # more conversations matched through messages than the aggregation keeps: a lower bound
    capped = scores is not None and len(scores) >= MAX_CONVERSATION_MATCHES
    total, relation = _total(response, request.total_limit, capped=capped)
    return SearchResult(total, hits, facets, histogram, next_cursor, unreadable, relation)
