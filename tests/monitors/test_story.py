"""The README's story, end to end with the real flow and API: monitors for the demo brand and a
competitor, backfilled from the demo; a burst of negative mentions ingested; one alert with
its messages; the same burst ingested again fires nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from cli.demo import BURST_PATH, DEMO_PATH, demo_settings
from hub.settings import Settings
from tests.api.callers import add_agent, bearer
from tests.flows.conftest import ingest

BRAND = '"parley coffee" OR parleycoffee OR mention:parleycoffee -author:parleycoffee'


@pytest.fixture
async def story(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    settings = demo_settings(settings)
    ingest(settings, [DEMO_PATH])
    app = create_app(settings)
    _, token = add_agent(app, "supervisor")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://parley.test", headers=bearer(token)
    ) as c:
        yield c, settings
    app.state.kb.close()
    app.state.crm.close()


async def test_a_burst_of_negative_mentions_is_one_alert_with_its_messages(
    story: tuple[httpx.AsyncClient, Settings],
) -> None:
    client, settings = story
    brand = (await client.post("/monitors", json={"name": "Parley Coffee", "query": BRAND})).json()
    rival = (await client.post("/monitors", json={"name": "Grindhaus", "query": "grindhaus"})).json()
    assert brand["backfilled"] > 100 and rival["backfilled"] >= 5  # the demo period is there at once
    series = (await client.get(f"/monitors/{brand['id']}/windows")).json()["items"]
    assert sum(w["volume"] for w in series) == brand["backfilled"]
    assert any(w["sentiment"]["negative"] for w in series) and any(w["sentiment"]["positive"] for w in series)

    ingest(settings, [BURST_PATH])
    alerts = (await client.get(f"/monitors/{brand['id']}/alerts")).json()["items"]
    assert len(alerts) == 1, alerts
    alert = alerts[0]
    assert alert["window_start"].startswith("2026-11-20T09:00:00")
    assert len(alert["message_ids"]) == 30
    search = (await client.get("/search", params={"q": "hashtag:parleyfail", "limit": 50})).json()
    assert {hit["id"] for hit in search["hits"]} == set(alert["message_ids"])
    assert (await client.get(f"/monitors/{rival['id']}/alerts")).json()["items"] == []
    events = (await client.get("/events", params={"type": "alert.fired"})).json()
    assert [e["data"]["alert_id"] for e in events["items"]] == [alert["id"]]

    ingest(settings, [BURST_PATH])  # the same burst again, as a replay after a restart
    assert (await client.get(f"/monitors/{brand['id']}/alerts")).json()["items"] == alerts
