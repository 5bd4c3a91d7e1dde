"""The first API routes over data ingested by the real flow (httpx ASGITransport, no server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from hub.models import conversation_id_for
from hub.settings import Settings
from tests.flows.conftest import FIXTURES, ingest


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    ingest(settings, [FIXTURES / "envelopes__threads.jsonl"])
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley") as c:
        yield c


async def test_health_reports_the_stores(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["kb"]["messages"] == 9 and body["crm"]["dead_letters"] == 5


async def test_conversations_list_with_total_counts_and_paging(client: httpx.AsyncClient) -> None:
    body = (await client.get("/conversations")).json()
    assert body["total"] == 4
    assert sorted(item["message_count"] for item in body["items"]) == [1, 1, 3, 4]
    last = [item["last_message_at"] for item in body["items"]]
    assert last == sorted(last, reverse=True), "newest activity first"

    page = (await client.get("/conversations", params={"limit": 2, "offset": 2})).json()
    assert page["total"] == 4 and len(page["items"]) == 2
    assert {i["id"] for i in page["items"]}.isdisjoint({i["id"] for i in body["items"][:2]})


async def test_conversations_filters(client: httpx.AsyncClient) -> None:
    sms = (await client.get("/conversations", params={"channel": "sms"})).json()
    assert sms["total"] == 1 and sms["items"][0]["id"] == conversation_id_for("sms", "demo", "SM1")
    kettle = (await client.get("/conversations", params={"q": "kettle"})).json()
    assert [i["id"] for i in kettle["items"]] == [conversation_id_for("twitter", "demo", "100")]
    nothing = (await client.get("/conversations", params={"status": "resolved"})).json()
    assert nothing["total"] == 0 and nothing["items"] == []


async def test_conversation_detail_and_triage(client: httpx.AsyncClient) -> None:
    conversation_id = conversation_id_for("twitter", "demo", "100")
    detail = (await client.get(f"/conversations/{conversation_id}")).json()
    assert [m["native_id"] for m in detail["messages"]] == ["100", "101", "102", "103"]
    assert detail["conversation"]["message_count"] == 4

    patched = await client.patch(
        f"/conversations/{conversation_id}",
        json={"status": "resolved", "assignee": "sam", "tags": ["refund"]},
    )
    assert patched.status_code == 200
    assert patched.json()["status"] == "resolved" and patched.json()["assignee"] == "sam"
    resolved = (await client.get("/conversations", params={"status": "resolved"})).json()
    assert [i["id"] for i in resolved["items"]] == [conversation_id]

    assert (await client.get("/conversations/cnv_missing")).status_code == 404
    assert (await client.patch(f"/conversations/{conversation_id}", json={})).status_code == 422
    assert (
        await client.patch(f"/conversations/{conversation_id}", json={"status": "bogus"})
    ).status_code == 422


async def test_search_and_contacts_and_dead_letters(client: httpx.AsyncClient) -> None:
    hits = (await client.get("/search", params={"q": "order"})).json()
    assert hits["total"] >= 1
    message = hits["hits"][0]["message"]
    assert "order" in message["text"].lower()

    author_id = message["author"]["id"]
    detail = (await client.get(f"/conversations/{message['conversation_id']}")).json()
    assert detail["messages"]
    from crm import open_crm  # the contact of that author

    crm = open_crm(client._transport.app.state.settings)  # type: ignore[attr-defined]
    contact_id = crm.contact_for_identity(author_id)
    crm.close()
    contact = await client.get(f"/contacts/{contact_id}")
    assert contact.status_code == 200
    assert (await client.get("/contacts/ctc_missing")).status_code == 404

    letters = (await client.get("/dead-letters", params={"limit": 2})).json()
    assert letters["total"] == 5 and len(letters["items"]) == 2
    assert all(item["reason"] and item["raw"] for item in letters["items"])


@pytest.mark.parametrize("query", ['"unbalanced', "(kettle", "kettle AND", "kettle NEAR/3", "x " * 5_000])
async def test_bad_queries_are_400_saying_where(client: httpx.AsyncClient, query: str) -> None:
    for path in ("/conversations", "/search"):
        response = await client.get(path, params={"q": query})
        assert response.status_code == 400, (path, query[:20], response.text[:200])
        detail = response.json()["detail"]
        assert detail["message"] and isinstance(detail["position"], int)


async def test_metacharacters_are_searched_as_text(client: httpx.AsyncClient) -> None:
    for query in ["kettle^2 OR {x}", "col:umn*", "a\\b", "'; DROP TABLE messages; --"]:
        for path in ("/conversations", "/search"):
            response = await client.get(path, params={"q": query})
            assert response.status_code in (200, 400), (path, query, response.text[:200])


async def test_openapi_docs_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/health", "/conversations", "/conversations/{conversation_id}", "/search", "/dead-letters"):
        assert path in paths


def test_app_factory_creates_stores_on_first_use(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "fresh", demo=False)
    create_app(settings)
    assert settings.kb_path.exists()


async def test_patch_refuses_nulls_for_required_fields(client: httpx.AsyncClient) -> None:
    conversation_id = conversation_id_for("twitter", "demo", "100")
    for body in ({"status": None}, {"priority": None}, {"tags": None}):
        response = await client.patch(f"/conversations/{conversation_id}", json=body)
        assert response.status_code == 422, (body, response.text)
    assigned = await client.patch(f"/conversations/{conversation_id}", json={"assignee": "sam"})
    assert assigned.json()["assignee"] == "sam"
    cleared = await client.patch(f"/conversations/{conversation_id}", json={"assignee": None})
    assert cleared.status_code == 200 and cleared.json()["assignee"] is None
