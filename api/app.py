"""The FastAPI application: includes routers, opens the stores once, closes them on shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.routes import contacts, conversations, dead_letters, feeds, health, search, segments
from channels import configure
from hub.errors import FatalError
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

    @app.exception_handler(FatalError)
    async def fatal_error(request: Request, exc: FatalError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    for module in (health, conversations, search, contacts, segments, dead_letters, feeds):
        app.include_router(module.router)
    return app
