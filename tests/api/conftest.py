"""The API under test: the real app factory and ONE client over it (httpx ASGITransport, no
server, no lifespan), plus the data sets tests put in its stores.

``client`` talks to ``app``, created from ``api_settings``, as an admin (``admin``: an admin
agent and their API token in the Authorization header); ``anonymous`` is the same client
without credentials, and ``as_role(role)`` one signed in with a token of a new agent of that
role. A module overrides ``api_settings`` to configure the app (the CRM on PostgreSQL too,
feeds in settings). Data goes in through the app's own stores after it is created, so a test
picks its data by asking for ``threads`` or ``kb_documents`` (or writing to ``app.state``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from crm import AgentView, Role
from hub.settings import Settings
from tests.api.callers import add_agent, bearer
from tests.flows.conftest import FIXTURES, ingest
from tests.kb.docs import CONVERSATIONS, MESSAGES


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """The settings the app under test is created with (a module overrides this)."""
    return settings


@pytest.fixture
def app(api_settings: Settings) -> Iterator[FastAPI]:
    """The real app over fresh stores; its stores are closed afterwards."""
    application = create_app(api_settings)
    try:
        yield application
    finally:
        application.state.kb.close()
        application.state.crm.close()


BASE_URL = "http://parley.test"


@pytest.fixture
def admin(app: FastAPI) -> tuple[AgentView, str]:
    """The admin the ``client`` fixture calls as, and their API token."""
    return add_agent(app, "admin")


@pytest.fixture
async def client(app: FastAPI, admin: tuple[AgentView, str]) -> AsyncIterator[httpx.AsyncClient]:
    """The API, called as ``admin``."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=bearer(admin[1])) as c:
        yield c


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The API, called without credentials."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as c:
        yield c


@pytest.fixture
async def as_role(app: FastAPI) -> AsyncIterator[Callable[[Role], Awaitable[httpx.AsyncClient]]]:
    """``await as_role("viewer")``: a client calling as a new agent of that role (one per role)."""
    clients: dict[str, httpx.AsyncClient] = {}

    async def make(role: Role) -> httpx.AsyncClient:
        if role not in clients:
            _, token = add_agent(app, role, email=f"{role}-caller@parley.test")
            clients[role] = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=bearer(token)
            )
        return clients[role]

    try:
        yield make
    finally:
        for c in clients.values():
            await c.aclose()


@pytest.fixture
def threads(app: FastAPI) -> None:
    """What the real ingest flow makes of ``envelopes__threads.jsonl``: 9 messages in 4
    conversations, their authors as contacts, and 5 dead letters."""
    ingest(app.state.settings, [FIXTURES / "envelopes__threads.jsonl"])


@pytest.fixture
def kb_documents(app: FastAPI) -> None:
    """The knowledge base tests' documents (``tests.kb.docs``), written straight to the KB."""
    # messages first, as the ingest flow writes them: conversation state must still reach them
    app.state.kb.upsert_messages(MESSAGES)
    app.state.kb.upsert_conversations(CONVERSATIONS)
