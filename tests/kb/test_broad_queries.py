"""Broad matches on every backend: capped totals say so, and pages stay exactly right.

A word in most messages takes the backends' broad-match plans (the embedded one walks its date
indexes past ``kb.sqlite.plans.BROAD_MATCHES`` hits instead of sorting them all); every page
must still hold exactly the matching messages and conversations, in order, and a total counted
only up to ``SearchRequest.total_limit`` must be marked as a lower bound.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from hub.models import Conversation, Message
from kb.base import KnowledgeBase, SearchFilters, SearchRequest
from kb.sqlite.plans import BROAD_MATCHES

START = datetime(2026, 3, 1, tzinfo=UTC)
MESSAGES_N = BROAD_MATCHES + 500
CHANNELS = ("email", "twitter", "sms")


def _corpus() -> tuple[list[Message], list[Conversation]]:
    rng = random.Random(5)
    messages: list[Message] = []
    for i in range(MESSAGES_N):
        words = ["coffee"] + (["machine"] if i % 3 else ["grinder"]) + (["leak"] if i % 7 == 0 else [])
        rng.shuffle(words)
        messages.append(
            Message(
                channel=CHANNELS[i % 3],
                native_id=f"b{i}",
                conversation_id=f"cnv_b{i // 4}",
                text=" ".join(words),
                language="en",
                created_at=START + timedelta(minutes=i * 3 + rng.randint(0, 2)),  # distinct times
            )
        )
    conversations = []
    for start in range(0, MESSAGES_N, 4):
        group = messages[start : start + 4]
        conversations.append(
            Conversation(
                id=str(group[0].conversation_id),
                channel=group[-1].channel,
                subject=f"thread {start}",
                first_message_at=group[0].created_at,
                last_message_at=group[-1].created_at,
                message_count=len(group),
                status="resolved" if start % 8 == 0 else "open",
            )
        )
    return messages, conversations


MESSAGES, CONVERSATIONS = _corpus()


@pytest.fixture
def broad_kb(empty_kb: KnowledgeBase) -> KnowledgeBase:
    for at in range(0, len(MESSAGES), 500):
        empty_kb.upsert_messages(MESSAGES[at : at + 500])
    empty_kb.upsert_conversations(CONVERSATIONS)
    empty_kb.refresh()
    return empty_kb


def _walk(kb: KnowledgeBase, request: SearchRequest, *, conversations: bool = False) -> list[str]:
    """Every hit id of ``request``, page after page by cursor."""
    ids: list[str] = []
    cursor = None
    for _ in range(200):
        page_request = SearchRequest(**{**request.__dict__, "cursor": cursor})
        result = kb.search_conversations(page_request) if conversations else kb.search_messages(page_request)
        ids += [hit.id for hit in result.hits]
        cursor = result.next_cursor
        if cursor is None:
            return ids
    raise AssertionError("the cursor never ended")


def _newest(messages: list[Message]) -> list[str]:
    return [m.id for m in sorted(messages, key=lambda m: m.created_at, reverse=True)]


@pytest.mark.parametrize("query", ["coffee", "coffee -leak", "machine", "coffee channel:sms"])
def test_date_ordered_message_pages_hold_exactly_the_matches(broad_kb: KnowledgeBase, query: str) -> None:
    words = set(query.split())
    wanted = [
        m
        for m in MESSAGES
        if all(w in m.text.split() for w in words if not w.startswith("-") and ":" not in w)
        and not any(w[1:] in m.text.split() for w in words if w.startswith("-"))
        and ("channel:sms" not in words or m.channel == "sms")
    ]
    request = SearchRequest(query=query, sort="newest", limit=100, highlight=False)
    assert _walk(broad_kb, request) == _newest(wanted)
    oldest = SearchRequest(query=query, sort="oldest", limit=250, highlight=False)
    assert _walk(broad_kb, oldest) == _newest(wanted)[::-1]
    first = broad_kb.search_messages(SearchRequest(query=query, sort="newest", limit=5, offset=10))
    assert [h.id for h in first.hits] == _newest(wanted)[10:15]


def test_totals_are_exact_up_to_the_limit_then_lower_bounds(broad_kb: KnowledgeBase) -> None:
    exact = broad_kb.search_messages(SearchRequest(query="coffee", total_limit=None, limit=3))
    assert (exact.total, exact.total_relation) == (MESSAGES_N, "eq")
    default = broad_kb.search_messages(SearchRequest(query="coffee", limit=3))
    assert (default.total, default.total_relation) == (MESSAGES_N, "eq")  # exact unless limited
    under = broad_kb.search_messages(SearchRequest(query="coffee", limit=3, total_limit=10_000))
    assert (under.total, under.total_relation) == (MESSAGES_N, "eq")
    for sort in ("relevance", "newest"):
        capped = broad_kb.search_messages(SearchRequest(query="coffee", total_limit=100, limit=3, sort=sort))
        assert (capped.total, capped.total_relation, len(capped.hits)) == (100, "gte", 3)
    leaks = sum("leak" in m.text for m in MESSAGES)
    at_limit = broad_kb.search_messages(SearchRequest(query="leak", total_limit=leaks))
    assert (at_limit.total, at_limit.total_relation) == (leaks, "eq")  # exactly the limit is exact
    conversations = broad_kb.search_conversations(SearchRequest(query="coffee", total_limit=50, limit=2))
    assert (conversations.total, conversations.total_relation) == (50, "gte")
    every = broad_kb.search_conversations(SearchRequest(query="coffee", total_limit=None, limit=2))
    assert (every.total, every.total_relation) == (len(CONVERSATIONS), "eq")


def test_relevance_pages_of_a_broad_word_hold_only_matches(broad_kb: KnowledgeBase) -> None:
    grinders = {m.id for m in MESSAGES if "grinder" in m.text.split()}
    result = broad_kb.search_messages(SearchRequest(query="grinder", limit=50))
    assert len(result.hits) == 50 and {h.id for h in result.hits} <= grinders
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    walked = _walk(broad_kb, SearchRequest(query="grinder", limit=200, highlight=False))
    assert sorted(walked) == sorted(grinders)


@pytest.mark.parametrize(
    ("query", "filters"),
    [
        ("coffee", SearchFilters()),
        ("leak", SearchFilters()),  # narrow: the direct plan
        ("machine", SearchFilters(statuses=["open"])),
        ("coffee", SearchFilters(channels=["email"], direction="in")),
    ],
)
def test_date_ordered_conversation_pages_hold_exactly_the_matching_conversations(
    broad_kb: KnowledgeBase, query: str, filters: SearchFilters
) -> None:
    by_id = {c.id: c for c in CONVERSATIONS}
    matching = {
        str(m.conversation_id)
        for m in MESSAGES
        if query in m.text.split() and (filters.direction is None or str(m.direction) == filters.direction)
    }
    wanted = [
        cid
        for cid in matching
        if (filters.statuses is None or str(by_id[cid].status) in filters.statuses)
        and (filters.channels is None or by_id[cid].channel in filters.channels)
    ]
    expected = sorted(wanted, key=lambda cid: by_id[cid].last_message_at or START, reverse=True)
    request = SearchRequest(query=query, filters=filters, sort="newest", limit=60)
    assert _walk(broad_kb, request, conversations=True) == expected
    page = broad_kb.search_conversations(SearchRequest(query=query, filters=filters, limit=25, sort="newest"))
    assert [h.id for h in page.hits] == expected[:25]
    assert (page.total, page.total_relation) == (len(expected), "eq")
    # what is shown is the stored document itself: rollups exactly as saved
    assert all(h.document == by_id[h.id] for h in page.hits)
