"""The FastAPI application: includes routers, opens the stores once, closes them on shutdown.

Errors map to HTTP in one place, :mod:`api.errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.limits import RequestBodyLimitMiddleware
from api.routes import contacts, conversations, dead_letters, feeds, health, search, segments
from hub.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over the stores ``settings`` names (created on first use)."""
    from crm import open_crm
    from kb import open_kb

    settings = settings or Settings()

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
    install_error_handlers(app)
    # Added last, so it is the outermost layer: no route, handler or middleware ever sees
    # more of a body than the cap.
    app.add_middleware(
        RequestBodyLimitMiddleware,
        max_bytes=settings.api.max_body_bytes,
        overrides=[(segments.IMPORT_ROUTE, settings.api.max_import_bytes)],
    )

    for module in (health, conversations, search, contacts, segments, dead_letters, feeds):
        app.include_router(module.router)
    return app
