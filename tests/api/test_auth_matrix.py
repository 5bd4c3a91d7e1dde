"""Every route's authentication and roles, generated from the app's OpenAPI schema.

``LEAST_ROLE`` says, for every (method, path) of the schema, who may call it: ``PUBLIC`` (no
sign-in) or the lowest role. The tests fail when a route is added without a line here (so a
new route cannot ship without deciding who may call it), then check, for each route:
anonymous callers get 401 with ``WWW-Authenticate`` (public routes: anything but 401); each
role below the least gets 403; the least role and those above get neither 401 nor 403.
Requests carry placeholder ids and an empty JSON body: the answers past the checks are 404s
and 422s, which is the point (the checks come first).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Sequence

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import BaseRoute

from crm import Role
from tests.api.callers import ROLE_ORDER

PUBLIC = "public"

LEAST_ROLE: dict[tuple[str, str], str] = {
    ("GET", "/health"): PUBLIC,
    ("POST", "/auth/sign-in"): PUBLIC,
    ("GET", "/auth/one-time/{token}"): PUBLIC,
    ("POST", "/auth/sign-out"): "viewer",
    ("GET", "/auth/me"): "viewer",
    ("PATCH", "/auth/me"): "viewer",
    ("POST", "/auth/password"): "viewer",
    ("GET", "/auth/tokens"): "viewer",
    ("POST", "/auth/tokens"): "viewer",
    ("DELETE", "/auth/tokens/{token_id}"): "viewer",
    ("GET", "/conversations"): "viewer",
    ("GET", "/conversations/{conversation_id}"): "viewer",
    ("PATCH", "/conversations/{conversation_id}"): "agent",  # routing/reassigning: supervisor
    ("POST", "/conversations/{conversation_id}/status"): "agent",
    ("GET", "/routing/waiting"): "supervisor",
    ("GET", "/rules"): "supervisor",
    ("POST", "/rules"): "admin",
    ("POST", "/rules/order"): "admin",
    ("GET", "/rules/{rule_id}"): "supervisor",
    ("PATCH", "/rules/{rule_id}"): "admin",
    ("DELETE", "/rules/{rule_id}"): "admin",
    ("POST", "/conversations/{conversation_id}/replies"): "agent",
    ("GET", "/conversations/{conversation_id}/replies"): "viewer",
    ("POST", "/conversations/{conversation_id}/replies/{reply_id}/retry"): "agent",
    ("POST", "/conversations/{conversation_id}/replies/{reply_id}/drop"): "agent",
    ("POST", "/conversations/{conversation_id}/notes"): "agent",
    ("GET", "/conversations/{conversation_id}/notes"): "viewer",
    ("GET", "/canned-responses"): "agent",
    ("POST", "/canned-responses"): "supervisor",
    ("GET", "/canned-responses/{canned_id}"): "agent",
    ("PATCH", "/canned-responses/{canned_id}"): "supervisor",
    ("DELETE", "/canned-responses/{canned_id}"): "supervisor",
    ("POST", "/canned-responses/{canned_id}/preview"): "agent",
    ("GET", "/search"): "viewer",
    ("GET", "/contacts"): "viewer",
    ("GET", "/contacts/{contact_id}"): "viewer",
    ("PATCH", "/contacts/{contact_id}"): "agent",
    ("POST", "/contacts/{contact_id}/merge"): "agent",
    ("POST", "/contacts/{contact_id}/unmerge"): "agent",
    ("POST", "/contacts/{contact_id}/split"): "agent",
    ("GET", "/contacts/{contact_id}/history"): "viewer",
    ("GET", "/segments"): "viewer",
    ("POST", "/segments"): "supervisor",
    ("GET", "/segments/{segment_id}"): "viewer",
    ("PATCH", "/segments/{segment_id}"): "supervisor",
    ("DELETE", "/segments/{segment_id}"): "supervisor",
    ("POST", "/segments/{segment_id}/refresh"): "agent",
    ("GET", "/segments/{segment_id}/contacts"): "viewer",
    ("POST", "/segments/{segment_id}/members"): "supervisor",
    ("POST", "/segments/{segment_id}/members/remove"): "supervisor",
    ("POST", "/segments/{segment_id}/import"): "supervisor",
    ("GET", "/segments/{segment_id}/export.csv"): "agent",
    ("GET", "/dead-letters"): "supervisor",
    ("GET", "/feeds"): "viewer",
    ("POST", "/feeds"): "admin",
    ("DELETE", "/feeds/{feed_id}"): "admin",
    ("GET", "/agents"): "supervisor",
    ("POST", "/agents"): "admin",
    ("GET", "/agents/{agent_id}"): "supervisor",
    ("PATCH", "/agents/{agent_id}"): "admin",
    ("DELETE", "/agents/{agent_id}"): "admin",
    ("POST", "/agents/{agent_id}/sign-in-link"): "admin",
    ("GET", "/teams"): "supervisor",
    ("POST", "/teams"): "admin",
    ("GET", "/teams/{team_id}"): "supervisor",
    ("PATCH", "/teams/{team_id}"): "admin",
    ("DELETE", "/teams/{team_id}"): "admin",
    ("PUT", "/teams/{team_id}/members/{agent_id}"): "admin",
    ("DELETE", "/teams/{team_id}/members/{agent_id}"): "admin",
    ("GET", "/audit"): "supervisor",
    ("GET", "/monitors"): "viewer",
    ("POST", "/monitors"): "supervisor",
    ("GET", "/monitors/{monitor_id}"): "viewer",
    ("PATCH", "/monitors/{monitor_id}"): "supervisor",
    ("DELETE", "/monitors/{monitor_id}"): "supervisor",
    ("GET", "/monitors/{monitor_id}/windows"): "viewer",
    ("GET", "/monitors/{monitor_id}/alerts"): "viewer",
    ("GET", "/events"): "viewer",
    ("GET", "/sla/policies"): "agent",
    ("POST", "/sla/policies"): "admin",
    ("GET", "/sla/policies/{policy_id}"): "agent",
    ("PUT", "/sla/policies/{policy_id}"): "admin",
    ("DELETE", "/sla/policies/{policy_id}"): "admin",
    ("GET", "/analytics/inbox/response-times"): "supervisor",
    ("GET", "/analytics/inbox/backlog"): "supervisor",
    ("GET", "/analytics/inbox/workload"): "supervisor",
    ("GET", "/analytics/inbox/sla"): "supervisor",
    ("GET", "/analytics/listening/{table}"): "viewer",
    ("GET", "/analytics/listening/charts/{chart}.svg"): "viewer",
    ("GET", "/webhooks/{channel}/{account}"): PUBLIC,  # the platform's signature instead
    ("POST", "/webhooks/{channel}/{account}"): PUBLIC,
    ("GET", "/outbound-webhooks"): "admin",
    ("POST", "/outbound-webhooks"): "admin",
    ("GET", "/outbound-webhooks/{subscription_id}"): "admin",
    ("PATCH", "/outbound-webhooks/{subscription_id}"): "admin",
    ("DELETE", "/outbound-webhooks/{subscription_id}"): "admin",
    ("POST", "/outbound-webhooks/{subscription_id}/enable"): "admin",
    ("POST", "/outbound-webhooks/{subscription_id}/disable"): "admin",
    ("POST", "/outbound-webhooks/{subscription_id}/test"): "admin",
    ("POST", "/outbound-webhooks/{subscription_id}/rotate-secret"): "admin",
    ("GET", "/outbound-webhooks/{subscription_id}/deliveries"): "admin",
    ("GET", "/outbound-webhooks/{subscription_id}/deliveries/{delivery_id}"): "admin",
}

#: FastAPI's own pages, outside the schema
DOCS = {("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc"), ("GET", "/openapi.json")}


def _schema_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }


def _served(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, str]]:
    """(method, path) of every route the app answers, routers included (without prefixes, as
    ``api.app`` includes them; FastAPI keeps an included router as ``original_router``)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _served(included.routes)
        else:
            for method in getattr(route, "methods", None) or ():
                yield method, getattr(route, "path", "")


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x_placeholder", path)


