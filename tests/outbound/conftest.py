"""The reply path with real parts: aiosmtpd receiving mail, the real ingest flow putting the
customer's mail in a conversation, the real app and dispatcher over the same stores.

``mail_settings``: a hub whose mailbox ``support`` sends through the test's aiosmtpd
(``smtp_server``, from the email channel's tests). ``customer_writes`` ingests a customer's
mail (an ``rfc822`` envelope of account ``support``) through the real flow and returns the
stored message.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from api.app import create_app
from channels.email import EMAIL
from channels.email.settings import EmailSettings, MailboxSettings
from crm import AgentView
from hub.models import Message, message_id
from hub.settings import Settings
from kb import open_kb
from tests.api.callers import add_agent, bearer
from tests.api.conftest import BASE_URL
from tests.channels.email.conftest import SMTPServer, smtp_server  # noqa: F401 (a fixture)
from tests.channels.email.test_story import customer_mail
from tests.channels.twitter.conftest import x_server, x_settings  # noqa: F401 (fixtures)
from tests.flows.conftest import ingest

SUPPORT = "support@parley.test"


def mailbox_for(port: int, **overrides: object) -> MailboxSettings:
    """The ``support`` mailbox, sending through SMTP on 127.0.0.1:``port``."""
    values: dict[str, object] = {
        "name": "support",
        "imap_host": "127.0.0.1",
        "username": SUPPORT,
        "password": SecretStr("unused"),
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_tls": "none",
        "from_address": SUPPORT,
        "from_name": "Parley Support",
        "timeout_s": 10,
    }
    values.update(overrides)
    return MailboxSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def mail_settings(settings: Settings, smtp_server: SMTPServer) -> Settings:  # noqa: F811
    configured = EMAIL.with_settings(settings, EmailSettings(accounts=[mailbox_for(smtp_server.port)]))
    configured.enrichment.ner = False  # not what these tests are about; keeps the flow quick
    configured.outbox.retry_base_s = 0.05
    configured.outbox.retry_max_s = 0.2
    configured.outbox.poll_s = 0.05
    return configured


@pytest.fixture
def customer_writes(mail_settings: Settings, tmp_path: Path) -> Callable[..., Message]:
    """``customer_writes(subject, body, in_reply_to=None, references=None)``: the customer's
    mail ingested by the real flow; the stored message."""

    def write(
        subject: str, body: str, *, in_reply_to: str | None = None, references: list[str] | None = None
    ) -> Message:
        native = f"c-{uuid.uuid4().hex[:10]}@example.org"
        raw = customer_mail(native, subject, body, in_reply_to=in_reply_to, references=references)
        envelope = {"channel": "email", "kind": "rfc822", "account": "support", "payload": raw.decode()}
        path = tmp_path / f"{native}.jsonl"
        path.write_text(json.dumps(envelope) + "\n")
        ingest(mail_settings, [path])
        kb = open_kb(mail_settings)
        try:
            stored = kb.get_message(message_id("email", native))
        finally:
            kb.close()
        assert stored is not None and stored.conversation_id is not None
        return stored

    return write


@pytest.fixture
def mail_app(mail_settings: Settings) -> Iterator[FastAPI]:
    application = create_app(mail_settings)
    try:
        yield application
    finally:
        application.state.kb.close()
        application.state.crm.close()


@pytest.fixture
def agent(mail_app: FastAPI) -> tuple[AgentView, str]:
    return add_agent(mail_app, "agent", email="dana.agent@parley.test")


@pytest.fixture
async def agent_client(mail_app: FastAPI, agent: tuple[AgentView, str]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=mail_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=bearer(agent[1])) as c:
        yield c
