"""Totals past their limit are marked as lower bounds, and a ranked window says so, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

import api.routes.conversations
import api.routes.search
import kb.sqlite.plans
from hub.models import Conversation, Message

T0 = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def coffee(app: FastAPI) -> None:
    """40 messages in 10 conversations, every one about coffee."""
    messages = [
        Message(
            channel="sms",
            native_id=f"c{i}",
            conversation_id=f"cnv_c{i // 4}",
            text=f"coffee machine number {i}",
            language="en",
            created_at=T0 + timedelta(minutes=i),
        )
        for i in range(40)
    ]
    app.state.kb.upsert_messages(messages)
    app.state.kb.upsert_conversations(
        [
            Conversation(
                id=f"cnv_c{n}",
                channel="sms",
                first_message_at=T0 + timedelta(minutes=4 * n),
                last_message_at=T0 + timedelta(minutes=4 * n + 3),
                message_count=4,
            )
            for n in range(10)
        ]
    )


@pytest.mark.usefixtures("coffee")
async def test_totals_say_when_they_are_lower_bounds(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    exact = (await client.get("/search", params={"q": "coffee"})).json()
    assert (exact["total"], exact["total_relation"], exact["relevance_window"]) == (40, "eq", None)
    listed = (await client.get("/conversations", params={"q": "coffee"})).json()
    assert (listed["total"], listed["total_relation"]) == (10, "eq")
    monkeypatch.setattr(api.routes.search, "TOTAL_LIMIT", 25)
    monkeypatch.setattr(api.routes.conversations, "TOTAL_LIMIT", 4)
    capped = (await client.get("/search", params={"q": "coffee", "limit": 5})).json()
    assert (capped["total"], capped["total_relation"], len(capped["hits"])) == (25, "gte", 5)
    listed = (await client.get("/conversations", params={"q": "coffee", "limit": 3})).json()
    assert (listed["total"], listed["total_relation"]) == (4, "gte")
    newest = [item["id"] for item in listed["items"]]
    assert newest == ["cnv_c9", "cnv_c8", "cnv_c7"]  # the page itself is exact


@pytest.mark.usefixtures("coffee")
async def test_a_ranked_window_is_named(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kb.sqlite.plans, "RANK_WINDOW", 8)
    ranked = (await client.get("/search", params={"q": "coffee", "limit": 50})).json()
    assert ranked["relevance_window"] == 8 and ranked["total"] == 40
    # the window is the most recently indexed matches
    assert {h["message"]["native_id"] for h in ranked["hits"]} == {f"c{i}" for i in range(32, 40)}
    by_date = (await client.get("/search", params={"q": "coffee", "limit": 50, "sort": "newest"})).json()
    assert by_date["relevance_window"] is None and len(by_date["hits"]) == 40
    listed = (await client.get("/conversations", params={"q": "coffee", "sort": "relevance"})).json()
    assert listed["relevance_window"] == 8 and {i["id"] for i in listed["items"]} == {"cnv_c8", "cnv_c9"}


@pytest.mark.usefixtures("coffee")
async def test_facets_of_a_broad_match_name_their_window(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    exact = (await client.get("/search", params={"q": "coffee", "facets": "channel"})).json()
    assert exact["facets_window"] is None and exact["facets"]["channel"] == [{"value": "sms", "count": 40}]
    monkeypatch.setattr(kb.sqlite.plans, "FACET_WINDOW", 8)
    windowed = (
        await client.get("/search", params={"q": "coffee", "facets": "channel", "sort": "oldest"})
    ).json()
    # the newest 8 indexed matches are counted; total and the page still cover every match
    assert windowed["facets_window"] == 8 and windowed["facets"]["channel"] == [{"value": "sms", "count": 8}]
    assert windowed["total"] == 40 and windowed["hits"][0]["message"]["native_id"] == "c0"
    narrow = (await client.get("/search", params={"q": '"number 3"', "facets": "channel"})).json()
    assert narrow["facets_window"] is None and narrow["facets"]["channel"][0]["count"] == narrow["total"]
    # a histogram is a trend over time: it always counts every match, and so do its facets
    trend = (
        await client.get("/search", params={"q": "coffee", "facets": "channel", "histogram": "hour"})
    ).json()
    assert trend["facets_window"] is None and sum(b["count"] for b in trend["histogram"]) == 40
    assert trend["facets"]["channel"] == [{"value": "sms", "count": 40}]
