"""EmailReplier against a real aiosmtpd server: threading headers, ids, and SMTP failures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from channels.email.parse import parse_rfc822
from channels.email.replier import EmailReplier, build_reply
from channels.email.settings import MailboxSettings
from hub.errors import FatalError, RetriableError, SkippableError
from hub.models import Direction, Envelope, Identity, Message, Reply
from tests.channels.email.conftest import SMTPServer, free_port

FIXTURES = Path(__file__).parent / "fixtures"


def customer_message(name: str = "message__reply_quoted.eml") -> Message:
    envelope = Envelope(
        channel="email", kind="rfc822", account="support", payload=(FIXTURES / name).read_bytes()
    )
    return parse_rfc822(envelope)[0]


def mailbox_for(server: SMTPServer | None, **overrides: Any) -> MailboxSettings:
    values: dict[str, Any] = {
        "name": "support",
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port if server else free_port(),
        "smtp_tls": "none",
        "from_address": "support@parley.test",
        "timeout_s": 5,
    }
    values.update(overrides)
    return MailboxSettings(**values)


def make_reply(parent: Message, **overrides: Any) -> Reply:
    values: dict[str, Any] = {
        "id": "reply-1",
        "conversation_id": "cnv_123",
        "channel": "email",
        "account": "support",
        "in_reply_to": parent,
        "text": "Glad it arrived! Anything else?",
        "author": "agent-7",
    }
    values.update(overrides)
    return Reply(**values)


def test_reply_arrives_with_threading_headers(smtp_server: SMTPServer) -> None:
    parent = customer_message()
    delivery = asyncio.run(EmailReplier(mailbox_for(smtp_server)).send(make_reply(parent)))
    assert delivery.status == "sent" and delivery.error is None
    (received,) = smtp_server.received
    mail = received.message
    assert received.mail_from == "support@parley.test"
    assert received.rcpt_tos == ["ann.customer@example.org"]
    assert mail["To"].addresses[0].addr_spec == "ann.customer@example.org"
    assert mail["Subject"] == "Re: AW: My order #1234 has not arrived"
    assert mail["In-Reply-To"] == "<order-1234-q3@example.org>"
    assert mail["References"] == (
        "<order-1234-q1@example.org> <reply-1234-a2@parley.test> <order-1234-q3@example.org>"
    )
    assert mail["Message-ID"] == f"<{delivery.native_id}>"
    assert mail.get_content().replace("\r\n", "\n") == (
        "Glad it arrived! Anything else?\n\n"
        "On Tue, 17 Nov 2026 10:00:00 +0000, Ann Customer wrote:\n"
        "> It arrived this morning, thank you!\n"
    )
    assert delivery.message is not None and delivery.message.text == "Glad it arrived! Anything else?"


def test_quote_can_be_switched_off() -> None:
    mime, out = build_reply(make_reply(customer_message()), mailbox_for(None, quote_original=False))
    assert mime.get_content() == "Glad it arrived! Anything else?\n"
    assert out.body == "Glad it arrived! Anything else?"


def test_delivery_message_threads_like_the_customer_mail(smtp_server: SMTPServer) -> None:
    parent = customer_message()
    delivery = asyncio.run(EmailReplier(mailbox_for(smtp_server)).send(make_reply(parent)))
    out = delivery.message
    assert out is not None
    assert out.direction is Direction.OUT
    assert out.native_id == delivery.native_id and out.native_id.endswith("@parley.test")
    assert out.reply_to == "order-1234-q3@example.org"
    assert out.thread_key == parent.thread_key == "order-1234-q1@example.org"
    assert out.conversation_id == "cnv_123"
    assert out.author is not None and out.author.email == "support@parley.test"
    # What the server received parses back to the same threading as the recorded message.
    received = parse_rfc822(
        Envelope(channel="email", kind="rfc822", payload=smtp_server.received[0].message.as_bytes())
    )[0]
    assert (received.native_id, received.thread_key, received.reply_to) == (
        out.native_id,
        out.thread_key,
        out.reply_to,
    )


def test_first_reply_to_a_root_message(smtp_server: SMTPServer) -> None:
    parent = customer_message("message__plain.eml")
    reply = make_reply(parent, html="<p>On its way</p>")
    delivery = asyncio.run(EmailReplier(mailbox_for(smtp_server)).send(reply))
    mail = smtp_server.received[0].message
    assert mail["Subject"] == "Re: My order #1234 has not arrived"
    assert mail["In-Reply-To"] == mail["References"] == "<order-1234-q1@example.org>"
    assert mail.get_body(("html",)) is not None
    assert delivery.message is not None and delivery.message.thread_key == "order-1234-q1@example.org"


def test_same_reply_id_same_message_id_new_reply_new_id() -> None:
    parent = customer_message()
    mailbox = mailbox_for(None)
    first, _ = build_reply(make_reply(parent), mailbox)
    again, _ = build_reply(make_reply(parent), mailbox)
    other, _ = build_reply(make_reply(parent, id="reply-2"), mailbox)
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]


def test_explicit_recipients_win_over_parent_author() -> None:
    parent = customer_message()
    to = [Identity(channel="email", native_id="team@example.org", email="team@example.org")]
    mime, out = build_reply(make_reply(parent, to=to), mailbox_for(None))
    assert mime["To"] == "team@example.org"
    assert [r.email for r in out.recipients] == ["team@example.org"]


def test_reply_without_recipient_is_skippable() -> None:
    parent = customer_message().model_copy(update={"author": None})
    with pytest.raises(SkippableError, match="no recipient"):
        build_reply(make_reply(parent), mailbox_for(None))


@pytest.mark.parametrize(
    ("reply_code", "error"),
    [("550 5.1.1 mailbox unavailable", SkippableError), ("451 4.3.0 try again later", RetriableError)],
)
def test_smtp_refusals_map_to_hub_errors(
    smtp_server: SMTPServer, reply_code: str, error: type[Exception]
) -> None:
    smtp_server.handler.reject_with = reply_code
    with pytest.raises(error, match=reply_code.split()[0]):
        asyncio.run(EmailReplier(mailbox_for(smtp_server)).send(make_reply(customer_message())))


def test_unreachable_server_is_retriable() -> None:
    with pytest.raises(RetriableError, match=r"SMTP 127\.0\.0\.1"):
        asyncio.run(EmailReplier(mailbox_for(None, timeout_s=2)).send(make_reply(customer_message())))


class _RefuseAll:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


@pytest.fixture
def auth_smtp() -> Iterator[int]:
    port = free_port()

    def authenticator(*args: Any) -> AuthResult:
        return AuthResult(success=False, handled=False)

    controller = Controller(
        _RefuseAll(), hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def test_refused_smtp_login_is_fatal(auth_smtp: int) -> None:
    mailbox = mailbox_for(None, smtp_port=auth_smtp, smtp_username="support@parley.test", password="nope")
    with pytest.raises(FatalError, match="login refused"):
        asyncio.run(EmailReplier(mailbox).send(make_reply(customer_message())))


def test_from_name_on_outgoing_mail() -> None:
    mime, out = build_reply(make_reply(customer_message()), mailbox_for(None, from_name="Acme Support"))
    assert mime["From"] == "Acme Support <support@parley.test>"
    assert out.author is not None and out.author.display_name == "Acme Support"


def test_follow_up_to_our_own_reply_goes_to_the_customer() -> None:
    mailbox = mailbox_for(None)
    _, first = build_reply(make_reply(customer_message()), mailbox)
    mime, second = build_reply(make_reply(first, id="reply-2", text="Any news?"), mailbox)
    assert mime["To"] == "Ann Customer <ann.customer@example.org>"
    assert second.thread_key == first.thread_key == "order-1234-q1@example.org"
    assert mime["In-Reply-To"] == f"<{first.native_id}>"
    assert str(mime["References"]).startswith("<order-1234-q1@example.org>")


def test_reply_to_a_contact_form_goes_to_the_reply_to_address() -> None:
    parent = customer_message("message__contact_form_reply_to.eml")
    mime, out = build_reply(make_reply(parent), mailbox_for(None))
    assert mime["To"] == "Erin Buyer <erin@example.net>"
    assert [r.native_id for r in out.recipients] == ["erin@example.net"]


def test_check_smtp(smtp_server: SMTPServer, auth_smtp: int) -> None:
    from channels.email.replier import check_smtp

    assert asyncio.run(check_smtp(mailbox_for(smtp_server))).startswith("ok: SMTP 127.0.0.1")
    refused = mailbox_for(None, smtp_port=auth_smtp, smtp_username="support@parley.test", password="nope")
    assert asyncio.run(check_smtp(refused)).startswith("error: SMTP 127.0.0.1")
    assert asyncio.run(check_smtp(mailbox_for(None, timeout_s=2))).startswith("error: SMTP 127.0.0.1")
