"""The conversation life cycle through the API (open, pending, resolved, snoozed and back), its
events and audit trail, and waiting conversations assigned when an agent comes online; on
SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from crm import Role
from flows.snooze import SnoozeTimer, wake_due
from hub.models import conversation_id_for, utcnow
from hub.settings import Settings
from tests.flows.conftest import FIXTURES, ingest

TWEETS = conversation_id_for("twitter", "demo", "100")


@pytest.fixture
def api_settings(crm_settings: Settings) -> Settings:
    return crm_settings


async def test_status_steps_are_recorded_with_events_and_audit(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ingest(app.state.settings, [FIXTURES / "envelopes__threads.jsonl"])
    crm = app.state.crm
    pending = await client.post(f"/conversations/{TWEETS}/status", json={"status": "pending"})
    assert pending.status_code == 200 and pending.json()["status"] == "pending"
    until = (utcnow() + timedelta(hours=3)).isoformat()
    snoozed = await client.post(
        f"/conversations/{TWEETS}/status", json={"status": "snoozed", "snoozed_until": until}
    )
    assert snoozed.status_code == 200 and snoozed.json()["status"] == "snoozed"
    assert (await client.get("/conversations", params={"status": "snoozed"})).json()["total"] == 1

    # the snooze timer, run at a moment after the snooze: open again
    assert wake_due(crm, app.state.kb) == []  # not yet
    (woken,) = wake_due(crm, app.state.kb, now=utcnow() + timedelta(hours=4))
    assert woken.conversation_id == TWEETS
    assert (await client.get(f"/conversations/{TWEETS}")).json()["conversation"]["status"] == "open"

    resolved = await client.post(f"/conversations/{TWEETS}/status", json={"status": "resolved"})
    assert resolved.json()["status"] == "resolved"
    steps = [
        (e.data["from"], e.data["to"])
        for e in crm.events.read(types=["conversation.status_changed"], conversation_id=TWEETS)
    ]
    assert steps == [("open", "pending"), ("pending", "snoozed"), ("snoozed", "open"), ("open", "resolved")]
    reasons = [
        e.data["reason"] for e in crm.events.read(types=["conversation.reopened"], conversation_id=TWEETS)
    ]
    assert reasons == ["snooze_ended"]
    admin_id = (await client.get("/auth/me")).json()["agent"]["id"]
    assert {
        e.actor_id for e in crm.events.read(types=["conversation.status_changed"]) if e.data["to"] != "open"
    } == {admin_id}
    audit = crm.audit.read(action="conversation.status")
    assert [entry.after["status"] for entry in audit] == ["pending", "snoozed", "resolved"]


@pytest.mark.parametrize(
    "body",
    [
        {"status": "snoozed"},  # no time
        {"status": "pending", "snoozed_until": "2030-01-01T00:00:00Z"},
        {"status": "closed"},
        {},
    ],
)
async def test_bad_status_changes_are_422(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    ingest(app.state.settings, [FIXTURES / "envelopes__threads.jsonl"])
    answer = await client.post(f"/conversations/{TWEETS}/status", json=body)
    assert answer.status_code == 422 and isinstance(answer.json()["detail"], list)


async def test_a_snooze_in_the_past_is_400_and_an_unknown_conversation_404(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ingest(app.state.settings, [FIXTURES / "envelopes__threads.jsonl"])
    past = {"status": "snoozed", "snoozed_until": "2020-01-01T00:00:00Z"}
    assert (await client.post(f"/conversations/{TWEETS}/status", json=past)).status_code == 400
    assert (await client.post("/conversations/cnv_nope/status", json={"status": "open"})).status_code == 404


async def test_patch_still_triages_through_the_routing_table(app: FastAPI, client: httpx.AsyncClient) -> None:
    ingest(app.state.settings, [FIXTURES / "envelopes__threads.jsonl"])
    crm = app.state.crm
    patched = await client.patch(
        f"/conversations/{TWEETS}", json={"assignee": "sam", "queue": "vip", "priority": "high"}
    )
    assert patched.status_code == 200 and patched.json()["assignee"] == "sam"
    state = crm.routing.get(TWEETS)
    assert (state.assignee, state.queue, state.priority) == ("sam", "vip", "high")
    (assigned,) = crm.events.read(types=["conversation.assigned"], conversation_id=TWEETS)
    assert assigned.data == {"assignee": "sam", "previous": None, "queue": None, "rule_id": None}
    (updated,) = crm.events.read(types=["conversation.updated"], conversation_id=TWEETS)
    assert updated.data["changes"] == {"queue": [None, "vip"], "priority": ["normal", "high"]}
    assert (await client.patch(f"/conversations/{TWEETS}", json={"status": "snoozed"})).status_code == 400


async def test_waiting_conversations_are_assigned_when_an_agent_comes_online(
    app: FastAPI, client: httpx.AsyncClient, as_role: Callable[[Role], Awaitable[httpx.AsyncClient]]
) -> None:
    crm = app.state.crm
    agent_client = await as_role("agent")
    me = (await agent_client.get("/auth/me")).json()["agent"]
    team = crm.teams.create("Support", member_ids=[me["id"]])
    crm.rules.create(
        name="all",
        condition={},
        actions={"queue": "support", "assign": {"mode": "round_robin", "team_id": team.id}},
    )
    ingest(app.state.settings, [FIXTURES / "envelopes__threads.jsonl"])  # the agent is offline

    waiting = (await client.get("/routing/waiting")).json()
    assert len(waiting) >= 3 and {w["queue"] for w in waiting} == {"support"}
    assert (await agent_client.get("/routing/waiting")).status_code == 403

    online = await agent_client.patch("/auth/me", json={"availability": "online"})
    assert online.status_code == 200
    assert (await client.get("/routing/waiting")).json() == []
    mine = (await client.get("/conversations", params={"assignee": me["id"]})).json()
    assert mine["total"] == len(waiting)


async def test_the_snooze_timer_reopens_a_conversation_when_its_time_comes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ingest(app.state.settings, [FIXTURES / "envelopes__threads.jsonl"])
    until = (utcnow() + timedelta(seconds=1)).isoformat()
    await client.post(f"/conversations/{TWEETS}/status", json={"status": "snoozed", "snoozed_until": until})
    timer = SnoozeTimer(app.state.crm, app.state.kb, interval_s=0.1).start()
    try:
        for _ in range(100):  # up to ~10 s on a busy machine; no assertion on time
            if app.state.kb.get_conversation(TWEETS).status == "open":
                break
            time.sleep(0.1)
    finally:
        timer.stop()
    assert app.state.kb.get_conversation(TWEETS).status == "open"
    assert app.state.crm.routing.get(TWEETS).status == "open"
