"""/monitors: saving, checking and backfilling monitors; their windows and alerts."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from crm.monitor_windows import window_start_of
from flows.monitors import hit_for
from kb.matcher import compile_matcher
from tests.kb.docs import MESSAGES
from tests.monitors.helpers import T0, message

pytestmark = pytest.mark.usefixtures("kb_documents")


def _expected(query: str, channels: tuple[str, ...] = ()) -> dict[str, int]:
    """Window start -> messages, counted from the documents with the in-memory matcher."""
    match = compile_matcher(query)
    counts: dict[str, int] = {}
    for m in MESSAGES:
        if match(m) and (not channels or m.channel in channels):
            key = window_start_of(m.created_at).isoformat().replace("+00:00", "Z")
            counts[key] = counts.get(key, 0) + 1
    return counts


def _series(body: dict) -> dict[str, int]:
    return {item["window_start"].replace("+00:00", "Z"): item["volume"] for item in body["items"]}


async def test_a_new_monitor_is_backfilled_from_the_knowledge_base(client: httpx.AsyncClient) -> None:
    response = await client.post("/monitors", json={"name": "Refunds", "query": "refund*"})
    assert response.status_code == 201, response.text
    monitor = response.json()
    expected = _expected("refund*")
    assert monitor["backfilled"] == sum(expected.values()) > 0
    assert monitor["backfilled_at"] is not None and monitor["enabled"]
    series = (await client.get(f"/monitors/{monitor['id']}/windows")).json()
    assert _series(series) == expected
    negatives = sum(item["sentiment"]["negative"] for item in series["items"])
    assert negatives == sum(
        1 for m in MESSAGES if compile_matcher("refund*")(m) and m.enrichment.sentiment_label == "negative"
    )

    listed = (await client.get("/monitors")).json()
    assert [m["name"] for m in listed] == ["Refunds"]
    assert (await client.get(f"/monitors/{monitor['id']}")).json()["query"] == "refund*"


async def test_editing_the_query_backfills_anew_and_renaming_does_not(client: httpx.AsyncClient) -> None:
    monitor = (await client.post("/monitors", json={"name": "Delays", "query": "delay"})).json()
    renamed = (await client.patch(f"/monitors/{monitor['id']}", json={"name": "Flight delays"})).json()
    assert renamed["backfilled"] is None and renamed["name"] == "Flight delays"
    edited = await client.patch(
        f"/monitors/{monitor['id']}", json={"query": "refund", "channels": ["twitter"]}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["backfilled"] == sum(_expected("refund", ("twitter",)).values())
    series = (await client.get(f"/monitors/{monitor['id']}/windows")).json()
    assert _series(series) == _expected("refund", ("twitter",))


async def test_a_bad_query_is_refused_with_the_query_error_shape_and_nothing_saved(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/monitors", json={"name": "Bad", "query": "refund AND (late"})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert (
        detail["message"].startswith("invalid query") and detail["position"] == 16
    )  # 0-based: the end of the query
    assert "')'" in detail["expected"]
    assert (await client.get("/monitors")).json() == []
    monitor = (await client.post("/monitors", json={"name": "Good", "query": "refund"})).json()
    bad_edit = await client.patch(f"/monitors/{monitor['id']}", json={"query": "refund OR"})
    assert bad_edit.status_code == 400 and "position" in bad_edit.json()["detail"]
    assert (await client.get(f"/monitors/{monitor['id']}")).json()["query"] == "refund"


async def test_bad_bodies_names_and_ids(client: httpx.AsyncClient) -> None:
    assert (await client.post("/monitors", json={"name": "", "query": "x"})).status_code == 422
    assert (
        await client.post("/monitors", json={"name": "A", "query": "x", "alerts": {"spike_k": 0}})
    ).status_code == 422
    assert (
        await client.post("/monitors", json={"name": "A", "query": "x", "alerts": {"nope": 1}})
    ).status_code == 422
    assert (await client.post("/monitors", json={"name": "A", "query": "x\u0000"})).status_code == 422
    assert (await client.post("/monitors", json={"name": "A", "query": "x"})).status_code == 201
    assert (await client.post("/monitors", json={"name": "A", "query": "y"})).status_code == 409
    assert (await client.get("/monitors/mon_nope")).status_code == 404
    assert (await client.get("/monitors/mon_nope/windows")).status_code == 404
    assert (await client.get("/monitors/mon_nope/alerts")).status_code == 404
    assert (await client.delete("/monitors/mon_nope")).status_code == 404
    assert (await client.get("/monitors/x/windows?since=12")).status_code == 422


async def test_deleting_a_monitor_forgets_its_windows(client: httpx.AsyncClient, app: FastAPI) -> None:
    monitor = (await client.post("/monitors", json={"name": "Refunds", "query": "refund"})).json()
    assert (await client.delete(f"/monitors/{monitor['id']}")).status_code == 204
    assert (await client.get(f"/monitors/{monitor['id']}")).status_code == 404
    assert app.state.crm.monitors.windows(monitor["id"]) == []
    audit = [entry.action for entry in app.state.crm.audit.read(after=0, limit=10)]
    assert audit[-2:] == ["monitor.create", "monitor.delete"]


async def test_alerts_are_listed_with_their_messages(client: httpx.AsyncClient, app: FastAPI) -> None:
    monitor = (await client.post("/monitors", json={"name": "Acme", "query": "acme"})).json()
    crm = app.state.crm
    view = crm.monitors.get(monitor["id"])
    from datetime import timedelta

    quiet = [message(i, ["acme"], T0 + timedelta(minutes=5 * i), sentiment="neutral") for i in range(24)]
    storm = [
        message(100 + i, ["acme"], T0 + timedelta(hours=2, seconds=10 * i), sentiment="negative")
        for i in range(20)
    ]
    crm.monitors.record_hits([hit_for(m, view.id, view.match_revision) for m in quiet + storm])
    alert = crm.monitors.evaluate(view, T0 + timedelta(hours=2))
    assert alert is not None
    body = (await client.get(f"/monitors/{monitor['id']}/alerts")).json()
    assert [a["id"] for a in body["items"]] == [alert.id]
    assert body["items"][0]["message_ids"] == [m.id for m in storm]
    series = (
        await client.get(f"/monitors/{monitor['id']}/windows", params={"since": "2026-11-20T11:00:00Z"})
    ).json()
    assert [(i["volume"], i["negative_share"]) for i in series["items"]] == [(20, 1.0)]
