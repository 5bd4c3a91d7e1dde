"""Signing in and out: email and password, one-time sign-in links, and who am I.

======================================  =====================================================
route                                   answer
======================================  =====================================================
``POST /auth/sign-in``                  public. Email + password → session cookie, CSRF cookie
                                        and ``csrf_token``; 401 "wrong email or password" for
                                        an unknown email, a wrong password, a disabled agent
                                        or one without a password alike; 429 + Retry-After
                                        after 5 failures a minute per email or per client
                                        address (in-process: ``api.ratelimit``)
``GET /auth/one-time/{token}``          public. A one-time link (first admin, new agents):
                                        sets the session, 303 to ``auth.after_sign_in_path``;
                                        401 when unknown, used or expired
``POST /auth/sign-out``                 ends the session and clears the cookies (204)
``GET /auth/me``, ``PATCH /auth/me``    the caller, their teams; set their own availability
``POST /auth/password``                 set one's own password (the current one when set)
======================================  =====================================================
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from api.cookies import SESSION_COOKIE, clear_session_cookies, set_session_cookies
from api.deps import CRM_ROUTES, AuditDep, CRMDep, CurrentAgent, KBDep, SettingsDep, request_id, unauthorized
from api.errors import error_responses
from api.fields import RequestBody
from api.ratelimit import FailureLimiter
from api.triage import assign_waiting
from crm import AgentView, Availability, TeamView
from crm.agents import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS
from crm.credentials import NewSession
from crm.store import CRMStore

__all__ = ["router"]

router = APIRouter(tags=["auth"], responses=error_responses(400, 404, 409, 429, 503), dependencies=CRM_ROUTES)

log = logging.getLogger("parley.api.auth")

#: the same words for every failed sign-in: they must not tell who has an account
WRONG = "wrong email or password"
NO_STORE = {"Cache-Control": "no-store"}


def get_limiter(request: Request) -> FailureLimiter:
    limiter: FailureLimiter = request.app.state.sign_in_limiter
    return limiter


LimiterDep = Annotated[FailureLimiter, Depends(get_limiter)]


class SignIn(RequestBody):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)


class SignedIn(BaseModel):
    """The signed-in agent, and the CSRF token to send in ``X-CSRF-Token`` on every change."""

    agent: AgentView
    csrf_token: str
    expires_at: datetime


class Me(BaseModel):
    agent: AgentView
    via: str
    teams: list[TeamView]


class MeUpdate(RequestBody):
    availability: Availability


class PasswordChange(RequestBody):
    current_password: str | None = Field(default=None, max_length=MAX_PASSWORD_CHARS)
    new_password: str = Field(min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS)


def _sign_in_keys(request: Request, email: str) -> list[str]:
    client = request.client.host if request.client else "unknown"
    return [f"email:{email.strip().lower()}", f"address:{client}"]


def _record_sign_in(crm: CRMStore, request: Request, session: NewSession, how: str) -> None:
    crm.audit.append(
        actor_id=session.agent.id,
        actor=session.agent.email,
        via="session",
        action="auth.sign_in",
        target_type="agent",
        target_id=session.agent.id,
        after={"with": how, "session_expires_at": session.expires_at},
        request_id=request_id(request),
    )


@router.post(
    "/auth/sign-in",
    responses={401: {"description": WRONG}, 429: {"description": "too many failures; see Retry-After"}},
)
def sign_in(
    body: SignIn,
    request: Request,
    response: Response,
    crm: CRMDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> SignedIn:
    """Sign in with email and password: sets the session cookie (HttpOnly) and the CSRF cookie."""
    keys = _sign_in_keys(request, body.email)
    wait = limiter.wait(keys)
    if wait > 0:
        raise HTTPException(
            status_code=429,
            detail="too many failed sign-ins: try again later",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    agent = crm.credentials.check_sign_in(body.email, body.password)
    if agent is None:
        limiter.fail(keys)
        log.info("failed sign-in from %s", keys[1].removeprefix("address:"))
        raise unauthorized(WRONG)
    limiter.forget(keys[0])
    session = crm.credentials.start_session(agent.id, ttl=timedelta(hours=settings.auth.session_ttl_hours))
    set_session_cookies(response, request, settings.auth, session)
    response.headers.update(NO_STORE)
    _record_sign_in(crm, request, session, "password")
    return SignedIn(agent=session.agent, csrf_token=session.csrf_token, expires_at=session.expires_at)


@router.get(
    "/auth/one-time/{token}",
    status_code=303,
    response_class=RedirectResponse,
    responses={401: {"description": "the link is unknown, used or expired"}},
)
def redeem_sign_in_link(token: str, request: Request, crm: CRMDep, settings: SettingsDep) -> Response:
    """Use a one-time sign-in link: sets the session and goes to ``auth.after_sign_in_path``."""
    session = crm.credentials.redeem_sign_in_link(
        token, session_ttl=timedelta(hours=settings.auth.session_ttl_hours)
    )
    if session is None:
        raise unauthorized(
            "this sign-in link is unknown, used or expired: ask an admin for a new one "
            "(parley agents link EMAIL)"
        )
    # no-referrer: the link's token must not travel on to whatever the next page loads
    headers = {**NO_STORE, "Referrer-Policy": "no-referrer"}
    response = RedirectResponse(settings.auth.after_sign_in_path, status_code=303, headers=headers)
    set_session_cookies(response, request, settings.auth, session)
    _record_sign_in(crm, request, session, "one-time link")
    return response


@router.post("/auth/sign-out", status_code=204)
def sign_out(
    request: Request, caller: CurrentAgent, crm: CRMDep, settings: SettingsDep, audit: AuditDep
) -> Response:
    """End the session the cookie names and clear the cookies (with a token: nothing to end;
    revoke tokens with ``DELETE /auth/tokens/{id}``)."""
    response = Response(status_code=204)
    if caller.via == "session":
        crm.credentials.end_session(request.cookies.get(SESSION_COOKIE, ""))
        audit.record("auth.sign_out", "agent", caller.agent.id)
    clear_session_cookies(response, request, settings.auth)
    return response


@router.get("/auth/me")
def me(caller: CurrentAgent, crm: CRMDep) -> Me:
    """The calling agent, how they are signed in, and their teams."""
    return Me(agent=caller.agent, via=caller.via, teams=crm.teams.of_agent(caller.agent.id))


@router.patch("/auth/me")
def update_me(body: MeUpdate, caller: CurrentAgent, crm: CRMDep, kb: KBDep, audit: AuditDep) -> Me:
    """Set one's own availability (online, away, offline): routing assigns only to online
    agents, and coming online takes conversations waiting for an agent."""
    before = caller.agent.availability
    agent = crm.agents.update(caller.agent.id, availability=body.availability)
    audit.record(
        "agent.availability",
        "agent",
        agent.id,
        before={"availability": before},
        after={"availability": agent.availability},
    )
    if agent.availability == "online":
        assign_waiting(crm, kb)
    return Me(agent=agent, via=caller.via, teams=crm.teams.of_agent(agent.id))


@router.post("/auth/password", status_code=204, responses={403: {"description": "current password wrong"}})
def change_password(
    body: PasswordChange,
    request: Request,
    caller: CurrentAgent,
    crm: CRMDep,
    limiter: LimiterDep,
    audit: AuditDep,
) -> Response:
    """Set one's own password (12 to 1024 characters); the current one is needed when one is set."""
    agent = caller.agent
    if agent.has_password:
        keys = _sign_in_keys(request, agent.email)
        if limiter.wait(keys) > 0:
            raise HTTPException(status_code=429, detail="too many failed attempts: try again later")
        current = body.current_password
        if current is None or crm.credentials.check_sign_in(agent.email, current) is None:
            limiter.fail(keys)
            raise HTTPException(status_code=403, detail="the current password is wrong")
    crm.agents.set_password(agent.id, body.new_password)
    audit.record("agent.password", "agent", agent.id, after={"password": "set"})  # never the password
    return Response(status_code=204)
