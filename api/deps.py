"""Shared API dependencies: the settings, the stores, who is calling, role checks, the audit
log; and the query parameter types and bounds every router shares.

The app factory puts one of each store on ``app.state``; routers receive them through these
annotated dependencies, never by importing globals.

Who is calling (:func:`authenticate`, :data:`CurrentAgent`):

* ``Authorization: Bearer <API token>`` - valid, unexpired, unrevoked, agent enabled; else
  401 with ``WWW-Authenticate: Bearer``. A token request needs no CSRF token: browsers never
  attach the header by themselves.
* else the session cookie (``parley_session``, from sign-in) - valid and unexpired, agent
  enabled; else 401. A state-changing request (not GET/HEAD/OPTIONS) made with it must carry
  the session's CSRF token in ``X-CSRF-Token``; missing or wrong is 403.
* else 401.

Role checks (:func:`require_role`; :data:`ViewerDep`, :data:`AgentDep`,
:data:`SupervisorDep`, :data:`AdminDep`) answer 403 when the caller's role is below the one
asked; roles rank ``viewer < agent < supervisor < admin``. Every router states its roles; the
table of which route needs which role is tested in ``tests/api/test_auth_matrix.py``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BeforeValidator
from starlette.concurrency import run_in_threadpool

from api.cookies import CSRF_HEADER, SESSION_COOKIE
from crm.agents import Role, role_at_least
from crm.credentials import Authenticated
from crm.hashing import digests_match
from hub.settings import Settings
from kb.base import KnowledgeBase

if TYPE_CHECKING:
    from crm.store import CRMStore

__all__ = [
    "AdminDep",
    "AgentDep",
    "AuditDep",
    "Auditor",
    "CRMDep",
    "CurrentAgent",
    "KBDep",
    "SettingsDep",
    "SupervisorDep",
    "ViewerDep",
    "authenticate",
    "require_admin",
    "require_agent",
    "require_role",
    "require_supervisor",
    "require_viewer",
    "split_multi",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# The dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in
# its thread pool, and each such hop (a queue, a thread woken, the GIL handed over) cost more
# than the work of these functions; with 8 clients on 2 cores it was a tenth of an inbox page.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_kb(request: Request) -> KnowledgeBase:
    kb: KnowledgeBase = request.app.state.kb
    return kb


async def get_crm(request: Request) -> CRMStore:
    crm: CRMStore = request.app.state.crm
    return crm


def split_multi(values: list[str] | None) -> list[str] | None:
    """Query parameters given as ``?channel=a&channel=b`` or ``?channel=a,b``; None when absent."""
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()] or None


async def refuse_nul_characters(request: Request) -> None:
    """A 422 for a NUL character in a path or query parameter (a dependency of the routers
    over the CRM store, :data:`CRM_ROUTES`).

    Their parameters reach the CRM store as SQL parameters, and PostgreSQL refuses NUL in
    text: one ``?q=%00`` was a 500 on every route that queries the CRM. The knowledge base
    searches NUL as text, so its routes take it."""
    errors = [
        {"loc": ("path", name), "msg": "must not contain NUL characters", "type": "value_error"}
        for name, value in request.path_params.items()
        if isinstance(value, str) and "\x00" in value
    ] + [
        {"loc": ("query", name), "msg": "must not contain NUL characters", "type": "value_error"}
        for name, value in request.query_params.multi_items()
        if "\x00" in name or "\x00" in value
    ]
    if errors:
        raise RequestValidationError(errors)


SettingsDep = Annotated[Settings, Depends(get_settings)]
KBDep = Annotated[KnowledgeBase, Depends(get_kb)]
CRMDep = Annotated["CRMStore", Depends(get_crm)]

# Declared for the OpenAPI schema (the docs' "Authorize" button); authenticate reads both.
_bearer = HTTPBearer(auto_error=False, description="an API token, `parley_pat_...`")
_session = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="the session from sign-in")


def unauthorized(detail: str, error: str | None = None) -> HTTPException:
    """A 401 telling the client how to authenticate (RFC 6750)."""
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": challenge})


async def authenticate(
    request: Request,
    crm: CRMDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session_id: Annotated[str | None, Depends(_session)],
) -> Authenticated:
    """The calling agent, from a Bearer token or the session cookie (see the module doc).

    A token seen lately is answered from memory, on the event loop (``crm.credential_cache``);
    anything that reads the database runs in the thread pool."""
    if request.headers.get("authorization") is not None:
        if bearer is None:
            raise unauthorized("the Authorization header must be: Bearer <API token>", "invalid_request")
        caller = crm.credentials.cached_token(bearer.credentials)
        if caller is None:
            caller = await run_in_threadpool(crm.credentials.authenticate_token, bearer.credentials)
        if caller is None:
            # the same answer whatever was wrong: unknown, expired, revoked, agent disabled
            raise unauthorized("invalid, expired or revoked token", "invalid_token")
        return caller
    if session_id:
        caller = await run_in_threadpool(crm.credentials.authenticate_session, session_id)
        if caller is None:
            raise unauthorized("the session expired or ended: sign in again")
        if request.method not in SAFE_METHODS:
            presented = request.headers.get(CSRF_HEADER, "")
            if not (presented and caller.csrf_digest and digests_match(presented, caller.csrf_digest)):
                raise HTTPException(
                    status_code=403,
                    detail=f"CSRF token missing or wrong: send {CSRF_HEADER} with the csrf from sign-in",
                )
        return caller
    raise unauthorized("sign in: send Authorization: Bearer <API token>, or sign in for a session")


CurrentAgent = Annotated[Authenticated, Depends(authenticate)]


def require_role(minimum: Role) -> Callable[[Authenticated], Awaitable[Authenticated]]:
    """A dependency answering 403 unless the caller's role is ``minimum`` or higher.

    Use the module's ``require_<role>`` functions (one object per role, so FastAPI runs each
    check once per request)."""

    async def check(caller: CurrentAgent) -> Authenticated:
        if not role_at_least(caller.agent.role, minimum):
            raise HTTPException(status_code=403, detail=f"this needs the {minimum} role or higher")
        return caller

    check.__name__ = f"require_{minimum}"
    return check


require_viewer = require_role("viewer")
require_agent = require_role("agent")
require_supervisor = require_role("supervisor")
require_admin = require_role("admin")

ViewerDep = Annotated[Authenticated, Depends(require_viewer)]
AgentDep = Annotated[Authenticated, Depends(require_agent)]
SupervisorDep = Annotated[Authenticated, Depends(require_supervisor)]
AdminDep = Annotated[Authenticated, Depends(require_admin)]


def request_id(request: Request) -> str | None:
    """The id ``api.security`` gave this request (None outside the app's middleware)."""
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Auditor:
    """Records changes in the audit log as made by the calling agent, in this request.

    A route records a change after making it, in a transaction of its own (the change may not
    even be in the CRM store: conversations live in the knowledge base). Should appending fail,
    the request fails (5xx) with the change made, and the error is logged by the error edge.
    """

    crm: CRMStore
    caller: Authenticated
    request_id: str | None

    def record(
        self,
        action: str,
        target_type: str,
        target_id: str | None = None,
        *,
        before: Any = None,
        after: Any = None,
    ) -> None:
        """Append ``action`` on ``target_type``/``target_id``; call after the change is made."""
        self.crm.audit.append(
            actor_id=self.caller.agent.id,
            actor=self.caller.agent.email,
            via=self.caller.via,
            action=action,
            target_type=target_type,
            target_id=target_id,
            before=before,
            after=after,
            request_id=self.request_id,
        )


async def get_auditor(request: Request, crm: CRMDep, caller: CurrentAgent) -> Auditor:
    return Auditor(crm=crm, caller=caller, request_id=request_id(request))


AuditDep = Annotated[Auditor, Depends(get_auditor)]
#: the dependencies of every router over the CRM store
CRM_ROUTES = [Depends(refuse_nul_characters)]


#: the deepest ``offset`` of the knowledge base's lists (/search, /conversations): the window
#: the Elasticsearch backend pages by offset; deeper pages follow ``next_cursor``
MAX_KB_OFFSET = 10_000
#: the deepest ``offset`` of the CRM store's lists (/contacts, segment members, /dead-letters)
MAX_CRM_OFFSET = 100_000
#: the largest row id a cursor parameter may name (a 64-bit signed integer, as SQL stores ids)
MAX_ROW_ID = 2**63 - 1

_DATE_FIRST = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_8601_only(value: Any) -> Any:
    # pydantic reads a bare number as seconds since 1970 ("until=0.5" was 1970-01-01): a time
    # must be written as one, so a number that was meant as something else is refused.
    if not isinstance(value, datetime) and not (isinstance(value, str) and _DATE_FIRST.match(value)):
        raise ValueError("must be an ISO 8601 date or date-time, e.g. 2026-01-31 or 2026-01-31T09:00:00Z")
    return value


def _as_utc(value: datetime) -> datetime:
    # A time without an offset is UTC, as everywhere in the hub; an offset that takes it past
    # year 1 or 9999 cannot be compared with anything stored.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


#: a time query parameter: an ISO 8601 date (midnight UTC) or date-time (UTC without offset)
Instant = Annotated[datetime, BeforeValidator(_iso_8601_only), AfterValidator(_as_utc)]
