"""/feeds through the real app (httpx ASGI transport): list, add, validate, remove."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from channels.feeds.registry import FeedRegistry, feed_id, registry_path
from hub.settings import FeedConfig, FeedSettings, Settings


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    settings.feeds = FeedSettings(feeds=[FeedConfig(url="https://configured.test/rss", name="conf")])
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://parley.test"
    ) as http:
        yield http


async def test_add_list_remove(client: httpx.AsyncClient, settings: Settings) -> None:
    listed = (await client.get("/feeds")).json()["items"]
    assert [(f["url"], f["origin"], f["account"]) for f in listed] == [
        ("https://configured.test/rss", "settings", "conf")
    ]
    created = await client.post(
        "/feeds",
        json={
            "url": "https://blog.acme.test/feed/",
            "query": "parley OR site:acme.test",
            "poll_interval_s": 300,
        },
    )
    assert created.status_code == 201, created.text
    feed = created.json()
    assert feed["id"] == feed_id("https://blog.acme.test/feed/")
    assert feed["account"] == "blog.acme.test" and feed["origin"] == "api" and feed["poll_interval_s"] == 300
    # persisted where the poller reads it
    (stored,) = FeedRegistry(registry_path(settings)).feeds()
    assert stored.config() == FeedConfig(
        url="https://blog.acme.test/feed/", query="parley OR site:acme.test", poll_interval_s=300
    )
    assert [f["id"] for f in (await client.get("/feeds")).json()["items"]][1:] == [feed["id"]]
    assert (await client.delete(f"/feeds/{feed['id']}")).status_code == 204
    assert FeedRegistry(registry_path(settings)).feeds() == []
    assert (await client.delete(f"/feeds/{feed['id']}")).status_code == 404


async def test_bad_query_is_400_with_position(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.post("/feeds", json={"url": "https://a.test/rss", "query": "acme AND ("})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["message"].startswith("invalid query") and detail["position"] == 10
    assert FeedRegistry(registry_path(settings)).feeds() == []


@pytest.mark.parametrize("url", ["ftp://a.test/rss", "not a url", "file:///etc/passwd", "http://"])
async def test_bad_url_is_400(client: httpx.AsyncClient, url: str) -> None:
    response = await client.post("/feeds", json={"url": url})
    assert response.status_code == 400 and "http(s)" in response.json()["detail"]


async def test_duplicates_and_settings_feeds_conflict(client: httpx.AsyncClient) -> None:
    assert (await client.post("/feeds", json={"url": "https://a.test/rss"})).status_code == 201
    again = await client.post("/feeds", json={"url": "https://a.test/rss", "name": "other"})
    assert again.status_code == 409
    configured = await client.post("/feeds", json={"url": "https://configured.test/rss"})
    assert configured.status_code == 409
    removed = await client.delete(f"/feeds/{feed_id('https://configured.test/rss')}")
    assert removed.status_code == 409 and "configured in settings" in removed.json()["detail"]


async def test_schema_limits_are_422(client: httpx.AsyncClient) -> None:
    assert (
        await client.post("/feeds", json={"url": "https://a.test/rss", "poll_interval_s": 1})
    ).status_code == 422
    assert (await client.post("/feeds", json={})).status_code == 422
