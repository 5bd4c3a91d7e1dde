"""/rules: routing rules through the API, bad ones refused with the documented shapes, on
SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from hub.settings import Settings


@pytest.fixture
def api_settings(crm_settings: Settings) -> Settings:
    return crm_settings


@pytest.fixture
def team_id(app: FastAPI) -> str:
    crm = app.state.crm
    ann = crm.agents.create(name="Ann", email="ann@parley.test").id
    return str(crm.teams.create("Support", member_ids=[ann]).id)


async def test_rules_are_created_listed_changed_reordered_and_deleted(
    client: httpx.AsyncClient, team_id: str
) -> None:
    body = {
        "name": "mail to support",
        "condition": {"query": "channel:email refund", "languages": ["EN"]},
        "actions": {"queue": "support", "assign": {"mode": "round_robin", "team_id": team_id}},
    }
    created = await client.post("/rules", json=body)
    assert created.status_code == 201, created.text
    first = created.json()
    assert first["condition"]["languages"] == ["en"] and first["enabled"] and not first["stop"]
    second = (await client.post("/rules", json={"name": "urgent", "actions": {"priority": "urgent"}})).json()
    assert second["position"] > first["position"]
    listed = (await client.get("/rules")).json()
    assert [r["id"] for r in listed] == [first["id"], second["id"]]

    reordered = await client.post("/rules/order", json={"rule_ids": [second["id"]]})
    assert [r["id"] for r in reordered.json()] == [second["id"], first["id"]]
    patched = await client.patch(f"/rules/{first['id']}", json={"enabled": False, "name": "off"})
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert (await client.get(f"/rules/{first['id']}")).json()["name"] == "off"
    assert (await client.delete(f"/rules/{first['id']}")).status_code == 204
    assert (await client.get(f"/rules/{first['id']}")).status_code == 404
    audit = (await client.get("/audit", params={"limit": 100})).json()
    actions = [entry["action"] for entry in (audit["items"] if isinstance(audit, dict) else audit)]
    assert {"rule.create", "rule.reorder", "rule.update", "rule.delete"} <= set(actions)


async def test_a_condition_that_does_not_parse_is_refused_with_the_query_error_shape(
    client: httpx.AsyncClient,
) -> None:
    bad = {"name": "bad", "condition": {"query": 'refund AND ("money'}, "actions": {"queue": "x"}}
    answer = await client.post("/rules", json=bad)
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert set(detail) >= {"message", "position"} and isinstance(detail["position"], int)
    assert (await client.get("/rules")).json() == []
    good = (await client.post("/rules", json={"name": "ok", "actions": {"queue": "x"}})).json()
    patched = await client.patch(f"/rules/{good['id']}", json={"condition": {"query": "(refund OR"}})
    assert patched.status_code == 400 and "position" in patched.json()["detail"]


@pytest.mark.parametrize(
    "actions",
    [
        {},  # does nothing
        {"assign": {"mode": "round_robin"}},  # no team
        {"assign": {"mode": "agent"}},  # no agent
        {"assign": {"mode": "telepathy", "team_id": "t"}},
        {"queue": "x", "surprise": 1},
    ],
)
async def test_actions_of_the_wrong_shape_are_422(
    client: httpx.AsyncClient, actions: dict[str, object]
) -> None:
    answer = await client.post("/rules", json={"name": "r", "actions": actions})
    assert answer.status_code == 422
    assert isinstance(answer.json()["detail"], list)


async def test_assigning_to_an_agent_or_team_that_does_not_exist_is_400(client: httpx.AsyncClient) -> None:
    for assign in (
        {"mode": "agent", "agent_id": "agt_nobody"},
        {"mode": "least_loaded", "team_id": "team_none"},
    ):
        answer = await client.post("/rules", json={"name": "r", "actions": {"assign": assign}})
        assert answer.status_code == 400 and "does not exist" in answer.json()["detail"]
