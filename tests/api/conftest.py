"""The API under test: the real app factory and ONE client over it (httpx ASGITransport, no
server, no lifespan), plus the data sets tests put in its stores.

``client`` talks to ``app``, created from ``api_settings``; a module overrides ``api_settings``
to configure the app (the CRM on PostgreSQL too, feeds in settings). Data goes in through the
app's own stores after it is created, so a test picks its data by asking for ``threads`` or
``kb_documents`` (or writing to ``app.state`` itself).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from hub.settings import Settings
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


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as c:
        yield c


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
