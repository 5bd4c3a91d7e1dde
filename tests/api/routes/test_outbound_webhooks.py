"""/outbound-webhooks through the real app, on SQLite and PostgreSQL: the secret shown once,
URLs refused at save time by the SSRF policy, filters validated, the delivery log, test
messages, disabling and re-enabling, audit entries without the secret.

No DNS query leaves the machine: ``.test`` hosts resolve through a fake resolver (the policy
dependency overridden); IP literals and ``localhost`` exercise the deployed policy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import httpx
import pytest
from fastapi import FastAPI

from api.routes.outbound_webhooks import webhook_address_policy
from channels.feeds.addresses import AddressPolicy, UnresolvableHost
from crm import CRMStore
from hub.settings import Settings

PUBLIC = "93.184.215.14"
FAKE_DNS = {
    "localhost": ["127.0.0.1"],
    "intranet.acme.test": ["10.0.0.7"],
    "split.acme.test": [PUBLIC, "fd00::7"],
    "nowhere.acme.test": [],
}


def fake_resolve(host: str, timeout_s: float) -> Sequence[str]:
    addresses = FAKE_DNS.get(host, [PUBLIC] if host.endswith(".test") else [])
    if not addresses:
        raise UnresolvableHost(f"could not resolve {host}: no such name")
    return addresses


@pytest.fixture
def api_settings(crm_settings: Settings) -> Iterator[Settings]:
    yield crm_settings


@pytest.fixture(autouse=True)
def fake_dns(app: FastAPI, api_settings: Settings) -> None:
    app.dependency_overrides[webhook_address_policy] = lambda: AddressPolicy.for_outbound_webhooks(
        api_settings.outbound_webhooks, resolve=fake_resolve
    )


def crm_of(app: FastAPI) -> CRMStore:
    store: CRMStore = app.state.crm
    return store


async def test_create_shows_the_secret_once(client: httpx.AsyncClient, app: FastAPI) -> None:
    crm_of(app).events.append("conversation.created", conversation_id="c-old")
    answer = await client.post(
        "/outbound-webhooks",
        json={"url": " https://hooks.acme.test/parley ", "event_types": ["conversation.*", "sla.breached"]},
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["secret"].startswith("whsec_") and created["id"].startswith("whk_")
    assert created["url"] == "https://hooks.acme.test/parley"
    assert created["event_types"] == ["conversation.*", "sla.breached"]
    assert created["enabled"] is True and created["cursor"] == crm_of(app).events.last_id()
    shown = (await client.get(f"/outbound-webhooks/{created['id']}")).json()
    listed = (await client.get("/outbound-webhooks")).json()["items"]
    assert "secret" not in shown and [item["id"] for item in listed] == [created["id"]]
    assert created["secret"] not in (await client.get("/audit")).text
    actions = [e["action"] for e in (await client.get("/audit")).json()["items"]]
    assert "outbound_webhook.create" in actions


async def test_rotating_shows_the_new_secret_once_and_keeps_the_old_one_signing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    created = (await client.post("/outbound-webhooks", json={"url": "https://hooks.acme.test/p"})).json()
    path = f"/outbound-webhooks/{created['id']}/rotate-secret"
    answer = await client.post(path, json={"keep_previous_hours": 2})
    assert answer.status_code == 200, answer.text
    rotated = answer.json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    assert rotated["id"] == created["id"] and rotated["url"] == "https://hooks.acme.test/p"
    assert "secret" not in (await client.get(f"/outbound-webhooks/{created['id']}")).json()
    audit = (await client.get("/audit")).text
    assert rotated["secret"] not in audit and created["secret"] not in audit
    assert "outbound_webhook.rotate_secret" in audit

    crm = crm_of(app)
    crm.outbound_webhooks.queue_test(created["id"])
    [claim] = crm.outbound_webhooks.claim(limit=1, lease_s=30)
    assert (claim.secret, claim.previous_secret) == (rotated["secret"], created["secret"])

    assert (await client.post(path, json={})).json()["secret"] != rotated["secret"]  # 24 h by default
    for bad in ({"keep_previous_hours": -1}, {"keep_previous_hours": 169}, {"keep_previous_hours": "a"}):
        assert (await client.post(path, json=bad)).status_code == 422, bad
    missing = await client.post("/outbound-webhooks/whk_missing/rotate-secret", json={})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8000/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("https://intranet.acme.test/hook", "private"),
        ("https://split.acme.test/hook", "private"),
        ("http://[::ffff:10.0.0.1]/hook", "private"),
        ("ftp://hooks.acme.test/x", "http(s)"),
        ("file:///etc/passwd", "http(s)"),
        ("https://nowhere.acme.test/hook", "could not resolve"),
    ],
)
async def test_internal_and_non_http_urls_are_refused_at_save_time(
    client: httpx.AsyncClient, url: str, why: str
) -> None:
    answer = await client.post("/outbound-webhooks", json={"url": url})
    assert answer.status_code == 400, answer.text
    assert why in answer.json()["detail"]
    if why not in ("http(s)", "could not resolve"):
        assert "outbound_webhooks.allow_private_addresses" in answer.json()["detail"]
    assert (await client.get("/outbound-webhooks")).json()["items"] == []


async def test_a_changed_url_is_vetted_again(client: httpx.AsyncClient) -> None:
    created = (await client.post("/outbound-webhooks", json={"url": "https://hooks.acme.test/a"})).json()
    refused = await client.patch(f"/outbound-webhooks/{created['id']}", json={"url": "http://10.1.2.3/"})
    assert refused.status_code == 400 and "private" in refused.json()["detail"]
    changed = await client.patch(
        f"/outbound-webhooks/{created['id']}",
        json={"url": "https://hooks.acme.test/b", "event_types": None, "description": "CRM sync"},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["url"], changed.json()["event_types"], changed.json()["description"]) == (
        "https://hooks.acme.test/b",
        None,
        "CRM sync",
    )


@pytest.mark.parametrize(
    "types", [[], ["conversation"], ["Conversation.assigned"], ["conversation.assigned; drop"], ["*.x"]]
)
async def test_malformed_event_types_are_refused(client: httpx.AsyncClient, types: list[str]) -> None:
    answer = await client.post(
        "/outbound-webhooks", json={"url": "https://hooks.acme.test/", "event_types": types}
    )
    assert answer.status_code == 400, answer.text
    assert "event" in answer.json()["detail"]


async def test_bad_bodies_are_422(client: httpx.AsyncClient) -> None:
    assert (await client.post("/outbound-webhooks", json={})).status_code == 422
    assert (await client.post("/outbound-webhooks", json={"url": "x" * 3000})).status_code == 422
    assert (
        await client.post("/outbound-webhooks", json={"url": "https://a.test/", "event_types": "all"})
    ).status_code == 422


async def test_test_message_delivery_log_disable_enable_delete(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    sub = (await client.post("/outbound-webhooks", json={"url": "https://hooks.acme.test/"})).json()
    base = f"/outbound-webhooks/{sub['id']}"
    queued = await client.post(f"{base}/test")
    assert queued.status_code == 202, queued.text
    delivery = queued.json()
    assert (delivery["event_type"], delivery["state"], delivery["attempts"]) == ("webhook.test", "pending", 0)
    assert delivery["message_id"].startswith("test_")
    log = (await client.get(f"{base}/deliveries")).json()
    assert [d["id"] for d in log["items"]] == [delivery["id"]] and log["next_before"] is None
    assert (await client.get(f"{base}/deliveries/{delivery['id']}")).json() == delivery
    assert (await client.get(f"{base}/deliveries", params={"state": "delivered"})).json()["items"] == []
    assert (await client.get(f"{base}/deliveries", params={"state": "lost"})).status_code == 422
    assert (await client.get(f"{base}/deliveries/999999")).status_code == 404

    disabled = (await client.post(f"{base}/disable", json={"reason": "receiver moving"})).json()
    assert (disabled["enabled"], disabled["disabled_reason"]) == (False, "receiver moving")
    crm_of(app).events.append("conversation.assigned", conversation_id="c-1")
    enabled = (await client.post(f"{base}/enable", json={"skip_missed": True})).json()
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None
    assert enabled["cursor"] == crm_of(app).events.last_id()

    assert (await client.delete(base)).status_code == 204
    assert (await client.get(base)).status_code == 404
    assert (await client.get(f"{base}/deliveries")).status_code == 404
    assert (await client.delete(base)).status_code == 404


async def test_unknown_subscriptions_are_404(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/outbound-webhooks/whk_nope"),
        ("PATCH", "/outbound-webhooks/whk_nope"),
        ("POST", "/outbound-webhooks/whk_nope/test"),
        ("POST", "/outbound-webhooks/whk_nope/enable"),
        ("POST", "/outbound-webhooks/whk_nope/disable"),
    ]:
        answer = await client.request(method, path, json={} if method != "GET" else None)
        assert answer.status_code == 404, (method, path, answer.text)