async def _call(client: httpx.AsyncClient, method: str, path: str) -> httpx.Response:
    body = {} if method in {"POST", "PUT", "PATCH"} else None
    return await client.request(method, _concrete(path), json=body)


def test_every_route_has_its_line_in_the_table(app: FastAPI) -> None:
    schema = _schema_routes(app)
    assert sorted(schema - LEAST_ROLE.keys()) == [], "new routes: say who may call them in LEAST_ROLE"
    assert sorted(LEAST_ROLE.keys() - schema) == [], "routes in LEAST_ROLE that no longer exist"
    served = {(method, path) for method, path in _served(app.routes) if method != "HEAD"}
    # a route left out of the schema would escape this test: only FastAPI's pages may be
    hidden = {(m, p) for m, p in served if (m, p) not in schema and (m, p) not in DOCS}
    assert hidden == set()


def _asks_to_sign_in(response: httpx.Response) -> bool:
    """Whether ``response`` is the authentication check's 401 (not a public route's own 401,
    such as an unknown sign-in link's)."""
    return (
        response.status_code == 401
        and response.headers.get("www-authenticate") == "Bearer"
        and response.json()["detail"].startswith("sign in:")
    )


async def test_anonymous_callers_get_401_on_all_but_the_public_routes(anonymous: httpx.AsyncClient) -> None:
    wrong = {}
    for (method, path), least in LEAST_ROLE.items():
        response = await _call(anonymous, method, path)
        if _asks_to_sign_in(response) != (least != PUBLIC):
            wrong[(method, path)] = response.status_code
    for method, path in DOCS:
        assert (await anonymous.request(method, path)).status_code == 200, path
    assert wrong == {}


@pytest.mark.parametrize("role", ROLE_ORDER)
async def test_each_role_gets_exactly_the_routes_of_its_rank(
    role: Role, as_role: Callable[[Role], Awaitable[httpx.AsyncClient]]
) -> None:
    client = await as_role(role)
    wrong = {}
    for (method, path), least in LEAST_ROLE.items():
        if least == PUBLIC:
            continue
        status = (await _call(client, method, path)).status_code
        allowed = ROLE_ORDER.index(role) >= ROLE_ORDER.index(least)  # type: ignore[arg-type]
        if (allowed and status in (401, 403)) or (not allowed and status != 403):
            wrong[(method, path)] = status
    assert wrong == {}, f"{role}: (method, path) -> status"
