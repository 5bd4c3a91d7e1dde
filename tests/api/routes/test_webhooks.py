"""The generic webhook route against the real app and CRM store (httpx ASGITransport, no server).

The channel is ``tests.channels.signed_webhook``: HMAC-SHA256 signed pushes and a CRC challenge.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from crm.engine import make_engine
from crm.store import CRMStore
from hub.models import Envelope
from hub.settings import Settings
from tests.channels.signed_webhook import (
    SIGNATURE_HEADER,
    configured,
    crc_response,
    push_body,
    register,
    sign,
)
from tests.conftest import free_ports

URL = "/webhooks/hooktest/brand"


@pytest.fixture
def api_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    register(monkeypatch)
    hub = configured(settings)
    return hub.model_copy(update={"webhooks": hub.webhooks.model_copy(update={"max_body_bytes": 4096})})


@pytest.fixture
def crm(app: FastAPI) -> CRMStore:
    store: CRMStore = app.state.crm
    return store


async def post(client: httpx.AsyncClient, body: bytes, signature: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return await client.post(URL, content=body, headers=headers)


def stored(crm: CRMStore) -> list[Envelope]:
    items = [entry.item for entry in crm.read_inbox(0, 1000)]
    assert all(isinstance(item, Envelope) for item in items)
    return items  # type: ignore[return-value]


async def test_a_signed_push_is_committed_to_the_inbox_before_the_200(
    client: httpx.AsyncClient, crm: CRMStore
) -> None:
    body = push_body(1, 2)
    response = await post(client, body, sign(body))
    assert response.status_code == 200
    assert response.json() == {"accepted": 2}
    envelopes = stored(crm)
    assert [(e.channel, e.kind, e.account) for e in envelopes] == [
        ("hooktest", "parley.message", "brand")
    ] * 2
    assert [e.payload["native_id"] for e in envelopes] == ["m1", "m2"]
    assert crm.count_inbox(unread=True) == 2, "the flow has not read them yet"


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=" + "0" * 64, sign(b"another body"), sign(push_body(1, 2), secret="wrong")],
    ids=["missing", "empty", "zeros", "other-body", "other-secret"],
)
async def test_a_push_that_does_not_verify_is_401_and_never_stored(
    client: httpx.AsyncClient, crm: CRMStore, signature: str | None
) -> None:
    response = await post(client, push_body(1, 2), signature)
    assert response.status_code == 401
    assert crm.count_inbox() == 0 and crm.count_dead_letters() == 0


async def test_an_unconfigured_channel_refuses_every_push(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch)
    app = create_app(settings)  # hooktest is registered but has no secret configured
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://parley.test"
    ) as client:
        body = push_body(1, 1)
        assert (await post(client, body, sign(body))).status_code == 401
    assert app.state.crm.count_inbox() == 0
    app.state.crm.close()
    app.state.kb.close()


async def test_the_crc_challenge_is_answered_directly(client: httpx.AsyncClient, crm: CRMStore) -> None:
    response = await client.get(URL, params={"crc_token": "abc123"})
    assert response.status_code == 200
    assert response.json() == {"response_token": crc_response("abc123")}
    assert crm.count_inbox() == 0


async def test_a_get_that_is_not_a_challenge_is_400(client: httpx.AsyncClient) -> None:
    assert (await client.get(URL)).status_code == 400


@pytest.mark.parametrize("path", ["/webhooks/nosuch/brand", "/webhooks/email/support"])
async def test_unknown_channels_and_channels_without_a_webhook_are_404(
    client: httpx.AsyncClient, path: str
) -> None:
    body = push_body(1, 1)
    response = await client.post(path, content=body, headers={SIGNATURE_HEADER: sign(body)})
    assert response.status_code == 404


async def test_a_body_over_the_cap_is_413_and_not_stored(client: httpx.AsyncClient, crm: CRMStore) -> None:
    body = push_body(1, 100)
    assert len(body) > 4096
    assert (await post(client, body, sign(body))).status_code == 413

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the cap applies while reading
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = await client.post(URL, content=chunked(), headers={SIGNATURE_HEADER: sign(body)})
    assert response.status_code == 413
    assert crm.count_inbox() == 0


async def test_a_verified_body_that_never_parses_is_a_dead_letter_answered_200(
    client: httpx.AsyncClient, crm: CRMStore
) -> None:
    body = b'{"messages": "not a list"}'
    first = await post(client, body, sign(body))
    again = await post(client, body, sign(body))  # the platform retrying: still one dead letter
    assert first.status_code == again.status_code == 200
    assert first.json()["accepted"] == 0 and first.json()["dead_letter"] == again.json()["dead_letter"]
    total, letters = crm.list_dead_letters()
    assert total == 1
    assert letters[0].stage == "webhook" and letters[0].channel == "hooktest"
    assert letters[0].raw == body.decode() and "messages" in letters[0].reason
    assert letters[0].raw_ref == "webhook:hooktest/brand"
    assert crm.count_inbox() == 0


async def test_a_channel_bug_keeps_the_verified_body_as_a_dead_letter(
    client: httpx.AsyncClient, crm: CRMStore
) -> None:
    body = b'{"messages": [], "crash": true}'
    response = await post(client, body, sign(body))
    assert response.status_code == 200 and response.json()["accepted"] == 0
    _, letters = crm.list_dead_letters()
    assert [letter.reason for letter in letters] == ["webhook error (KeyError): 'a bug in the channel'"]


async def test_events_the_hub_does_not_ingest_are_acknowledged_and_dropped(
    client: httpx.AsyncClient, crm: CRMStore
) -> None:
    body = b'{"event": "typing"}'
    response = await post(client, body, sign(body))
    assert response.status_code == 200 and response.json() == {"accepted": 0}
    assert crm.count_inbox() == 0 and crm.count_dead_letters() == 0


async def test_a_verified_push_without_events_stores_nothing(
    client: httpx.AsyncClient, crm: CRMStore
) -> None:
    body = b'{"messages": []}'
    response = await post(client, body, sign(body))
    assert response.status_code == 200 and response.json() == {"accepted": 0}
    assert crm.count_inbox() == 0


async def test_a_database_that_is_down_answers_503_so_the_platform_retries(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    app.state.crm.close()
    # the real store class over a PostgreSQL address nothing listens on
    app.state.crm = CRMStore(make_engine(f"postgresql+psycopg://parley@127.0.0.1:{free_ports(1)[0]}/none"))
    body = push_body(1, 1)
    response = await post(client, body, sign(body))
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
