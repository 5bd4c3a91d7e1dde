"""/agents and /teams over HTTP: admins create and change, supervisors read, agents are disabled
(never deleted) with their credentials revoked, the last admin stays, teams hold members."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from crm import AgentView, Role
from hub.models import conversation_id_for
from hub.settings import Settings
from tests.api.callers import add_agent, bearer
from tests.api.conftest import BASE_URL
from tests.flows.conftest import FIXTURES, ingest


@pytest.fixture
def api_settings(crm_settings: Settings) -> Settings:
    """The CRM on SQLite and, when ``PARLEY_TEST_POSTGRES_URL`` is set, on PostgreSQL."""
    return crm_settings


async def test_admins_create_agents_with_a_one_time_sign_in_link(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    created = await client.post(
        "/agents",
        json={
            "name": "Kim",
            "email": "Kim@Example.org",
            "role": "supervisor",
            "languages": ["en", "de"],
            "channels": ["email", "twitter"],
            "capacity": 5,
        },
    )
    assert created.status_code == 201, created.text
    agent, link = created.json()["agent"], created.json()["sign_in"]
    assert (agent["role"], agent["languages"], agent["channels"], agent["capacity"]) == (
        "supervisor",
        ["en", "de"],
        ["email", "twitter"],
        5,
    )
    assert agent["availability"] == "offline" and agent["has_password"] is False
    assert link["url"].startswith(f"{BASE_URL}/auth/one-time/parley_otl_")
    signed_in = await anonymous.get(link["url"].removeprefix(BASE_URL))
    assert signed_in.status_code == 303
    assert (await anonymous.get("/auth/me")).json()["agent"]["email"] == "Kim@Example.org"

    taken = await client.post("/agents", json={"name": "Kim 2", "email": "kim@example.ORG"})
    assert taken.status_code == 409
    assert (
        await client.post("/agents", json={"name": "X", "email": "x@y", "channels": ["f a x"]})
    ).status_code == 422
    assert (
        await client.post("/agents", json={"name": "X", "email": "x@y", "role": "owner"})
    ).status_code == 422
    assert (await client.post("/agents", json={"name": "X", "email": "not-an-email"})).status_code == 400


async def test_agents_are_listed_read_and_changed(app: FastAPI, client: httpx.AsyncClient) -> None:
    kim, _ = add_agent(app, "agent", email="kim@example.org")
    listed = (await client.get("/agents")).json()
    assert {a["email"] for a in listed} == {"admin@parley.test", "kim@example.org"}
    assert (await client.get(f"/agents/{kim.id}")).json()["id"] == kim.id
    assert (await client.get("/agents/agt_missing")).status_code == 404
    changed = await client.patch(
        f"/agents/{kim.id}", json={"capacity": 3, "availability": "away", "role": "viewer"}
    )
    assert changed.status_code == 200
    assert (changed.json()["capacity"], changed.json()["availability"], changed.json()["role"]) == (
        3,
        "away",
        "viewer",
    )
    assert (await client.patch(f"/agents/{kim.id}", json={})).status_code == 422
    assert (await client.patch(f"/agents/{kim.id}", json={"capacity": None})).status_code == 422
    assert (await client.patch("/agents/agt_missing", json={"capacity": 1})).status_code == 404


async def test_disabling_an_agent_revokes_their_token_at_once(
    app: FastAPI, client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    kim, token = add_agent(app, "agent", email="kim@example.org")
    assert (await anonymous.get("/conversations", headers=bearer(token))).status_code == 200
    assert (await client.delete(f"/agents/{kim.id}")).status_code == 204
    assert (await anonymous.get("/conversations", headers=bearer(token))).status_code == 401
    assert (await client.get(f"/agents/{kim.id}")).json()["disabled"] is True
    assert [a["email"] for a in (await client.get("/agents", params={"include_disabled": False})).json()] == [
        "admin@parley.test"
    ]
    enabled = await client.patch(f"/agents/{kim.id}", json={"disabled": False})
    assert enabled.json()["disabled"] is False
    assert (await anonymous.get("/conversations", headers=bearer(token))).status_code == 401
    link = (await client.post(f"/agents/{kim.id}/sign-in-link")).json()
    assert link["url"].startswith(f"{BASE_URL}/auth/one-time/")
    assert (await client.post("/agents/agt_missing/sign-in-link")).status_code == 404


async def test_a_disabled_agents_conversations_go_back_to_the_unassigned_inbox(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ingest(app.state.settings, [FIXTURES / "envelopes__threads.jsonl"])
    kim, _ = add_agent(app, "agent", email="kim@example.org")
    lee, _ = add_agent(app, "agent", email="lee@example.org")
    tweets = conversation_id_for("twitter", "demo", "100")
    listed = (await client.get("/conversations", params={"limit": 3})).json()["items"]
    others = [c["id"] for c in listed if c["id"] != tweets][:1]
    for cid, who in ((tweets, kim.id), (others[0], lee.id)):
        assert (await client.patch(f"/conversations/{cid}", json={"assignee": who})).status_code == 200
    admin_id = (await client.get("/auth/me")).json()["agent"]["id"]
    before = app.state.crm.events.last_id()

    assert (await client.delete(f"/agents/{kim.id}")).status_code == 204
    assert (await client.get(f"/conversations/{tweets}")).json()["conversation"]["assignee"] is None
    assert (await client.get("/conversations", params={"assignee": kim.id})).json()["total"] == 0
    (event,) = app.state.crm.events.read(after=before, types=["conversation.assigned"])
    assert (event.conversation_id, event.data["previous"], event.actor_id) == (tweets, kim.id, admin_id)

    # disabling through PATCH does the same
    assert (await client.patch(f"/agents/{lee.id}", json={"disabled": True})).json()["disabled"] is True
    assert (await client.get(f"/conversations/{others[0]}")).json()["conversation"]["assignee"] is None


async def test_the_last_admin_stays(client: httpx.AsyncClient, admin: tuple[AgentView, str]) -> None:
    me = admin[0].id
    assert (await client.patch(f"/agents/{me}", json={"role": "agent"})).status_code == 409
    assert (await client.delete(f"/agents/{me}")).status_code == 409
    assert (await client.get("/auth/me")).status_code == 200


async def test_supervisors_read_the_team_but_do_not_change_it(
    app: FastAPI, as_role: Callable[[Role], Awaitable[httpx.AsyncClient]]
) -> None:
    supervisor = await as_role("supervisor")
    assert (await supervisor.get("/agents")).status_code == 200
    assert (await supervisor.post("/agents", json={"name": "X", "email": "x@example.org"})).status_code == 403
    assert (await supervisor.post("/teams", json={"name": "Billing"})).status_code == 403
    assert (await supervisor.get("/teams")).json() == []


async def test_teams_with_members(app: FastAPI, client: httpx.AsyncClient) -> None:
    ann, _ = add_agent(app, "agent", email="ann@example.org")
    bob, _ = add_agent(app, "agent", email="bob@example.org")
    created = await client.post(
        "/teams", json={"name": "Billing", "description": "money", "member_ids": [ann.id]}
    )
    assert created.status_code == 201
    team = created.json()
    assert team["member_ids"] == [ann.id]
    assert (await client.post("/teams", json={"name": "Billing"})).status_code == 409
    assert (await client.post("/teams", json={"name": "Ghosts", "member_ids": ["agt_x"]})).status_code == 404

    added = await client.put(f"/teams/{team['id']}/members/{bob.id}")
    assert added.status_code == 200 and set(added.json()["member_ids"]) == {ann.id, bob.id}
    assert (await client.put(f"/teams/{team['id']}/members/agt_missing")).status_code == 404
    removed = await client.delete(f"/teams/{team['id']}/members/{ann.id}")
    assert removed.json()["member_ids"] == [bob.id]
    renamed = await client.patch(f"/teams/{team['id']}", json={"name": "Payments"})
    assert renamed.json()["name"] == "Payments" and renamed.json()["description"] == "money"
    assert (await client.get(f"/teams/{team['id']}")).json()["name"] == "Payments"
    me = (await client.get("/auth/me", headers=bearer(add_agent(app, "viewer")[1]))).json()
    assert me["teams"] == []
    assert (await client.delete(f"/teams/{team['id']}")).status_code == 204
    assert (await client.get(f"/teams/{team['id']}")).status_code == 404
    assert (await client.get(f"/agents/{bob.id}")).status_code == 200
