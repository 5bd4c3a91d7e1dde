"""The API's outer checks: Host names (DNS rebinding), cross-site writes and form bodies, CORS,
request ids; and the pure functions behind them and behind binding an address."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.hosts import allowed_hosts, bind_warning, host_allowed, host_name, is_loopback, public_url
from api.ratelimit import FailureLimiter
from api.security import cross_site_refusal, origin_of
from hub.errors import FatalError
from hub.settings import APISettings, Settings
from tests.api.conftest import BASE_URL
from tests.api.people import add_people

# --- Host --------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "", "[::2]"])
async def test_other_hosts_are_refused_with_400(client: httpx.AsyncClient, host: str) -> None:
    for path in ("/health", "/conversations", "/webhooks/hooktest/brand"):
        response = await client.get(path, headers={"Host": host})
        assert response.status_code == 400, (host, path)
        assert "allowed_hosts" in response.json()["detail"]


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost", "LOCALHOST:9", "[::1]:8000", "parley.test"])
async def test_configured_hosts_are_answered(client: httpx.AsyncClient, host: str) -> None:
    assert (await client.get("/health", headers={"Host": host})).status_code == 200


def test_the_hosts_answered_include_the_bound_address_and_the_public_url() -> None:
    settings = Settings(
        api=APISettings(
            host="192.0.2.7", allowed_hosts=["Hub.Example"], public_url="https://Public.Example/x"
        )
    )
    assert allowed_hosts(settings) == {"hub.example", "192.0.2.7", "public.example"}
    assert allowed_hosts(Settings(api=APISettings(host="0.0.0.0"))) == {"127.0.0.1", "localhost", "::1"}
    assert allowed_hosts(Settings(api=APISettings(allowed_hosts=["*"]))) == {"*"}
    assert host_allowed("anything", frozenset({"*"})) and not host_allowed(None, frozenset({"a"}))
    assert [host_name(h) for h in ("A.b:80", "[::1]:8000", "::1", "x")] == ["a.b", "::1", "::1", "x"]


def test_binding_loopback_is_quiet_and_elsewhere_needs_the_public_name() -> None:
    loopback = Settings()
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.9.9.9", "::1", "localhost", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.0.2.7", "hub.example"))
    assert bind_warning(loopback, "127.0.0.1") is None
    with pytest.raises(FatalError, match="PARLEY_API__ALLOWED_HOSTS"):
        bind_warning(loopback, "0.0.0.0")
    named = Settings(api=APISettings(allowed_hosts=["hub.example", "localhost"]))
    warning = bind_warning(named, "0.0.0.0")
    assert warning is not None and "hub.example" in warning and "allowed_hosts" in warning
    assert bind_warning(loopback, "192.0.2.7") is not None  # the address itself is the name
    assert bind_warning(Settings(api=APISettings(public_url="https://hub.example")), "::") is not None


def test_sign_in_links_point_at_the_public_url() -> None:
    assert public_url(Settings()) == "http://127.0.0.1:8000"
    assert public_url(Settings(api=APISettings(host="0.0.0.0", port=9))) == "http://127.0.0.1:9"
    assert public_url(Settings(api=APISettings(host="::1"))) == "http://[::1]:8000"
    assert public_url(Settings(api=APISettings(public_url="https://hub.example/"))) == "https://hub.example"


# --- cross-site writes and form bodies ----------------------------------------------------


async def test_the_measured_attack_an_anonymous_cross_site_form_unmerge_is_refused(
    app: FastAPI, client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    ids = add_people(app)
    await client.post(f"/contacts/{ids['ann']}/merge", json={"other_id": ids["bob"]})
    attack = await anonymous.post(
        f"/contacts/{ids['ann']}/unmerge",
        content=b"",
        headers={"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert attack.status_code == 403
    # even with an admin's credentials a cross-site page gets nowhere
    with_token = await client.post(
        f"/contacts/{ids['ann']}/unmerge", headers={"Origin": "http://evil.example"}
    )
    assert with_token.status_code == 403
    assert app.state.crm.get_contact(ids["bob"]).merged_into == ids["ann"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "https://parley.test"},  # another scheme is another origin
        {"Origin": "http://parley.test:8080"},
        {"Referer": "http://evil.example/page"},
    ],
)
async def test_writes_from_other_origins_are_403(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.patch("/auth/me", json={"availability": "online"}, headers=headers)
    assert response.status_code == 403 and "cross-site" in response.json()["detail"]


async def test_writes_from_the_hubs_own_origin_and_reads_from_anywhere_pass(
    client: httpx.AsyncClient,
) -> None:
    for headers in (
        {"Origin": BASE_URL},
        {"Origin": "http://parley.test:80"},
        {"Referer": f"{BASE_URL}/x"},
        {},
    ):
        assert (
            await client.patch("/auth/me", json={"availability": "online"}, headers=headers)
        ).status_code == 200
    assert (await client.get("/auth/me", headers={"Origin": "http://evil.example"})).status_code == 200


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain; charset=utf-8"],
)
async def test_form_and_text_bodies_are_415(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post(
        "/segments", content=b'{"name": "x", "kind": "static"}', headers={"Content-Type": content_type}
    )
    assert response.status_code == 415 and "JSON" in response.json()["detail"]
    assert (await client.get("/segments")).json() == []


async def test_webhooks_take_forms_from_anywhere(client: httpx.AsyncClient) -> None:
    # platforms are not browsers: no Origin or form check (their signature is checked instead)
    response = await client.post(
        "/webhooks/nochannel/x",
        content=b"a=b",
        headers={"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 404


def test_cross_site_refusal_and_origins() -> None:
    own, trusted = "https://hub.example", frozenset({"https://console.example"})
    assert cross_site_refusal("GET", "/x", {"origin": "http://evil"}, own, trusted) is None
    assert cross_site_refusal("POST", "/x", {"origin": "https://console.example"}, own, trusted) is None
    assert cross_site_refusal("POST", "/x", {"origin": "https://hub.example:443"}, own, trusted) is None
    assert cross_site_refusal("DELETE", "/x", {"referer": "garbage"}, own, trusted) == (
        403,
        "cross-site request refused: its Origin is not this hub's",
    )
    assert cross_site_refusal("PUT", "/x", {"content-type": "TEXT/PLAIN"}, own, trusted) is not None
    assert cross_site_refusal("POST", "/x", {"content-type": "text/csv"}, own, trusted) is None
    assert origin_of("HTTP://Hub.Example:80/path?q") == "http://hub.example"
    assert origin_of("http://[::1]:8000/") == "http://[::1]:8000"
    assert origin_of("null") is None and origin_of("http://h:notaport") is None


# --- CORS and request ids -----------------------------------------------------------------


async def test_cors_is_closed_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"Origin": "https://console.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = await client.options(
        "/conversations",
        headers={"Origin": "https://console.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_opens_for_the_configured_origins_only(settings: Settings) -> None:
    settings.api.cors_origins = ["https://console.example"]
    app = create_app(settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as c:
            preflight = await c.options(
                "/auth/me",
                headers={"Origin": "https://console.example", "Access-Control-Request-Method": "PATCH"},
            )
            assert preflight.headers["access-control-allow-origin"] == "https://console.example"
            assert preflight.headers["access-control-allow-credentials"] == "true"
            other = await c.get("/health", headers={"Origin": "https://other.example"})
            assert "access-control-allow-origin" not in other.headers
            # the configured origin may write (with credentials), others may not
            write = await c.patch("/auth/me", json={}, headers={"Origin": "https://console.example"})
            assert write.status_code == 401
    finally:
        app.state.kb.close()
        app.state.crm.close()


def test_cors_origins_must_be_origins(settings: Settings) -> None:
    settings.api.cors_origins = ["*"]
    with pytest.raises(FatalError, match="cors_origins"):
        create_app(settings)


async def test_every_answer_carries_a_request_id(client: httpx.AsyncClient) -> None:
    mine = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123"
    made_up = await client.get("/health", headers={"X-Request-ID": "bad id\n" + "x" * 100})
    assert len(made_up.headers["x-request-id"]) == 32
    assert (await client.get("/nowhere")).headers["x-request-id"]


# --- the failure limiter -------------------------------------------------------------------


def test_the_limiter_slides_and_forgets() -> None:
    now = [1000.0]
    limiter = FailureLimiter(3, 60.0, max_keys=2, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.wait(["a"]) == 0.0
        limiter.fail(["a"])
        now[0] += 10
    assert limiter.wait(["a", "b"]) == pytest.approx(30.0)  # the first failure leaves at 1060
    now[0] = 1060.0
    assert limiter.wait(["a"]) == 0.0
    limiter.fail(["b"])
    limiter.fail(["c"])  # max_keys=2: "a", the stalest, is forgotten
    now[0] = 1061.0
    limiter.fail(["a"])
    assert limiter.wait(["a"]) == 0.0
    limiter.forget("a")
    assert limiter.wait(["a"]) == 0.0
