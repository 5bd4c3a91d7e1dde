"""``/analytics/inbox/*``: response times, backlog and workload from the event log, as JSON and
as CSV; bad periods refused in the documented 422 shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from crm import CRMStore, NewEvent
from hub.settings import Settings
from tests.api.callers import add_agent

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def api_settings(crm_settings: Settings) -> Settings:
    """The CRM on SQLite and, when ``PARLEY_TEST_POSTGRES_URL`` is set, on PostgreSQL."""
    return crm_settings


def _story(app: FastAPI) -> str:
    crm: CRMStore = app.state.crm
    ann, _ = add_agent(app, "agent", email="ann@example.org")
    team = crm.teams.create(name="Billing")
    crm.teams.add_member(team.id, ann.id)

    def at(minutes: int) -> str:
        return (T0 + timedelta(minutes=minutes)).isoformat()

    crm.events.append_many(
        [
            NewEvent(
                type="conversation.created", conversation_id="c1", data={"channel": "email", "sent_at": at(0)}
            ),
            NewEvent(type="conversation.assigned", conversation_id="c1", data={"assignee": ann.id}),
            NewEvent(
                type="message.created",
                conversation_id="c1",
                data={"direction": "out", "sent_by": ann.id, "sent_at": at(45)},
            ),
            NewEvent(
                type="conversation.created",
                conversation_id="c2",
                data={"channel": "twitter", "sent_at": at(5)},
            ),
        ]
    )
    return ann.id


async def test_response_times_by_agent_and_team_as_json_and_csv(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ann = _story(app)
    period = {"since": (T0 - timedelta(days=1)).isoformat(), "until": (T0 + timedelta(days=1)).isoformat()}
    by_agent = await client.get("/analytics/inbox/response-times", params=period)
    assert by_agent.status_code == 200, by_agent.text
    body = by_agent.json()
    assert body["columns"] == ["agent_id", "agent", "count", "median_seconds", "p90_seconds"]
    assert body["rows"] == [
        {
            "agent_id": ann,
            "agent": "Agent Tester",
            "count": 1,
            "median_seconds": 2700.0,
            "p90_seconds": 2700.0,
        }
    ]
    by_team = await client.get(
        "/analytics/inbox/response-times", params={**period, "by": "team", "format": "csv"}
    )
    assert by_team.headers["content-type"].startswith("text/csv")
    assert by_team.text.splitlines() == ["team,count,median_seconds,p90_seconds", "Billing,1,2700,2700"]
    workload = await client.get("/analytics/inbox/workload")  # the last 7 days: assigned just now
    assert workload.json()["rows"] == [
        {"agent_id": ann, "agent": "Agent Tester", "assigned": 1, "holding": 1}
    ]


async def test_backlog_over_time(app: FastAPI, client: httpx.AsyncClient) -> None:
    _story(app)
    response = await client.get(
        "/analytics/inbox/backlog",
        params={"since": T0.isoformat(), "until": (T0 + timedelta(hours=3)).isoformat(), "interval": "hour"},
    )
    assert response.status_code == 200, response.text
    assert [row["open_or_pending"] for row in response.json()["rows"]] == [2, 2, 2]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/analytics/inbox/backlog", {"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}),
        ("/analytics/inbox/backlog", {"since": "2000-01-01T00:00:00Z", "interval": "hour"}),
        ("/analytics/inbox/response-times", {"by": "planet"}),
        ("/analytics/inbox/response-times", {"format": "xml"}),
        # a week before it is before the year 1 (found by the schema fuzz: it was a 500)
        ("/analytics/listening/charts/volume.svg", {"until": "0001-01-01T00:02:00Z"}),
        ("/analytics/inbox/backlog", {"until": "0001-01-03T00:00:00Z"}),
    ],
)
async def test_bad_requests_are_422_in_the_documented_shape(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)


async def test_viewers_cannot_read_team_performance(as_role, anonymous: httpx.AsyncClient) -> None:  # type: ignore[no-untyped-def]
    viewer = await as_role("viewer")
    assert (await viewer.get("/analytics/inbox/backlog")).status_code == 403
    assert (await anonymous.get("/analytics/inbox/backlog")).status_code == 401


async def test_sla_attainment_from_the_sla_tracker(app: FastAPI, client: httpx.AsyncClient) -> None:
    from crm.sla import SlaPolicySpec
    from tests.crm.test_sla_tracker import created, message

    crm: CRMStore = app.state.crm
    crm.sla.policies.create(SlaPolicySpec.model_validate({"name": "default", "first_response_minutes": 60}))
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    created(crm, now, "fast")
    message(crm, now + timedelta(minutes=20), "out", "fast", sent_by="agt_x")
    created(crm, now, "slow")
    message(crm, now + timedelta(minutes=90), "out", "slow", sent_by="agt_x")
    crm.sla.follow()
    crm.sla.scan(now + timedelta(hours=3))
    response = await client.get("/analytics/inbox/sla", params={"by": "channel"})
    assert response.status_code == 200, response.text
    [row] = [r for r in response.json()["rows"] if r["metric"] == "first_response"]
    assert (row["channel"], row["measured"], row["with_target"], row["met"], row["breached"]) == (
        "email",
        2,
        2,
        1,
        1,
    )
    assert row["attainment"] == 0.5 and row["median_seconds"] == 3300.0
