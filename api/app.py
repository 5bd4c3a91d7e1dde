"""The FastAPI application: includes routers, opens the stores once, closes them on shutdown.

Errors map to HTTP in one place, :mod:`api.errors`; the outer checks (Host, CORS, cross-site
writes, request ids) are :mod:`api.security`'s; who may call which route is each router's,
through the role dependencies of :mod:`api.deps`. Public without a sign-in: ``/health``, the
docs, ``/auth/sign-in``, ``/auth/one-time/{token}`` and ``/webhooks/...`` (signed by platforms).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api.errors import document_guard_responses, install_error_handlers
from api.limits import RequestBodyLimitMiddleware
from api.ratelimit import FailureLimiter
from api.routes import (
    agents,
    analytics,
    audit,
    auth,
    canned,
    contacts,
    conversations,
    dead_letters,
    events,
    feeds,
    health,
    monitors,
    outbound_webhooks,
    replies,
    rules,
    search,
    segments,
    sla,
    teams,
    tokens,
    webhooks,
)
from api.security import install_security
from channels import configure
from hub.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over the stores ``settings`` names (created on first use)."""
    from crm import open_crm
    from kb import open_kb

    # every channel's settings checked, its accounts among the brand's identities (idempotent)
    settings = configure(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.kb.close()
        app.state.crm.close()

    app = FastAPI(
        title="Parley",
        summary="One inbox and one knowledge base for social, feeds, mail and SMS conversations.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.kb = open_kb(settings)
    app.state.crm = open_crm(settings)
    app.state.sign_in_limiter = FailureLimiter(settings.auth.sign_in_attempts_per_minute, 60.0)
    install_error_handlers(app)
    install_security(app, settings)
    # Added last, so it is the outermost layer: no route, handler or middleware ever sees
    # more of a body than the cap.
    app.add_middleware(
        RequestBodyLimitMiddleware,
        max_bytes=settings.api.max_body_bytes,
        overrides=[
            (segments.IMPORT_ROUTE, settings.api.max_import_bytes),
            (webhooks.PATH, settings.webhooks.max_body_bytes),
        ],
    )

    routers = (health, auth, tokens, conversations, replies, canned, search, contacts, segments, dead_letters)
    for module in (
        *routers,
        feeds,
        agents,
        teams,
        rules,
        sla,
        audit,
        events,
        analytics,
        monitors,
        webhooks,
        outbound_webhooks,
    ):
        app.include_router(module.router)
    _document_guards(app)
    return app


def _document_guards(app: FastAPI) -> None:
    """The schema documents the app-wide guards' answers too (``api.errors``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_guard_responses(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
