"""The audit log through the API: every kind of change is recorded with the signed-in agent as
its actor (whatever a body claims), the request id, and what changed; supervisors page it. And
who may triage what: agents triage and take or release their own, supervisors route and reassign."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from crm import AgentView, Role
from hub.settings import Settings
from tests.api.callers import add_agent, bearer
from tests.api.conftest import BASE_URL
from tests.api.people import ANN_MAIL, add_people

pytestmark = pytest.mark.usefixtures("kb_documents")

PUBLIC_FEED = "http://93.184.215.14/feed.xml"


@pytest.fixture
def api_settings(crm_settings: Settings) -> Settings:
    """The CRM on SQLite and, when ``PARLEY_TEST_POSTGRES_URL`` is set, on PostgreSQL."""
    return crm_settings


async def _entries(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/audit", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_triage_roles_agents_take_and_release_supervisors_route_and_reassign(
    as_role: Callable[[Role], Awaitable[httpx.AsyncClient]], app: FastAPI
) -> None:
    viewer, agent, supervisor = (await as_role("viewer"), await as_role("agent"), await as_role("supervisor"))
    me = (await agent.get("/auth/me")).json()["agent"]["id"]
    assert (await viewer.patch("/conversations/cnv_d", json={"status": "pending"})).status_code == 403
    assert (
        await agent.patch("/conversations/cnv_d", json={"status": "pending", "tags": ["x"]})
    ).status_code == 200
    taken = await agent.patch("/conversations/cnv_d", json={"assignee": me})
    assert taken.status_code == 200 and taken.json()["assignee"] == me
    assert (await agent.patch("/conversations/cnv_d", json={"assignee": me})).status_code == 200  # no change
    assert (await agent.patch("/conversations/cnv_d", json={"assignee": None})).json()["assignee"] is None
    for change in ({"assignee": "agt_someone_else"}, {"queue": "billing"}):
        refused = await agent.patch("/conversations/cnv_d", json=change)
        assert refused.status_code == 403 and "supervisor" in refused.json()["detail"]
    # taking a conversation from someone else is a reassignment
    assert (await agent.patch("/conversations/cnv_a", json={"assignee": me})).status_code == 403
    routed = await supervisor.patch("/conversations/cnv_a", json={"assignee": me, "queue": "billing"})
    assert routed.status_code == 200 and (routed.json()["assignee"], routed.json()["queue"]) == (
        me,
        "billing",
    )
    assert (await agent.patch("/conversations/cnv_missing", json={"status": "open"})).status_code == 404


async def test_every_kind_of_change_is_audited_with_the_signed_in_agent(
    app: FastAPI, client: httpx.AsyncClient, admin: tuple[AgentView, str], anonymous: httpx.AsyncClient
) -> None:
    ids = add_people(app)
    kim, kim_token = add_agent(app, "supervisor", email="kim@example.org")
    as_kim = {**bearer(kim_token), "X-Request-ID": "req-kim-1"}

    async def kim_does(method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**as_kim, **kwargs.pop("headers", {})}
        response = await anonymous.request(method, path, headers=headers, **kwargs)
        assert response.status_code < 300, (method, path, response.text)
        return response

    await kim_does("PATCH", "/conversations/cnv_b", json={"status": "resolved", "assignee": kim.id})
    await kim_does("PATCH", f"/contacts/{ids['ann']}", json={"tags": ["vip"]})
    await kim_does("POST", f"/contacts/{ids['ann']}/merge", json={"other_id": ids["bob"], "actor": "forged"})
    await kim_does("POST", f"/contacts/{ids['ann']}/unmerge")
    await kim_does("POST", f"/contacts/{ids['ann']}/split", json={"identity_ids": [ANN_MAIL.id]})
    segment = (await kim_does("POST", "/segments", json={"name": "vips", "kind": "static"})).json()["id"]
    await kim_does("PATCH", f"/segments/{segment}", json={"description": "the best"})
    await kim_does("POST", f"/segments/{segment}/members", json={"contact_ids": [ids["bob"]]})
    await kim_does("POST", f"/segments/{segment}/members/remove", json={"contact_ids": [ids["bob"]]})
    await kim_does(
        "POST",
        f"/segments/{segment}/import",
        content=f"contact_id\n{ids['bob']}\n",
        headers={"Content-Type": "text/csv"},
    )
    await kim_does("GET", f"/segments/{segment}/export.csv")
    await kim_does("DELETE", f"/segments/{segment}")
    dynamic = (
        await kim_does("POST", "/segments", json={"name": "d", "kind": "dynamic", "criteria": "channel:sms"})
    ).json()
    await kim_does("POST", f"/segments/{dynamic['id']}/refresh")

    feed = (await client.post("/feeds", json={"url": PUBLIC_FEED})).json()["id"]
    assert (await client.delete(f"/feeds/{feed}")).status_code == 204
    team = (await client.post("/teams", json={"name": "Billing"})).json()["id"]
    await client.put(f"/teams/{team}/members/{kim.id}")
    await client.patch(f"/agents/{kim.id}", json={"capacity": 2})

    entries = await _entries(client)
    by_action = {entry["action"]: entry for entry in entries}
    kims = [
        "conversation.update",
        "contact.update",
        "contact.merge",
        "contact.unmerge",
        "contact.split",
        "segment.create",
        "segment.update",
        "segment.add_members",
        "segment.remove_members",
        "segment.import",
        "segment.export",
        "segment.delete",
        "segment.refresh",
    ]
    admins = ["feed.add", "feed.remove", "team.create", "team.add_member", "agent.update"]
    assert set(kims + admins) <= by_action.keys()
    for action in kims:
        entry = by_action[action]
        assert (entry["actor_id"], entry["actor"], entry["via"]) == (kim.id, "kim@example.org", "token"), (
            action
        )
        assert entry["request_id"] == "req-kim-1", action
    for action in admins:
        assert by_action[action]["actor_id"] == admin[0].id, action
        assert len(by_action[action]["request_id"]) == 32  # made up when the client sent none

    triage = by_action["conversation.update"]
    assert (triage["target_type"], triage["target_id"]) == ("conversation", "cnv_b")
    assert triage["before"] == {"status": "pending", "assignee": None}
    assert triage["after"] == {"status": "resolved", "assignee": kim.id}
    assert by_action["contact.update"]["before"] == {"tags": []} and by_action["contact.update"]["after"] == {
        "tags": ["vip"]
    }
    merge = by_action["contact.merge"]
    assert merge["target_id"] == ids["ann"] and merge["after"]["absorbed_id"] == ids["bob"]
    assert by_action["feed.add"]["after"]["url"] == PUBLIC_FEED
    assert by_action["feed.remove"]["before"]["url"] == PUBLIC_FEED
    assert by_action["agent.update"]["before"] == {"capacity": 10} and by_action["agent.update"]["after"] == {
        "capacity": 2
    }
    # the contact's own history names the agent too, not what the body claimed
    history = (await client.get(f"/contacts/{ids['ann']}/history")).json()
    assert {event["actor"] for event in history} == {kim.id}


async def test_sign_ins_tokens_and_agents_are_audited(
    app: FastAPI, client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    created = (await client.post("/agents", json={"name": "Lee", "email": "lee@example.org"})).json()
    await anonymous.get(created["sign_in"]["url"].removeprefix(BASE_URL))
    csrf = anonymous.cookies["parley_csrf"]
    made = (await anonymous.post("/auth/tokens", json={"name": "cli"}, headers={"X-CSRF-Token": csrf})).json()
    await anonymous.delete(f"/auth/tokens/{made['info']['id']}", headers={"X-CSRF-Token": csrf})
    await anonymous.post("/auth/sign-out", headers={"X-CSRF-Token": csrf})
    await client.delete(f"/agents/{created['agent']['id']}")
    lee = created["agent"]["id"]
    entries = await _entries(client)
    assert [(e["action"], e["via"]) for e in entries if e["actor_id"] == lee] == [
        ("auth.sign_in", "session"),
        ("token.create", "session"),
        ("token.revoke", "session"),
        ("auth.sign_out", "session"),
    ]
    assert [e["action"] for e in entries if e["target_id"] == lee] == [
        "agent.create",
        "auth.sign_in",
        "auth.sign_out",
        "agent.disable",
    ]
    assert made["token"] not in str(entries)


async def test_the_audit_log_pages_after_a_cursor_and_filters(
    client: httpx.AsyncClient, as_role: Callable[[Role], Awaitable[httpx.AsyncClient]]
) -> None:
    for n in range(3):
        await client.post("/teams", json={"name": f"team {n}"})
    first = (await client.get("/audit", params={"limit": 2})).json()
    assert len(first["items"]) == 2
    rest = (await client.get("/audit", params={"after": first["next_after"]})).json()
    assert [e["after"]["name"] for e in first["items"] + rest["items"]] == ["team 0", "team 1", "team 2"]
    assert (await client.get("/audit", params={"after": rest["next_after"]})).json() == {
        "items": [],
        "next_after": rest["next_after"],
    }
    assert len((await client.get("/audit", params={"action": "team.create"})).json()["items"]) == 3
    assert (await (await as_role("agent")).get("/audit")).status_code == 403
    assert (await (await as_role("supervisor")).get("/audit")).status_code == 200
