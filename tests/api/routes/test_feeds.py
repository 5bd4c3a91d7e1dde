"""/feeds through the real app (httpx ASGI transport): list, add, validate, remove, URL policy.

No test here sends a DNS query: with ``fake_dns``, ``.test`` hosts resolve through a fake
resolver standing in for DNS (``address_policy`` overridden); without it, the deployed policy
is exercised with IP literals and ``localhost`` (the hosts file). One feed is configured in
settings unless a test parametrizes ``feed_settings`` (``DEPLOYED``: the defaults).
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest
from fastapi import FastAPI

from api.routes.feeds import address_policy
from channels.feeds import FEEDS
from channels.feeds.addresses import AddressPolicy, UnresolvableHost
from channels.feeds.registry import FeedRegistry, feed_id, registry_path
from channels.feeds.settings import FeedConfig, FeedSettings
from hub.settings import Settings

PUBLIC = "93.184.215.14"
#: what the fake DNS answers; every other ``.test`` host is public, anything else unknown
FAKE_DNS: dict[str, list[str]] = {
    "intranet.acme.test": ["10.0.0.7"],
    "split.acme.test": [PUBLIC, "fd00::7"],
    "nowhere.acme.test": [],
}


def fake_resolve(host: str, timeout_s: float) -> Sequence[str]:
    addresses = FAKE_DNS.get(host, [PUBLIC] if host.endswith(".test") else [])
    if not addresses:
        raise UnresolvableHost(f"could not resolve {host}: no such name")
    return addresses


#: the app as deployed: default feed settings, the system resolver
DEPLOYED = pytest.mark.parametrize("feed_settings", [FeedSettings()], ids=["deployed"])


@pytest.fixture
def feed_settings() -> FeedSettings:
    """The app's feed settings: one feed configured (a test parametrizes this to change them)."""
    return FeedSettings(feeds=[FeedConfig(url="https://configured.test/rss", name="conf")])


@pytest.fixture
def api_settings(settings: Settings, feed_settings: FeedSettings) -> Settings:
    return FEEDS.with_settings(settings, feed_settings)


@pytest.fixture
def fake_dns(app: FastAPI, api_settings: Settings) -> None:
    """``.test`` hosts resolve through :func:`fake_resolve`; without it the system resolver does."""
    app.dependency_overrides[address_policy] = lambda: AddressPolicy.from_settings(
        FEEDS.settings_of(api_settings), resolve=fake_resolve
    )


@pytest.mark.usefixtures("fake_dns")
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


@pytest.mark.usefixtures("fake_dns")
async def test_bad_query_is_400_with_position(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.post("/feeds", json={"url": "https://a.test/rss", "query": "acme AND ("})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["message"].startswith("invalid query") and detail["position"] == 10
    assert FeedRegistry(registry_path(settings)).feeds() == []


@pytest.mark.usefixtures("fake_dns")
@pytest.mark.parametrize("url", ["ftp://a.test/rss", "not a url", "file:///etc/passwd", "http://"])
async def test_bad_url_is_400(client: httpx.AsyncClient, url: str) -> None:
    response = await client.post("/feeds", json={"url": url})
    assert response.status_code == 400 and "http(s)" in response.json()["detail"]


@pytest.mark.usefixtures("fake_dns")
async def test_duplicates_and_settings_feeds_conflict(client: httpx.AsyncClient) -> None:
    assert (await client.post("/feeds", json={"url": "https://a.test/rss"})).status_code == 201
    again = await client.post("/feeds", json={"url": "https://a.test/rss", "name": "other"})
    assert again.status_code == 409
    configured = await client.post("/feeds", json={"url": "https://configured.test/rss"})
    assert configured.status_code == 409
    removed = await client.delete(f"/feeds/{feed_id('https://configured.test/rss')}")
    assert removed.status_code == 409 and "configured in settings" in removed.json()["detail"]


@pytest.mark.usefixtures("fake_dns")
async def test_schema_limits_are_422(client: httpx.AsyncClient) -> None:
    assert (
        await client.post("/feeds", json={"url": "https://a.test/rss", "poll_interval_s": 1})
    ).status_code == 422
    assert (await client.post("/feeds", json={})).status_code == 422


@DEPLOYED
@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8080/feed", "loopback"),
        ("http://localhost:9200/_search", "loopback"),  # a name: resolved (hosts file)
        ("http://[::1]/rss", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/rss", "link-local"),
        ("http://10.1.2.3/rss", "private"),
        ("http://172.16.5.4/rss", "private"),
        ("https://192.168.0.1/rss", "private"),
        ("http://[fd00::1]/rss", "private"),
        ("http://[::ffff:127.0.0.1]/rss", "loopback"),  # IPv4-mapped IPv6
        ("http://0.0.0.0:8000/", "unspecified"),
        ("http://100.64.0.1/rss", "not globally routable"),  # carrier-grade NAT
        ("http://2130706433/rss", "loopback"),  # 127.0.0.1 spelled as one number
    ],
)
async def test_internal_urls_are_refused_by_default(
    client: httpx.AsyncClient, settings: Settings, url: str, kind: str
) -> None:
    response = await client.post("/feeds", json={"url": url})
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert f"({kind} address)" in detail and "feeds.allow_private_addresses" in detail
    assert FeedRegistry(registry_path(settings)).feeds() == []


@DEPLOYED
async def test_public_literal_is_accepted_by_default(client: httpx.AsyncClient) -> None:
    # only the add-time policy is checked: nothing is fetched here
    response = await client.post("/feeds", json={"url": f"http://{PUBLIC}/feed.xml"})
    assert response.status_code == 201, response.text
    assert response.json()["account"] == PUBLIC


@pytest.mark.parametrize("feed_settings", [FeedSettings(allow_private_addresses=True)], ids=["allowed"])
async def test_internal_urls_are_accepted_when_allowed(client: httpx.AsyncClient, settings: Settings) -> None:
    for url in ("http://127.0.0.1:8080/feed", "http://10.1.2.3/rss"):
        assert (await client.post("/feeds", json={"url": url})).status_code == 201
    # the scheme is still checked
    assert (await client.post("/feeds", json={"url": "file:///etc/passwd"})).status_code == 400
    assert len(FeedRegistry(registry_path(settings)).feeds()) == 2


@pytest.mark.usefixtures("fake_dns")
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://intranet.acme.test/rss", "intranet.acme.test resolves to 10.0.0.7 (private address)"),
        # one internal address among public ones is enough: the client may pick it
        ("https://split.acme.test/rss", "split.acme.test resolves to fd00::7 (private address)"),
        ("https://nowhere.acme.test/rss", "could not resolve nowhere.acme.test"),
    ],
)
async def test_host_names_are_resolved_at_add_time(
    client: httpx.AsyncClient, settings: Settings, url: str, expected: str
) -> None:
    response = await client.post("/feeds", json={"url": url})
    assert response.status_code == 400 and expected in response.json()["detail"]
    assert FeedRegistry(registry_path(settings)).feeds() == []
