"""The email story through the API: a customer's mail becomes a conversation (the real flow) →
an agent replies with ``POST /conversations/{id}/replies`` → the dispatcher sends it to aiosmtpd
with the right threading → the conversation shows it ``sent``, as an outbound message by the
brand, sent by the agent → the customer's answer (In-Reply-To only) joins the same
conversation. Replaying the request with the same Idempotency-Key sends nothing more; 100 such
requests at once make one outbox row and one mail."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI

from crm import AgentView
from hub.models import Message
from hub.settings import Settings
from outbound.dispatcher import Dispatcher
from tests.channels.email.conftest import SMTPServer


async def dispatch(app: FastAPI) -> Dispatcher:
    dispatcher = Dispatcher(app.state.settings, app.state.crm, app.state.kb, senders=2)
    await dispatcher.run(until_idle=True)
    return dispatcher


async def test_reply_through_the_api_reaches_the_customer_and_their_answer_threads_back(
    mail_app: FastAPI,
    agent_client: httpx.AsyncClient,
    agent: tuple[AgentView, str],
    customer_writes: Callable[..., Message],
    smtp_server: SMTPServer,
    mail_settings: Settings,
) -> None:
    question = customer_writes("Kettle not delivered", "Where is my kettle? Order 991.")
    conversation_id = question.conversation_id
    mail_app.state.kb.refresh()

    headers = {"Idempotency-Key": "reply-991"}
    body = {"text": "It leaves our warehouse today."}
    answer = await agent_client.post(f"/conversations/{conversation_id}/replies", json=body, headers=headers)
    assert answer.status_code == 202, answer.text
    reply: dict[str, Any] = answer.json()
    assert reply["state"] == "queued" and reply["author_id"] == agent[0].id
    assert reply["in_reply_to"] == question.id

    dispatcher = await dispatch(mail_app)
    assert dispatcher.report.sent == 1 and dispatcher.report.recorded == 1
    (received,) = smtp_server.received
    assert received.rcpt_tos == ["dana@example.org"]
    assert received.message["In-Reply-To"] == f"<{question.native_id}>"
    assert received.message["Subject"] == "Re: Kettle not delivered"
    assert received.message["X-Parley-Reply-Id"] == reply["id"]

    detail = (await agent_client.get(f"/conversations/{conversation_id}")).json()
    (stored_reply,) = detail["replies"]
    assert stored_reply["state"] == "sent"
    assert received.message["Message-ID"] == f"<{stored_reply['platform_id']}>"
    outbound = [m for m in detail["messages"] if m["direction"] == "out"]
    assert len(outbound) == 1 and outbound[0]["id"] == stored_reply["message_id"]
    assert outbound[0]["author"]["email"] == "support@parley.test"
    assert outbound[0]["metadata"]["sent_by"] == agent[0].id
    assert outbound[0]["metadata"]["reply_id"] == reply["id"]
    assert detail["conversation"]["message_count"] == 2

    # the same key again: the same reply, and nothing more is sent
    again = await agent_client.post(f"/conversations/{conversation_id}/replies", json=body, headers=headers)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == reply["id"] and again.json()["state"] == "sent"
    await dispatch(mail_app)
    assert len(smtp_server.received) == 1

    # the customer answers naming only our Message-ID: it threads into the same conversation
    their_answer = customer_writes(
        "Re: Kettle not delivered", "Great, thanks!", in_reply_to=stored_reply["platform_id"]
    )
    assert their_answer.conversation_id == conversation_id
    mail_app.state.kb.refresh()
    detail = (await agent_client.get(f"/conversations/{conversation_id}")).json()
    # (mail dates have whole seconds: the answer may sort before the reply within a second)
    assert sorted(m["direction"] for m in detail["messages"]) == ["in", "in", "out"]
    assert their_answer.id in {m["id"] for m in detail["messages"]}
    assert detail["conversation"]["inbound_count"] == 2


async def test_a_hundred_identical_requests_make_one_row_and_one_mail(
    mail_app: FastAPI,
    agent_client: httpx.AsyncClient,
    customer_writes: Callable[..., Message],
    smtp_server: SMTPServer,
) -> None:
    question = customer_writes("Refund", "I want my money back.")
    url = f"/conversations/{question.conversation_id}/replies"
    headers = {"Idempotency-Key": "same-for-all"}
    answers = await asyncio.gather(
        *(agent_client.post(url, json={"text": "Refund on its way."}, headers=headers) for _ in range(100))
    )
    assert sorted({a.status_code for a in answers}) == [200, 202]
    assert sum(a.status_code == 202 for a in answers) == 1
    assert len({a.json()["id"] for a in answers}) == 1
    assert mail_app.state.crm.outbox.counts()["queued"] == 1
    await dispatch(mail_app)
    assert len(smtp_server.received) == 1
    # the key with another text is another request: refused, nothing queued
    other = await agent_client.post(url, json={"text": "Something else."}, headers=headers)
    assert other.status_code == 409 and "different request" in other.json()["detail"]
