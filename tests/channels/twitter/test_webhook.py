"""Account Activity through the API's generic webhook route: CRC, signatures, the inbox, the flow.

The app is the real one (``api.app.create_app``, httpx ASGITransport); signatures are computed
here independently of the channel (hmac + base64), as X computes them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from bytewax.testing import run_main
from fastapi import FastAPI

from api.app import create_app
from crm.store import CRMStore
from flows.inbox import InboxSource
from flows.ingest import build_flow
from hub.models import Envelope, message_id
from hub.settings import Settings
from kb import open_kb
from tests.channels.twitter.conftest import CREDENTIALS, FIXTURES, T2, load, twitter_table, with_twitter

URL = "/webhooks/twitter/brand"
SECRET = CREDENTIALS["consumer_secret"]


def x_signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture
def hub_settings(settings: Settings) -> Settings:
    settings.ensure_data_dir()
    return with_twitter(settings, twitter_table())


@pytest.fixture
def app(hub_settings: Settings) -> Iterator[FastAPI]:
    application = create_app(hub_settings)
    try:
        yield application
    finally:
        application.state.kb.close()
        application.state.crm.close()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as c:
        yield c


def inbox(app: FastAPI) -> list[Envelope]:
    crm: CRMStore = app.state.crm
    items = [entry.item for entry in crm.read_inbox(0, 1000)]
    assert all(isinstance(item, Envelope) for item in items)
    return items  # type: ignore[return-value]


async def push(client: httpx.AsyncClient, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-twitter-webhooks-signature"] = signature
    return await client.post(URL, content=body, headers=headers)


async def test_the_crc_challenge_is_answered_with_the_consumer_secret(client: httpx.AsyncClient) -> None:
    response = await client.get(URL, params={"crc_token": "challenge-123"})
    assert response.status_code == 200
    expected = base64.b64encode(hmac.new(SECRET.encode(), b"challenge-123", hashlib.sha256).digest()).decode()
    assert response.json() == {"response_token": f"sha256={expected}"}
    assert (await client.get(URL)).status_code == 400  # a GET that is not a challenge


async def test_without_a_consumer_secret_nothing_verifies(settings: Settings) -> None:
    settings.ensure_data_dir()
    app = create_app(with_twitter(settings, twitter_table(consumer_secret="")))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://parley.test"
        ) as c:
            assert (await c.get(URL, params={"crc_token": "x"})).status_code == 401
            body = (FIXTURES / "aaa_event__tweet_create.json").read_bytes()
            assert (await push(c, body, x_signature(body, ""))).status_code == 401
        assert inbox(app) == []
    finally:
        app.state.kb.close()
        app.state.crm.close()


async def test_a_signed_event_is_committed_to_the_inbox(client: httpx.AsyncClient, app: FastAPI) -> None:
    body = (FIXTURES / "aaa_event__tweet_create.json").read_bytes()
    response = await push(client, body, x_signature(body))
    assert response.status_code == 200 and response.json() == {"accepted": 1}
    [stored] = inbox(app)
    assert (stored.channel, stored.kind, stored.account) == ("twitter", "x.aaa.event", "brand")
    assert stored.payload == {
        "for_user_id": "4000000001",
        "tweet_create_events": load("aaa_event__tweet_create")["tweet_create_events"],
    }


async def test_each_event_of_a_burst_is_its_own_envelope(client: httpx.AsyncClient, app: FastAPI) -> None:
    tweets = load("aaa_event__tweet_create")
    dms = load("aaa_event__direct_message")
    second = {**tweets["tweet_create_events"][0], "id_str": "1800000000000000499", "id": 1800000000000000499}
    document = {
        "for_user_id": "4000000001",
        "tweet_create_events": [tweets["tweet_create_events"][0], second],
        "direct_message_events": dms["direct_message_events"],
        "users": {**dms["users"], "999": {"id": "999", "screen_name": "someone_else"}},
    }
    body = json.dumps(document).encode()
    response = await push(client, body, x_signature(body))
    assert response.json() == {"accepted": 3}
    stored = inbox(app)
    assert [sorted(e.payload) for e in stored] == [
        ["for_user_id", "tweet_create_events"],
        ["for_user_id", "tweet_create_events"],
        ["direct_message_events", "for_user_id", "users"],
    ]
    assert sorted(stored[2].payload["users"]) == ["4000000001", "4000000003"]  # only whom it names


@pytest.mark.parametrize("signature", [None, "sha256=AAAA", "sha256=" + "x" * 44, ""])
async def test_a_bad_signature_is_401_and_never_stored(
    client: httpx.AsyncClient, app: FastAPI, signature: str | None
) -> None:
    body = (FIXTURES / "aaa_event__tweet_create.json").read_bytes()
    response = await push(client, body, signature)
    assert response.status_code == 401
    assert inbox(app) == []
    tampered = body.replace(b"lid", b"LID")
    assert (await push(client, tampered, x_signature(body))).status_code == 401


async def test_harmless_events_are_acknowledged_and_not_stored(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    for name in ("aaa_event__typing", "aaa_event__favorite", "aaa_event__follow", "aaa_event__revoke"):
        body = (FIXTURES / f"{name}.json").read_bytes()
        response = await push(client, body, x_signature(body))
        assert response.status_code == 200 and response.json() == {"accepted": 0}, name
    assert inbox(app) == []


async def test_an_unreadable_signed_body_is_a_dead_letter(client: httpx.AsyncClient, app: FastAPI) -> None:
    body = b"{this is not json"
    response = await push(client, body, x_signature(body))
    assert response.status_code == 200 and "dead_letter" in response.json()
    assert inbox(app) == []


async def test_pushed_events_reach_the_knowledge_base_through_the_inbox(
    client: httpx.AsyncClient, app: FastAPI, hub_settings: Settings
) -> None:
    for name in ("aaa_event__tweet_create", "aaa_event__direct_message", "aaa_event__tweet_delete"):
        body = (FIXTURES / f"{name}.json").read_bytes()
        assert (await push(client, body, x_signature(body))).json() == {"accepted": 1}
    run_main(build_flow(hub_settings, [("inbox_in", InboxSource(hub_settings, once=True))]))
    kb = open_kb(hub_settings)
    try:
        tweet = kb.get_message(message_id("twitter", "1800000000000000401"))
        assert tweet is not None and tweet.text.endswith("#stillwaiting") and tweet.conversation_id
        dm = kb.get_message(message_id("twitter", "dm:1800000000000000402"))
        assert dm is not None and dm.conversation_id and dm.conversation_id != tweet.conversation_id
        gone = kb.get_message(message_id("twitter", T2))  # never stored: a marker in no conversation
        assert gone is not None and gone.text == "" and gone.conversation_id is None
        assert kb.count_messages() == 3
    finally:
        kb.close()
