"""The /search resource: messages matching a listening query, with highlights, facets and a histogram.

A query the user got wrong is a 400 whose detail says where and what was expected
(``{"message", "position", "expected"}``); an unknown facet or a stale cursor is a 400 too, and
so is a query over the cost budget or one stopped at the deadline (``kb.limits``).
Totals are exact up to :data:`TOTAL_LIMIT` and marked ``total_relation: "gte"`` past it.
The KB raises these as ``hub.errors.InvalidInput`` and the error edge (:mod:`api.errors`)
answers them; anything else the KB raises is a fault of ours (500), never the user's query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from api.deps import MAX_KB_OFFSET, Instant, KBDep, require_viewer, split_multi
from api.errors import error_responses
from api.responses import model_json
from hub.models import Message
from kb.base import SearchFilters, SearchRequest

router = APIRouter(
    tags=["search"], responses=error_responses(400, 503), dependencies=[Depends(require_viewer)]
)


#: messages a search counts exactly; past this the total is a lower bound ("gte")
TOTAL_LIMIT = 10_000


class SearchHit(BaseModel):
    id: str
    score: float
    message: Message
    #: field -> fragments, matches wrapped in <mark>...</mark> (the rest HTML-escaped)
    highlights: dict[str, list[str]]


class FacetCount(BaseModel):
    value: str
    count: int


class HistogramCount(BaseModel):
    start: datetime
    count: int


class SearchResponse(BaseModel):
    #: matches, counted exactly up to 10,000; past that a lower bound (see total_relation)
    total: int
    #: "eq": total is exact; "gte": at least total messages match (counting stopped there)
    total_relation: Literal["eq", "gte"] = "eq"
    #: set when so many messages matched that relevance ranked only this many, the most
    #: recently indexed (pages end with them); sort=newest or oldest reaches every match
    relevance_window: int | None = None
    #: set when so many messages matched that facets counted only this many, the most recently
    #: indexed (facet counts are then shares of the match, not totals); histograms count all
    facets_window: int | None = None
    hits: list[SearchHit]
    facets: dict[str, list[FacetCount]]
    histogram: list[HistogramCount]
    next_cursor: str | None = None


@router.get("/search", response_model=SearchResponse)
def search(
    kb: KBDep,
    q: str = Query(default="", description='listening query: refund "money back" -spam channel:twitter'),
    channel: list[str] | None = Query(default=None),
    lang: list[str] | None = Query(default=None),
    sentiment: list[str] | None = Query(default=None),
    status: list[str] | None = Query(default=None),
    tag: list[str] | None = Query(default=None),
    assignee: list[str] | None = Query(default=None),
    intent: list[str] | None = Query(default=None),
    direction: Literal["in", "out"] | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
    sort: Literal["relevance", "newest", "oldest"] = "relevance",
    limit: int = Query(default=20, ge=0, le=200),
    offset: int = Query(default=0, ge=0, le=MAX_KB_OFFSET, description="deeper pages follow next_cursor"),
    cursor: str | None = None,
    facets: str = Query(default="", description="comma-separated: channel,language,sentiment_label,..."),
    histogram: Literal["hour", "day", "week", "month"] | None = None,
) -> Response:
    """Messages matching ``q`` and the filters, best first (or newest/oldest)."""
    request = SearchRequest(
        query=q,
        filters=SearchFilters(
            channels=split_multi(channel),
            languages=split_multi(lang),
            sentiment_labels=split_multi(sentiment),
            statuses=split_multi(status),
            tags=split_multi(tag),
            assignees=split_multi(assignee),
            intents=split_multi(intent),
            direction=direction,
            since=since,
            until=until,
        ),
        limit=limit,
        offset=offset,
        cursor=cursor or None,
        sort=sort,
        facets=tuple(split_multi([facets]) or ()),
        histogram=histogram,
        total_limit=TOTAL_LIMIT,
    )
    result = kb.search_messages(request)
    answer = SearchResponse(
        total=result.total,
        total_relation=result.total_relation,
        relevance_window=result.relevance_window,
        facets_window=result.facets_window,
        hits=[
            SearchHit(id=h.id, score=h.score, message=h.document, highlights=h.highlights)
            for h in result.hits
        ],
        facets={
            name: [FacetCount(value=b.value, count=b.count) for b in buckets]
            for name, buckets in result.facets.items()
        },
        histogram=[HistogramCount(start=b.start, count=b.count) for b in result.histogram],
        next_cursor=result.next_cursor,
    )
    return model_json(answer)  # built from validated parts: no second validation
