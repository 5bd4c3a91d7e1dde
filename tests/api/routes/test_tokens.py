"""API tokens over HTTP: create (shown once), use, list, revoke, expire; admins for others; and
no token, digest or password hash ever in an answer, the audit log or the server's log."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from crm import AgentView
from crm.schema import agents, api_tokens
from hub.models import utcnow
from tests.api.callers import add_agent, bearer

PASSWORD = "correct horse battery"


async def test_a_token_is_created_once_used_listed_and_revoked(
    client: httpx.AsyncClient, admin: tuple[AgentView, str]
) -> None:
    created = await client.post("/auth/tokens", json={"name": "laptop", "expires_in_days": 7})
    assert created.status_code == 201
    token, info = created.json()["token"], created.json()["info"]
    assert token.startswith("parley_pat_") and info["name"] == "laptop" and info["agent_id"] == admin[0].id
    me = await client.get("/auth/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["via"] == "token"
    listed = (await client.get("/auth/tokens")).json()
    assert {t["name"] for t in listed} == {"tests", "laptop"}
    assert all(set(t) == set(info) for t in listed) and token not in str(listed)

    assert (await client.delete(f"/auth/tokens/{info['id']}")).status_code == 204
    revoked = await client.get("/auth/me", headers=bearer(token))
    assert revoked.status_code == 401
    assert revoked.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert (await client.delete("/auth/tokens/tok_missing")).status_code == 404
    assert (await client.post("/auth/tokens", json={"expires_in_days": 366})).status_code == 422
    assert (await client.post("/auth/tokens")).status_code == 201  # every field has a default


async def test_an_expired_token_is_401(app: FastAPI, anonymous: httpx.AsyncClient) -> None:
    _, token = add_agent(app, "viewer")
    assert (await anonymous.get("/conversations", headers=bearer(token))).status_code == 200
    with app.state.crm.engine.begin() as conn:
        conn.execute(update(api_tokens).values(expires_at=utcnow() - timedelta(seconds=1)))
    # changed behind the stores' back (as another process would): the token just used is
    # remembered for auth.credential_cache_seconds (tests/crm/test_credential_cache.py), so
    # forget it rather than wait
    app.state.crm.credentials.cache.clear()
    response = await anonymous.get("/conversations", headers=bearer(token))
    assert response.status_code == 401 and response.json() == {"detail": "invalid, expired or revoked token"}


@pytest.mark.parametrize(
    "authorization",
    ["Bearer parley_pat_not-a-real-one", "Bearer", "Basic dXNlcjpwYXNz", "parley_pat_x", "Bearer  "],
)
async def test_wrong_credentials_are_401_with_a_bearer_challenge(
    anonymous: httpx.AsyncClient, authorization: str
) -> None:
    response = await anonymous.get("/conversations", headers={"Authorization": authorization})
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")


async def test_a_token_request_needs_no_csrf_token_even_with_a_session_cookie(
    app: FastAPI, anonymous: httpx.AsyncClient
) -> None:
    agent, token = add_agent(app, "agent")
    app.state.crm.agents.set_password(agent.id, PASSWORD)
    await anonymous.post("/auth/sign-in", json={"email": agent.email, "password": PASSWORD})
    response = await anonymous.patch("/auth/me", json={"availability": "away"}, headers=bearer(token))
    assert response.status_code == 200 and response.json()["via"] == "token"


async def test_admins_manage_others_tokens_and_nobody_else_does(
    app: FastAPI, client: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    _, sup_token = add_agent(app, "supervisor")
    viewer, viewer_token = add_agent(app, "viewer")
    made = await client.post("/auth/tokens", json={"agent_id": viewer.id, "name": "for the viewer"})
    assert made.status_code == 201 and made.json()["info"]["agent_id"] == viewer.id
    theirs = (await client.get("/auth/tokens", params={"agent_id": viewer.id})).json()
    assert {t["name"] for t in theirs} == {"tests", "for the viewer"}

    as_sup = bearer(sup_token)
    assert (
        await anonymous.post("/auth/tokens", json={"agent_id": viewer.id}, headers=as_sup)
    ).status_code == 403
    assert (
        await anonymous.get("/auth/tokens", params={"agent_id": viewer.id}, headers=as_sup)
    ).status_code == 403
    # someone else's token is "not found" to a non-admin, exactly like a missing one
    other = theirs[0]["id"]
    assert (await anonymous.delete(f"/auth/tokens/{other}", headers=as_sup)).status_code == 404
    assert (await anonymous.get("/auth/me", headers=bearer(viewer_token))).status_code == 200
    assert (await client.delete(f"/auth/tokens/{other}")).status_code == 204


async def test_no_secret_or_hash_reaches_answers_the_audit_log_or_the_log(
    app: FastAPI, client: httpx.AsyncClient, anonymous: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    crm = app.state.crm
    created = (await client.post("/agents", json={"name": "Kim", "email": "kim@example.org"})).json()
    kim = created["agent"]["id"]
    crm.agents.set_password(kim, PASSWORD)
    token = (await client.post("/auth/tokens", json={"agent_id": kim})).json()["token"]
    signed_in = await anonymous.post("/auth/sign-in", json={"email": "kim@example.org", "password": PASSWORD})
    await anonymous.post("/auth/sign-in", json={"email": "kim@example.org", "password": "wrong password!"})
    with crm.engine.connect() as conn:
        password_hash = conn.execute(select(agents.c.password_hash).where(agents.c.id == kim)).scalar_one()
        digests = list(conn.execute(select(api_tokens.c.token_digest)).scalars())
    secrets = [token, PASSWORD, "wrong password!", password_hash, *digests, signed_in.json()["csrf_token"]]
    answers = [
        signed_in.text,
        (await client.get("/agents")).text,
        (await client.get(f"/agents/{kim}")).text,
        (await client.get("/auth/tokens", params={"agent_id": kim})).text,
        (await anonymous.get("/auth/me", headers=bearer(token))).text,
        (await client.get("/audit", params={"limit": 1000})).text,
        (await client.get("/openapi.json")).text,
    ]
    seen = "\n".join([*answers[1:], caplog.text])
    assert [secret[:12] for secret in secrets if secret in seen] == []
    assert "password_hash" not in seen and "token_digest" not in seen
    assert signed_in.json()["csrf_token"] in answers[0]  # handed over once, at sign-in
