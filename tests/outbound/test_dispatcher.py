"""The dispatcher against a real aiosmtpd server: passing failures back off and retry, refusals
fail with the reason, the retry budget ends in ``failed``, a server that is down is retried;
replies in doubt are requeued when they never reached SMTP DATA and left ``unknown`` when they
did; events follow every transition."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from channels.email import EMAIL
from channels.email.settings import EmailSettings
from crm import open_crm
from crm.outbox import NewReply, ReplyView
from hub.models import Message
from hub.settings import Settings
from kb import open_kb
from outbound.dispatcher import Dispatcher
from tests.channels.email.conftest import SMTPServer
from tests.conftest import free_ports
from tests.outbound.conftest import mailbox_for


def queue(settings: Settings, question: Message, count: int = 1) -> list[ReplyView]:
    crm = open_crm(settings)
    try:
        return [
            crm.outbox.enqueue(
                NewReply(
                    conversation_id=question.conversation_id or "",
                    channel="email",
                    account="support",
                    author_id="a-1",
                    text=f"Reply {n}",
                    in_reply_to=question.id,
                )
            )[0]
            for n in range(count)
        ]
    finally:
        crm.close()


async def run(
    settings: Settings, question: Message, **kwargs: object
) -> tuple[Dispatcher, dict[str, ReplyView]]:
    crm, kb = open_crm(settings), open_kb(settings)
    try:
        dispatcher = Dispatcher(settings, crm, kb, **kwargs)  # type: ignore[arg-type]
        await dispatcher.run(until_idle=True)
        return dispatcher, {r.id: r for r in crm.outbox.for_conversation(question.conversation_id or "")}
    finally:
        kb.close()
        crm.close()


async def test_a_passing_refusal_is_retried_then_sent(
    mail_settings: Settings, customer_writes: Callable[..., Message], smtp_server: SMTPServer
) -> None:
    question = customer_writes("Late", "Where is it?")
    (reply,) = queue(mail_settings, question)
    smtp_server.handler.reject_with = "451 4.3.0 try again later"
    crm, kb = open_crm(mail_settings), open_kb(mail_settings)
    try:
        dispatcher = Dispatcher(mail_settings, crm, kb, senders=1)
        row = crm.outbox.claim(dispatcher.run_id, timedelta(minutes=1))
        assert row is not None
        await dispatcher.dispatch(row)
        queued = crm.outbox.get(reply.id)
        assert queued is not None and queued.state == "queued" and "451" in (queued.reason or "")
        assert queued.next_attempt_at > row.updated_at  # backed off
    finally:
        kb.close()
        crm.close()
    smtp_server.handler.reject_with = None
    _, rows = await run(mail_settings, question)
    assert rows[reply.id].state == "sent" and rows[reply.id].attempts == 2
    assert len(smtp_server.received) == 1


async def test_a_refusal_fails_with_the_reason_and_the_budget_ends_in_failed(
    mail_settings: Settings, customer_writes: Callable[..., Message], smtp_server: SMTPServer
) -> None:
    question = customer_writes("Late", "Where is it?")
    smtp_server.handler.reject_with = "550 5.7.1 message refused"
    (refused,) = queue(mail_settings, question)
    dispatcher, rows = await run(mail_settings, question)
    assert rows[refused.id].state == "failed" and "550 5.7.1" in (rows[refused.id].reason or "")
    assert dispatcher.report.failed == 1

    smtp_server.handler.reject_with = "451 4.3.0 busy"
    mail_settings.outbox.max_attempts = 3
    (busy,) = queue(mail_settings, question)
    _, rows = await run(mail_settings, question)
    assert rows[busy.id].state == "failed" and rows[busy.id].attempts == 3
    assert (rows[busy.id].reason or "").startswith("gave up after 3 attempts")
    assert smtp_server.received == []
    crm = open_crm(mail_settings)
    try:
        failed = [e.data["reply_id"] for e in crm.events.read(types=["reply.failed"])]
    finally:
        crm.close()
    assert failed == [refused.id, busy.id]


async def test_a_server_that_is_down_is_retried(
    mail_settings: Settings, customer_writes: Callable[..., Message]
) -> None:
    question = customer_writes("Late", "Where is it?")
    (port,) = free_ports(1)  # nothing listens there
    settings = EMAIL.with_settings(mail_settings, EmailSettings(accounts=[mailbox_for(port)]))
    settings.outbox.max_attempts = 2
    (reply,) = queue(settings, question)
    dispatcher, rows = await run(settings, question)
    assert dispatcher.report.retried == 1
    assert rows[reply.id].state == "failed" and "gave up after 2 attempts" in (rows[reply.id].reason or "")


async def test_replies_in_doubt_are_requeued_before_data_and_unknown_after(
    mail_settings: Settings, customer_writes: Callable[..., Message], smtp_server: SMTPServer
) -> None:
    question = customer_writes("Late", "Where is it?")
    before, after = queue(mail_settings, question, 2)
    crm = open_crm(mail_settings)
    try:  # a dispatcher that died: one reply claimed, one past its point of no return
        crm.outbox.claim("dead-run", timedelta(minutes=5))
        crm.outbox.claim("dead-run", timedelta(minutes=5))
        assert crm.outbox.mark_handed_over(after.id, "dead-run")
    finally:
        crm.close()
    dispatcher, rows = await run(mail_settings, question)
    assert dispatcher.report.requeued == 1 and dispatcher.report.unknown == 1
    assert rows[before.id].state == "sent" and rows[before.id].attempts == 2
    assert rows[after.id].state == "unknown"
    assert "after handing it over" in (rows[after.id].reason or "") and "retry it" in (
        rows[after.id].reason or ""
    )
    assert [r.message["X-Parley-Reply-Id"] for r in smtp_server.received] == [before.id]
    crm = open_crm(mail_settings)
    try:
        types = [
            (e.type, e.data.get("reply_id") or e.data.get("message_id")) for e in crm.events.read(limit=50)
        ]
    finally:
        crm.close()
    assert ("reply.unknown", after.id) in types and ("reply.sent", before.id) in types
    assert ("message.created", rows[before.id].message_id) in types
