"""/sla/policies (admins write, agents read) and the ``sla`` object of /conversations, on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from crm import CRMStore, Role
from crm.sla import SlaPolicySpec
from hub.models import conversation_id_for
from hub.settings import Settings

OFFICE = {
    "timezone": "America/New_York",
    "hours": {"mon": ["09:00-17:00"], "tue": ["09:00-12:00", "13:00-17:00"]},
}


@pytest.fixture
def api_settings(crm_settings: Settings) -> Settings:
    return crm_settings


async def test_admins_define_policies_that_agents_read(
    client: httpx.AsyncClient, as_role: Callable[[Role], Awaitable[httpx.AsyncClient]], app: FastAPI
) -> None:
    body = {
        "name": "VIP email",
        "queue": "vip",
        "priority": "high",
        "first_response_minutes": 30,
        "resolution_minutes": 480,
        "business_hours": OFFICE | {"holidays": ["2026-12-25"]},
        "escalation": {"raise_priority": "urgent", "reassign": True},
    }
    created = await client.post("/sla/policies", json=body)
    assert created.status_code == 201, created.text
    policy = created.json()
    assert policy["id"].startswith("sla_") and policy["business_hours"]["holidays"] == ["2026-12-25"]
    assert policy["next_response_minutes"] is None

    agent = await as_role("agent")
    listed = await agent.get("/sla/policies")
    assert listed.status_code == 200 and [p["name"] for p in listed.json()] == ["VIP email"]
    assert (await agent.get(f"/sla/policies/{policy['id']}")).json() == policy
    assert (await agent.post("/sla/policies", json=body | {"name": "mine"})).status_code == 403
    supervisor = await as_role("supervisor")
    assert (await supervisor.delete(f"/sla/policies/{policy['id']}")).status_code == 403

    replaced = await client.put(f"/sla/policies/{policy['id']}", json=body | {"first_response_minutes": 15})
    assert replaced.status_code == 200 and replaced.json()["first_response_minutes"] == 15
    crm: CRMStore = app.state.crm
    [audited] = crm.audit.read(action="sla_policy.replace")
    assert (audited.target_id, audited.after["first_response_minutes"]) == (policy["id"], 15)

    assert (await client.delete(f"/sla/policies/{policy['id']}")).status_code == 204
    assert (await client.get(f"/sla/policies/{policy['id']}")).status_code == 404


async def test_bad_policies_are_refused_with_the_documented_shapes(client: httpx.AsyncClient) -> None:
    base = {"name": "default", "first_response_minutes": 60}
    assert (await client.post("/sla/policies", json=base)).status_code == 201
    duplicate = await client.post("/sla/policies", json=base | {"name": "again"})
    assert duplicate.status_code == 409 and "queue any and priority any" in duplicate.json()["detail"]

    cases = [
        {"name": "none"},  # no target
        base
        | {
            "name": "z",
            "queue": "q",
            "business_hours": {"timezone": "Mars/Base", "hours": {"mon": ["09:00-17:00"]}},
        },
        base
        | {
            "name": "h",
            "queue": "q",
            "business_hours": {"timezone": "UTC", "hours": {"mon": ["17:00-09:00"]}},
        },
        base | {"name": "n", "queue": "q", "first_response_minutes": 0},
        base | {"name": "p", "queue": "q", "priority": "critical"},
        base | {"name": "x", "queue": "q", "colour": "red"},
        base | {"name": "nul\x00", "queue": "q"},
        # in a nested part too (found by the schema fuzz: PostgreSQL refused it, a 500)
        base | {"name": "e", "queue": "q", "escalation": {"notify_team": "team\x00"}},
    ]
    for case in cases:
        answer = await client.post("/sla/policies", json=case)
        assert answer.status_code == 422, (case, answer.text)
        assert isinstance(answer.json()["detail"], list)
    unknown_team = await client.post(
        "/sla/policies", json=base | {"name": "t", "queue": "q", "escalation": {"notify_team": "team_none"}}
    )
    assert unknown_team.status_code == 400 and "no team" in unknown_team.json()["detail"]
    assert (await client.put("/sla/policies/sla_missing", json=base)).status_code == 404


@pytest.mark.usefixtures("threads")
async def test_the_inbox_shows_due_times(client: httpx.AsyncClient, app: FastAPI) -> None:
    crm: CRMStore = app.state.crm
    crm.sla.policies.create(
        SlaPolicySpec(name="default", first_response_minutes=60, resolution_minutes=24 * 60)
    )
    page = (await client.get("/conversations")).json()
    assert page["items"] and all(item["sla"] is None for item in page["items"])  # not tracked yet

    # the ingest's routing logged every conversation's creation; the tracker turns that into
    # clocks. The fixture's messages are old, so clocks start when the hub recorded them.
    crm.sla.follow()
    now = datetime.now(UTC)
    page = (await client.get("/conversations")).json()
    assert all(item["sla"] is not None for item in page["items"])
    tracked = conversation_id_for("twitter", "demo", "100")
    clock = {item["id"]: item["sla"] for item in page["items"]}[tracked]
    due = datetime.fromisoformat(clock["first_response_due"])
    assert now + timedelta(hours=1) - timedelta(minutes=15) < due <= now + timedelta(hours=1)
    assert clock["breached"] == [] and clock["paused_since"] is None and clock["resolution_due"]

    detail = (await client.get(f"/conversations/{tracked}")).json()
    assert detail["conversation"]["sla"] == clock
