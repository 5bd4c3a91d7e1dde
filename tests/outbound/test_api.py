"""The reply API's refusals and the rest of its routes: channel rules as 422s before the outbox
(X's 280 weighted characters with the leading @mention, DMs only to DMs, a mail without a
recipient, an account that cannot send), notes never sent, a person's retry and drop, and
canned responses (roles, shortcuts, variants, placeholders, the missing one named)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from hub.models import Identity, Message
from hub.settings import Settings
from kb.conversations import ConversationKeeper
from tests.api.callers import add_agent, bearer
from tests.api.conftest import BASE_URL
from tests.channels.twitter.conftest import twitter_table, with_twitter

ANN = Identity(channel="twitter", native_id="4000000002", handle="ann", display_name="Ann Example")
DANA = Identity(
    channel="email", native_id="dana@example.org", email="dana@example.org", display_name="Dana Customer"
)


@pytest.fixture
def app(mail_settings: Settings) -> Iterator[FastAPI]:
    application = create_app(with_twitter(mail_settings, twitter_table()))
    keeper = ConversationKeeper(application.state.kb)
    keeper.apply(
        [
            Message(
                channel="twitter",
                account="brand",
                native_id="1800000000000000101",
                author=ANN,
                text="@AcmeHelp my kettle broke",
                conversation_id="cnv_tweet",
            ),
            Message(
                channel="twitter",
                account="brand",
                native_id="dm:77",
                author=ANN,
                text="order 5",
                flags=["dm"],
                conversation_id="cnv_dm",
                metadata={"dm_conversation_id": "4000000001-4000000002"},
            ),
            Message(
                channel="email",
                account="support",
                native_id="q1@example.org",
                author=DANA,
                subject="Kettle",
                text="Where is it?",
                conversation_id="cnv_mail",
            ),
            Message(
                channel="email",
                account="support",
                native_id="q2@example.org",
                author=None,
                text="no sender known",
                conversation_id="cnv_anon",
            ),
            Message(
                channel="email",
                account="import",
                native_id="q3@example.org",
                author=DANA,
                text="imported from a file",
                conversation_id="cnv_import",
            ),
        ]
    )
    application.state.crm.upsert_from_messages(
        [m for m in application.state.kb.conversation_messages("cnv_mail")]
    )
    try:
        yield application
    finally:
        application.state.kb.close()
        application.state.crm.close()


@pytest.fixture
async def as_(app: FastAPI) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    clients = {}
    for role in ("viewer", "agent", "supervisor"):
        _, token = add_agent(app, role)  # type: ignore[arg-type]
        clients[role] = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=bearer(token)
        )
    try:
        yield clients
    finally:
        for c in clients.values():
            await c.aclose()


def problems(answer: httpx.Response) -> list[tuple[str, str]]:
    assert answer.status_code == 422, answer.text
    return [(item["loc"][-1], item["msg"]) for item in answer.json()["detail"]]


async def test_x_rules_are_checked_before_the_outbox(app: FastAPI, as_: dict[str, httpx.AsyncClient]) -> None:
    agent = as_["agent"]
    url = "/conversations/cnv_tweet/replies"
    # "@ann " is added and counted: 275 + 5 = 280 fits, 276 does not
    assert (await agent.post(url, json={"text": "x" * 275})).status_code == 202
    ((field, message),) = problems(await agent.post(url, json={"text": "x" * 276}))
    assert field == "text" and "281 characters" in message and "shorten it by 1" in message
    # URLs count 23 whatever their length
    assert (await agent.post(url, json={"text": "see https://example.org/" + "a" * 300})).status_code == 202
    ((field, message),) = problems(await agent.post(url, json={"text": "psst", "private": True}))
    assert field == "private" and "DM in answer to a public tweet" in message
    ((field, _),) = problems(
        await agent.post("/conversations/cnv_dm/replies", json={"text": "hi", "private": False})
    )
    assert field == "private"
    assert (await agent.post("/conversations/cnv_dm/replies", json={"text": "y" * 2000})).status_code == 202
    assert app.state.crm.outbox.counts()["queued"] == 3


async def test_mail_rules_and_accounts(app: FastAPI, as_: dict[str, httpx.AsyncClient]) -> None:
    agent = as_["agent"]
    ((field, message),) = problems(
        await agent.post("/conversations/cnv_anon/replies", json={"text": "Hello"})
    )
    assert field == "to" and "recipient" in message
    answer = await agent.post(
        "/conversations/cnv_anon/replies", json={"text": "Hello", "to": ["who@example.org"]}
    )
    assert answer.status_code == 202 and answer.json()["recipients"][0]["email"] == "who@example.org"
    ((field, message),) = problems(await agent.post("/conversations/cnv_import/replies", json={"text": "Hi"}))
    assert field == "conversation" and "no mailbox named 'import'" in message
    assert problems(await agent.post("/conversations/cnv_mail/replies", json={}))[0][1].endswith(
        "give either text or canned_response_id"
    )
    bad_parent = await agent.post(
        "/conversations/cnv_mail/replies", json={"text": "x", "in_reply_to": "msg_nope"}
    )
    assert problems(bad_parent)[0][0] == "in_reply_to"
    assert (await agent.post("/conversations/cnv_nope/replies", json={"text": "x"})).status_code == 404
    assert (
        await as_["viewer"].post("/conversations/cnv_mail/replies", json={"text": "x"})
    ).status_code == 403
    assert app.state.crm.outbox.counts()["queued"] == 1


async def test_notes_are_shown_and_never_sent(app: FastAPI, as_: dict[str, httpx.AsyncClient]) -> None:
    answer = await as_["agent"].post("/conversations/cnv_mail/notes", json={"text": "VIP: answer today"})
    assert answer.status_code == 201
    detail = (await as_["viewer"].get("/conversations/cnv_mail")).json()
    assert [n["text"] for n in detail["notes"]] == ["VIP: answer today"] and detail["replies"] == []
    assert [n["id"] for n in (await as_["viewer"].get("/conversations/cnv_mail/notes")).json()] == [
        answer.json()["id"]
    ]
    assert sum(app.state.crm.outbox.counts().values()) == 0
    assert (await as_["agent"].post("/conversations/cnv_nope/notes", json={"text": "x"})).status_code == 404


async def test_a_person_retries_or_drops_an_unknown_reply(
    app: FastAPI, as_: dict[str, httpx.AsyncClient]
) -> None:
    agent = as_["agent"]
    reply = (await agent.post("/conversations/cnv_mail/replies", json={"text": "Hello"})).json()
    base = f"/conversations/cnv_mail/replies/{reply['id']}"
    assert (await agent.post(f"{base}/drop")).status_code == 409  # queued: nothing to decide
    outbox = app.state.crm.outbox
    outbox.claim("run", timedelta(minutes=1))
    outbox.record_unknown(reply["id"], "run", reason="died mid-send")
    again = await agent.post(f"{base}/retry")
    assert again.status_code == 200 and again.json()["state"] == "queued"
    outbox.claim("run", timedelta(minutes=1))
    outbox.record_unknown(reply["id"], "run", reason="died again")
    dropped = await agent.post(f"{base}/drop")
    assert dropped.status_code == 200 and dropped.json()["state"] == "failed"
    assert (await agent.post(f"/conversations/cnv_tweet/replies/{reply['id']}/retry")).status_code == 404
    states = [
        (e.type, e.data["reply_id"])
        for e in app.state.crm.events.read(types=["reply.queued", "reply.unknown", "reply.failed"])
    ]
    assert [t for t, _ in states] == [
        "reply.queued",
        "reply.unknown",
        "reply.queued",
        "reply.unknown",
        "reply.failed",
    ]


async def test_canned_responses(app: FastAPI, as_: dict[str, httpx.AsyncClient]) -> None:
    agent, supervisor = as_["agent"], as_["supervisor"]
    body = {
        "name": "Shipping",
        "shortcut": "ship",
        "variants": {
            "default": "Hi {{contact.first_name}}, it ships today. {{agent.name}} (ref {{conversation.id}})",
            "fr": "Bonjour {{contact.first_name}}, il part aujourd'hui.",
        },
    }
    assert (await agent.post("/canned-responses", json=body)).status_code == 403
    created = await supervisor.post("/canned-responses", json=body)
    assert created.status_code == 201
    canned_id = created.json()["id"]
    assert (await supervisor.post("/canned-responses", json=body)).status_code == 409  # shortcut taken
    bad = {**body, "shortcut": "bad", "variants": {"default": "Hi {{ customer.name }}"}}
    assert (await supervisor.post("/canned-responses", json=bad)).status_code == 400
    assert [c["shortcut"] for c in (await agent.get("/canned-responses?q=shi")).json()] == ["ship"]
    assert (await as_["viewer"].get("/canned-responses")).status_code == 403

    reply = await agent.post("/conversations/cnv_mail/replies", json={"canned_response_id": canned_id})
    assert reply.status_code == 202, reply.text
    assert reply.json()["text"] == "Hi Dana, it ships today. Agent Tester (ref cnv_mail)"
    assert reply.json()["canned_response_id"] == canned_id
    french = await agent.post(
        "/conversations/cnv_mail/replies", json={"canned_response_id": canned_id, "language": "fr"}
    )
    assert french.json()["text"] == "Bonjour Dana, il part aujourd'hui."
    preview = await agent.post(f"/canned-responses/{canned_id}/preview", json={"conversation_id": "cnv_mail"})
    assert preview.json() == {
        "language": "default",
        "text": "Hi Dana, it ships today. Agent Tester (ref cnv_mail)",
    }

    # no known sender: the first name is missing, and the 422 names it (never a blank)
    ((field, message),) = problems(
        await agent.post(
            "/conversations/cnv_anon/replies", json={"canned_response_id": canned_id, "to": ["a@b.org"]}
        )
    )
    assert field == "canned_response_id" and "{{contact.first_name}}" in message

    changed = await supervisor.patch(
        f"/canned-responses/{canned_id}", json={"variants": {"default": "Thanks {{agent.name}}"}}
    )
    assert changed.status_code == 200 and changed.json()["variants"] == {"default": "Thanks {{agent.name}}"}
    assert (await agent.patch(f"/canned-responses/{canned_id}", json={"name": "x"})).status_code == 403
    assert (await supervisor.delete(f"/canned-responses/{canned_id}")).status_code == 204
    assert (await agent.get(f"/canned-responses/{canned_id}")).status_code == 404
    gone = await agent.post("/conversations/cnv_mail/replies", json={"canned_response_id": canned_id})
    assert problems(gone)[0][0] == "canned_response_id"
