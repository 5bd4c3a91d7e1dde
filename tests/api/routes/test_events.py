"""``GET /events``: the event log through the API, paged with a cursor that misses nothing."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from crm import CRMStore
from hub.settings import Settings
from tests.api.people import add_people


@pytest.fixture
def api_settings(crm_settings: Settings) -> Settings:
    """The CRM on SQLite and, when ``PARLEY_TEST_POSTGRES_URL`` is set, on PostgreSQL."""
    return crm_settings


async def test_events_page_with_the_cursor_and_filter_by_type_and_subject(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    crm: CRMStore = app.state.crm
    ids = add_people(app)
    start = crm.events.last_id()
    merged = await client.post(f"/contacts/{ids['ann']}/merge", json={"other_id": ids["bob"]})
    assert merged.status_code == 200, merged.text
    for n in range(5):
        crm.events.append("conversation.updated", conversation_id=f"cnv_{n}", data={"n": n})

    seen: list[dict[str, object]] = []
    after = start
    while True:
        page = await client.get("/events", params={"after": after, "limit": 2})
        assert page.status_code == 200, page.text
        body = page.json()
        if not body["items"]:
            assert body["next_after"] == after
            break
        seen.extend(body["items"])
        after = body["next_after"]
    assert [e["type"] for e in seen] == ["contact.merged"] + ["conversation.updated"] * 5
    assert seen[0]["contact_id"] == ids["ann"] and seen[0]["actor_id"] is not None
    assert [e["id"] for e in seen] == sorted(e["id"] for e in seen)

    only = await client.get("/events", params={"type": "contact.merged", "after": start})
    assert [e["type"] for e in only.json()["items"]] == ["contact.merged"]
    one = await client.get("/events", params={"conversation_id": "cnv_3"})
    assert [e["data"] for e in one.json()["items"]] == [{"n": 3}]


@pytest.mark.parametrize("params", [{"after": -1}, {"limit": 0}, {"limit": 5000}, {"after": "x"}])
async def test_bad_cursors_are_refused_with_the_documented_shape(
    client: httpx.AsyncClient, params: dict[str, object]
) -> None:
    response = await client.get("/events", params=params)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


async def test_anonymous_callers_get_401(anonymous: httpx.AsyncClient) -> None:
    assert (await anonymous.get("/events")).status_code == 401
