"""Signing in: email and password → session cookie with CSRF protection, one-time links, signing
out, rate limiting, and failures that never tell who has an account."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from api.cookies import CSRF_COOKIE, SESSION_COOKIE
from crm.schema import sessions, sign_in_links
from hub.models import utcnow
from tests.api.conftest import BASE_URL

PASSWORD = "correct horse battery"


@pytest.fixture
def sam(app: FastAPI) -> str:
    agent = app.state.crm.agents.create(name="Sam", email="sam@example.org", role="agent", password=PASSWORD)
    return str(agent.id)


async def _sign_in(
    client: httpx.AsyncClient, email: str = "sam@example.org", password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/auth/sign-in", json={"email": email, "password": password})


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


async def test_sign_in_sets_an_httponly_samesite_session_and_a_csrf_token(
    anonymous: httpx.AsyncClient, sam: str
) -> None:
    response = await _sign_in(anonymous)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["agent"]["id"] == sam and body["csrf_token"]
    assert response.headers["cache-control"] == "no-store"
    cookies = _set_cookies(response)
    session, csrf = cookies[SESSION_COOKIE].lower(), cookies[CSRF_COOKIE].lower()
    assert "httponly" in session and "samesite=lax" in session and "path=/" in session
    assert "secure" not in session, "plain http: a Secure cookie would never come back"
    assert "httponly" not in csrf and f"{CSRF_COOKIE}={body['csrf_token']}".lower() in csrf

    me = await anonymous.get("/auth/me")
    assert me.status_code == 200 and me.json()["agent"]["id"] == sam and me.json()["via"] == "session"
    assert (await anonymous.get("/conversations")).status_code == 200


async def test_writes_with_the_session_need_the_csrf_token(anonymous: httpx.AsyncClient, sam: str) -> None:
    csrf = (await _sign_in(anonymous)).json()["csrf_token"]
    change = {"availability": "online"}
    missing = await anonymous.patch("/auth/me", json=change)
    assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
    wrong = await anonymous.patch("/auth/me", json=change, headers={"X-CSRF-Token": csrf[:-2] + "xx"})
    assert wrong.status_code == 403
    right = await anonymous.patch("/auth/me", json=change, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 200 and right.json()["agent"]["availability"] == "online"


async def test_another_sessions_csrf_token_does_not_pass(
    app: FastAPI, anonymous: httpx.AsyncClient, sam: str
) -> None:
    other = app.state.crm.credentials.start_session(sam, ttl=timedelta(hours=1))
    await _sign_in(anonymous)
    response = await anonymous.patch(
        "/auth/me", json={"availability": "away"}, headers={"X-CSRF-Token": other.csrf_token}
    )
    assert response.status_code == 403


async def test_secure_cookies_over_https_or_when_configured(app: FastAPI, sam: str) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://parley.test") as https:
        assert "secure" in _set_cookies(await _sign_in(https))[SESSION_COOKIE].lower()
    app.state.settings.auth.cookie_secure = True
    app.state.settings.auth.cookie_samesite = "strict"
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        session = _set_cookies(await _sign_in(http))[SESSION_COOKIE].lower()
    assert "secure" in session and "samesite=strict" in session


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("sam@example.org", "wrong password!"),
        ("nobody@example.org", PASSWORD),
        ("nopass@example.org", PASSWORD),
    ],
    ids=["wrong password", "unknown email", "no password set"],
)
async def test_every_failed_sign_in_reads_the_same(
    app: FastAPI, anonymous: httpx.AsyncClient, sam: str, email: str, password: str
) -> None:
    app.state.crm.agents.create(name="No Pass", email="nopass@example.org")
    response = await _sign_in(anonymous, email, password)
    assert response.status_code == 401
    assert response.json() == {"detail": "wrong email or password"}
    assert SESSION_COOKIE not in _set_cookies(response)


async def test_a_disabled_agent_cannot_sign_in_and_loses_their_session(
    app: FastAPI, anonymous: httpx.AsyncClient, sam: str, client: httpx.AsyncClient
) -> None:
    await _sign_in(anonymous)
    assert (await client.delete(f"/agents/{sam}")).status_code == 204
    assert (await anonymous.get("/auth/me")).status_code == 401
    assert (await _sign_in(anonymous)).json() == {"detail": "wrong email or password"}


async def test_failed_sign_ins_are_limited_per_email_and_per_address(
    app: FastAPI, anonymous: httpx.AsyncClient, sam: str
) -> None:
    for _ in range(5):
        assert (await _sign_in(anonymous, password="wrong password!")).status_code == 401
    limited = await _sign_in(anonymous)  # even the right password waits
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    # the same address trying other emails is limited too (5 failures from it already)
    assert (await _sign_in(anonymous, "nobody@example.org")).status_code == 429
    # an unknown email is limited exactly like a known one: the answer tells nothing
    app.state.sign_in_limiter.forget("address:127.0.0.1")
    for _ in range(5):
        await _sign_in(anonymous, "ghost@example.org", "x")
    app.state.sign_in_limiter.forget("address:127.0.0.1")
    assert (await _sign_in(anonymous, "ghost@example.org", "x")).status_code == 429


async def test_a_success_clears_the_emails_failures(
    app: FastAPI, anonymous: httpx.AsyncClient, sam: str
) -> None:
    for _ in range(4):
        await _sign_in(anonymous, password="wrong password!")
    assert (await _sign_in(anonymous)).status_code == 200
    app.state.sign_in_limiter.forget("address:127.0.0.1")
    for _ in range(4):
        assert (await _sign_in(anonymous, password="wrong password!")).status_code == 401


async def test_a_one_time_link_signs_in_once(app: FastAPI, anonymous: httpx.AsyncClient, sam: str) -> None:
    link = app.state.crm.credentials.create_sign_in_link(sam, ttl=timedelta(hours=24))
    first = await anonymous.get(f"/auth/one-time/{link.token}")
    assert first.status_code == 303 and first.headers["location"] == "/docs"
    assert "httponly" in _set_cookies(first)[SESSION_COOKIE].lower()
    assert (await anonymous.get("/auth/me")).json()["agent"]["id"] == sam
    anonymous.cookies.clear()
    again = await anonymous.get(f"/auth/one-time/{link.token}")
    assert again.status_code == 401 and SESSION_COOKIE not in _set_cookies(again)
    late = app.state.crm.credentials.create_sign_in_link(sam, ttl=timedelta(hours=24))
    with app.state.crm.engine.begin() as conn:
        conn.execute(update(sign_in_links).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await anonymous.get(f"/auth/one-time/{late.token}")).status_code == 401


async def test_sign_out_ends_the_session_and_clears_the_cookies(
    anonymous: httpx.AsyncClient, sam: str
) -> None:
    csrf = (await _sign_in(anonymous)).json()["csrf_token"]
    stolen = anonymous.cookies[SESSION_COOKIE]
    assert (await anonymous.post("/auth/sign-out")).status_code == 403  # CSRF applies here too
    out = await anonymous.post("/auth/sign-out", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert all("max-age=0" in c.lower() for c in _set_cookies(out).values())
    assert (await anonymous.get("/auth/me")).status_code == 401
    anonymous.cookies.set(SESSION_COOKIE, stolen)
    assert (await anonymous.get("/auth/me")).status_code == 401


async def test_an_expired_session_is_401(app: FastAPI, anonymous: httpx.AsyncClient, sam: str) -> None:
    await _sign_in(anonymous)
    with app.state.crm.engine.begin() as conn:
        conn.execute(update(sessions).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = await anonymous.get("/auth/me")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


async def test_agents_set_their_own_password(app: FastAPI, anonymous: httpx.AsyncClient) -> None:
    agent = app.state.crm.agents.create(name="New", email="new@example.org")
    link = app.state.crm.credentials.create_sign_in_link(agent.id, ttl=timedelta(hours=1))
    await anonymous.get(f"/auth/one-time/{link.token}")
    csrf = anonymous.cookies[CSRF_COOKIE]
    headers = {"X-CSRF-Token": csrf}
    short = await anonymous.post("/auth/password", json={"new_password": "short"}, headers=headers)
    assert short.status_code == 422
    first = await anonymous.post("/auth/password", json={"new_password": PASSWORD}, headers=headers)
    assert first.status_code == 204  # no password yet: none to confirm
    again = await anonymous.post("/auth/password", json={"new_password": "another good one"}, headers=headers)
    assert again.status_code == 403
    changed = await anonymous.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "another good one"},
        headers=headers,
    )
    assert changed.status_code == 204
    assert (await _sign_in(anonymous, "new@example.org", "another good one")).status_code == 200


async def test_a_session_lasts_auth_session_ttl_hours(
    app: FastAPI, anonymous: httpx.AsyncClient, sam: str
) -> None:
    app.state.settings.auth.session_ttl_hours = 1
    body = (await _sign_in(anonymous)).json()
    remaining = datetime.fromisoformat(body["expires_at"]) - utcnow()
    assert timedelta(minutes=59) < remaining <= timedelta(hours=1)
