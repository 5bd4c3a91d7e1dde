"""The /contacts API over a real CRM store and knowledge base: listing, search, detail, merges,
splits and updates, on SQLite and (when ``PARLEY_TEST_POSTGRES_URL`` is set) PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from crm import AgentView
from hub.settings import Settings
from tests.api.people import ANN, ANN_MAIL, add_people


@pytest.fixture
def api_settings(crm_settings: Settings) -> Settings:
    """The CRM on SQLite and, when ``PARLEY_TEST_POSTGRES_URL`` is set, on PostgreSQL."""
    return crm_settings


async def test_list_and_search_contacts_with_paging(app: FastAPI, client: httpx.AsyncClient) -> None:
    ids = add_people(app)
    page = (await client.get("/contacts", params={"limit": 1})).json()
    assert page["total"] == 2 and [c["id"] for c in page["items"]] == [ids["bob"]]
    rest = (await client.get("/contacts", params={"limit": 1, "offset": 1})).json()
    assert [c["id"] for c in rest["items"]] == [ids["ann"]]
    for q in ("ann", "@ann", "ANN@example.org", "Example"):
        found = (await client.get("/contacts", params={"q": q})).json()
        assert [c["id"] for c in found["items"]] == [ids["ann"]], q
    found = (await client.get("/contacts", params={"q": "07911 555666"})).json()
    assert found["total"] == 1 and found["items"][0]["phones"] == ["+447911555666"]
    assert (await client.get("/contacts", params={"limit": 0})).status_code == 422


async def test_a_contact_shows_identities_and_conversations(app: FastAPI, client: httpx.AsyncClient) -> None:
    ids = add_people(app)
    response = await client.get(f"/contacts/{ids['ann']}")
    assert response.status_code == 200
    body = response.json()
    contact = body["contact"]
    assert contact["display_name"] == "Ann Example"
    assert {i["id"] for i in contact["identities"]} == {ANN.id, ANN_MAIL.id}
    assert contact["message_counts"] == {"email": 1, "twitter": 1}
    assert contact["sentiment_avg"] == -0.4
    assert body["conversations_total"] == 2
    assert {c["channel"] for c in body["conversations"]} == {"twitter", "email"}
    missing = await client.get("/contacts/con_nope")
    assert missing.status_code == 404 and "con_nope" in missing.json()["detail"]


async def test_merge_history_and_unmerge_through_the_api(
    app: FastAPI, client: httpx.AsyncClient, admin: tuple[AgentView, str]
) -> None:
    ids = add_people(app)
    before = (await client.get(f"/contacts/{ids['bob']}")).json()["contact"]
    merged = await client.post(
        f"/contacts/{ids['ann']}/merge",
        json={"other_id": ids["bob"], "reason": "same person", "actor": "kim"},
    )
    assert merged.status_code == 200
    result = merged.json()
    assert result["event"]["action"] == "merge" and result["other"]["merged_into"] == ids["ann"]
    assert result["survivor"]["message_count"] == 3
    detail = (await client.get(f"/contacts/{ids['ann']}")).json()
    assert detail["conversations_total"] == 3
    assert (await client.get("/contacts")).json()["total"] == 1
    history = (await client.get(f"/contacts/{ids['ann']}/history")).json()
    # the actor is the signed-in agent; the "actor" the body claims is ignored
    assert [(e["action"], e["reason"], e["actor"]) for e in history] == [
        ("merge", "same person", admin[0].id)
    ]
    undone = await client.post(f"/contacts/{ids['ann']}/unmerge")
    assert undone.status_code == 200 and undone.json()["event"]["action"] == "unmerge"
    after = (await client.get(f"/contacts/{ids['bob']}")).json()["contact"]
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }
    again = await client.post(f"/contacts/{ids['ann']}/unmerge", json={})
    assert again.status_code == 404


async def test_bad_merges_are_clear_4xx(app: FastAPI, client: httpx.AsyncClient) -> None:
    ids = add_people(app)
    self_merge = await client.post(f"/contacts/{ids['ann']}/merge", json={"other_id": ids["ann"]})
    assert self_merge.status_code == 400 and "itself" in self_merge.json()["detail"]
    into_missing = await client.post("/contacts/con_nope/merge", json={"other_id": ids["ann"]})
    assert into_missing.status_code == 404
    of_missing = await client.post(f"/contacts/{ids['ann']}/merge", json={"other_id": "con_nope"})
    assert of_missing.status_code == 404
    assert (await client.post(f"/contacts/{ids['ann']}/merge", json={})).status_code == 422
    await client.post(f"/contacts/{ids['ann']}/merge", json={"other_id": ids["bob"]})
    twice = await client.post(f"/contacts/{ids['ann']}/merge", json={"other_id": ids["bob"]})
    assert twice.status_code == 409 and "merged into" in twice.json()["detail"]
    assert (await client.post("/contacts/con_nope/unmerge")).status_code == 404
    assert (await client.get("/contacts/con_nope/history")).status_code == 404


async def test_split_and_update_through_the_api(app: FastAPI, client: httpx.AsyncClient) -> None:
    ids = add_people(app)
    split = await client.post(f"/contacts/{ids['ann']}/split", json={"identity_ids": [ANN_MAIL.id]})
    assert split.status_code == 200
    new_id = split.json()["other"]["id"]
    assert app.state.crm.contact_for_identity(ANN_MAIL.id) == new_id
    bad = await client.post(f"/contacts/{ids['ann']}/split", json={"identity_ids": ["idn_not_hers"]})
    assert bad.status_code == 400
    patched = await client.patch(
        f"/contacts/{ids['ann']}",
        json={"tags": ["vip"], "attributes": {"plan": "gold"}, "display_name": "Ann E."},
    )
    assert patched.status_code == 200
    assert (patched.json()["tags"], patched.json()["attributes"], patched.json()["display_name"]) == (
        ["vip"],
        {"plan": "gold"},
        "Ann E.",
    )
    assert (await client.patch(f"/contacts/{ids['ann']}", json={})).status_code == 422
    assert (await client.patch("/contacts/con_nope", json={"tags": []})).status_code == 404


@pytest.mark.usefixtures("threads")
async def test_the_author_of_an_ingested_message_is_a_contact(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    message = (await client.get("/search", params={"q": "order"})).json()["hits"][0]["message"]
    contact_id = app.state.crm.contact_for_identity(message["author"]["id"])
    contact = await client.get(f"/contacts/{contact_id}")
    assert contact.status_code == 200
    assert (await client.get("/contacts/ctc_missing")).status_code == 404


async def test_attributes_the_store_could_not_read_back_are_422_and_not_stored(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ids = add_people(app)
    url = f"/contacts/{ids['ann']}"
    assert (await client.patch(url, json={"attributes": {"plan": "gold"}})).status_code == 200
    deep: Any = "leaf"
    for _ in range(400):  # once answered 500 *and* stored, after which /contacts answered 500
        deep = {"k": deep}
    # as JSON texts: 1e999 is how a client sends what Python reads as infinity
    for bad in (json.dumps({"deep": deep}), '{"score": NaN}', '{"score": 1e999}', '{"note": "a\\u0000b"}'):
        response = await client.patch(
            url,
            content=f'{{"tags": ["vip"], "attributes": {bad}}}',
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", "attributes"] and error["type"] == "value_error"
    for bad_text in ({"display_name": "\x00"}, {"tags": ["v\x00"]}):
        assert (await client.patch(url, json=bad_text)).status_code == 422
    listed = await client.get("/contacts")
    assert listed.status_code == 200
    ann = next(c for c in listed.json()["items"] if c["id"] == ids["ann"])
    assert (ann["attributes"], ann["tags"]) == ({"plan": "gold"}, [])
