"""The TLS modes against real servers: IMAP over SSL and STARTTLS (Dovecot), SMTP likewise."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from channels.email.replier import EmailReplier
from channels.email.settings import MailboxSettings
from channels.email.source import IMAPSource
from hub.errors import FatalError
from hub.models import DeadLetter, Envelope, Reply
from tests.channels.email.conftest import Dovecot, SMTPCollector, free_port
from tests.channels.email.test_replier import customer_message
from tests.channels.email.test_source import build, drain, mail

pytestmark = pytest.mark.dovecot


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_imap_tls_modes_read_mail(dovecot: Dovecot, mode: str) -> None:
    folder = f"Tls{mode}"
    dovecot.create_folder(folder)
    dovecot.append(mail(1), folder)
    port = dovecot.ssl_port if mode == "ssl" else dovecot.port
    mailbox = dovecot.mailbox(folders=[folder], imap_tls=mode, imap_port=port, ca_file=str(dovecot.ca_file))
    items = drain(build(IMAPSource([mailbox], once=True)))
    assert len(items) == 1 and isinstance(items[0], Envelope)


def test_untrusted_certificate_is_a_clear_dead_letter(dovecot: Dovecot) -> None:
    mailbox = dovecot.mailbox(imap_tls="ssl", imap_port=dovecot.ssl_port)  # no ca_file
    items = drain(build(IMAPSource([mailbox], once=True)))
    assert len(items) == 1 and isinstance(items[0], DeadLetter)
    assert "certificate not trusted" in items[0].reason and "ca_file" in items[0].reason


@pytest.fixture
def tls_smtp(dovecot: Dovecot, request: pytest.FixtureRequest) -> Iterator[tuple[int, SMTPCollector]]:
    # The Dovecot fixture's self-signed certificate serves the SMTP server too.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(dovecot.ca_file, Path(dovecot.ca_file).with_name("key.pem"))
    handler = SMTPCollector()
    port = free_port()
    kwargs: dict[str, Any] = (
        {"ssl_context": context}
        if request.param == "ssl"
        else {"tls_context": context, "require_starttls": True}
    )
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


@pytest.mark.parametrize("tls_smtp", ["ssl", "starttls"], indirect=True)
def test_smtp_tls_modes_deliver(dovecot: Dovecot, tls_smtp: tuple[int, SMTPCollector], request: Any) -> None:
    port, handler = tls_smtp
    mode = request.node.callspec.params["tls_smtp"]
    mailbox = MailboxSettings(
        smtp_host="127.0.0.1", smtp_port=port, smtp_tls=mode, from_address="support@parley.test",
        ca_file=str(dovecot.ca_file), timeout_s=5,
    )  # fmt: skip
    reply = Reply(id="r-tls", conversation_id="c", channel="email", in_reply_to=customer_message(), text="Hi")
    delivery = asyncio.run(EmailReplier(mailbox).send(reply))
    assert delivery.status == "sent" and len(handler.received) == 1


@pytest.mark.parametrize("tls_smtp", ["ssl"], indirect=True)
def test_smtp_untrusted_certificate_is_fatal(tls_smtp: tuple[int, SMTPCollector]) -> None:
    port, _ = tls_smtp
    mailbox = MailboxSettings(
        smtp_host="127.0.0.1", smtp_port=port, smtp_tls="ssl", from_address="support@parley.test", timeout_s=5
    )
    reply = Reply(id="r-tls", conversation_id="c", channel="email", in_reply_to=customer_message(), text="Hi")
    with pytest.raises(FatalError, match="certificate not trusted"):
        asyncio.run(EmailReplier(mailbox).send(reply))
