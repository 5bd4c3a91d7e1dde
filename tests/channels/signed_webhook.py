"""A test channel pushing through the generic webhook route, signed the way platforms sign.

``hooktest`` is a whole channel descriptor, as a package would export one: its webhook signs
bodies with HMAC-SHA256 (``x-hooktest-signature: sha256=<hex>``, compared in constant time),
answers a CRC challenge (``GET ?crc_token=`` → ``{"response_token": "sha256=<base64>"}``, as
X's Account Activity API does) and turns a body ``{"messages": [<parley.message payload>...]}``
into one ``parley.message`` envelope per message. Its secret comes from the channel's settings
(``[channels.hooktest] secret = ...``), so configuring it is what enables its webhook.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

import channels
from channels.base import Channel, WebhookRefused, WebhookRequest, WebhookResponse
from channels.normalised import NORMALISED_KIND, parse_normalised
from hub.errors import MalformedPayload, UnsupportedEvent
from hub.models import Envelope
from hub.settings import Settings

NAME = "hooktest"
SECRET = "s3cret-for-tests"
SIGNATURE_HEADER = "x-hooktest-signature"


class HooktestSettings(BaseModel):
    secret: SecretStr = SecretStr("")


def _secret(settings: Settings) -> bytes:
    secret = HOOKTEST.settings_of(settings).secret.get_secret_value()
    if not secret:
        raise WebhookRefused("hooktest has no secret configured")
    return secret.encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    """The signature header value a genuine push of ``body`` carries."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def crc_response(token: str, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode(), token.encode(), hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


class SignedWebhook:
    """The test channel's ``Webhook``."""

    def challenge(self, request: WebhookRequest, settings: Settings) -> WebhookResponse | None:
        token = request.query.get("crc_token")
        if request.method != "GET" or token is None:
            return None
        return WebhookResponse(body={"response_token": crc_response(token, _secret(settings).decode())})

    def verify(self, request: WebhookRequest, settings: Settings) -> None:
        expected = sign(request.body, _secret(settings).decode())
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise WebhookRefused("signature does not match the body")

    def envelopes(self, request: WebhookRequest) -> list[Envelope]:
        try:
            document: Any = json.loads(request.body)
        except ValueError as exc:
            raise MalformedPayload(f"body is not JSON: {exc}") from exc
        if isinstance(document, dict) and document.get("event") == "typing":
            raise UnsupportedEvent("typing indicators are not ingested")
        if not isinstance(document, dict) or not isinstance(document.get("messages"), list):
            raise MalformedPayload("body has no 'messages' list")
        if document.get("crash"):
            raise KeyError("a bug in the channel")
        return [
            Envelope(channel=NAME, kind=NORMALISED_KIND, account=request.account, payload=message)
            for message in document["messages"]
        ]


HOOKTEST: Channel[HooktestSettings] = Channel(
    name=NAME,
    settings_model=HooktestSettings,
    parsers={NORMALISED_KIND: parse_normalised},
    webhook=SignedWebhook(),
)


def register(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put ``hooktest`` in ``channels.CHANNELS`` for one test (the dict every module shares)."""
    monkeypatch.setitem(channels.CHANNELS, NAME, HOOKTEST)


def configured(settings: Settings, secret: str = SECRET) -> Settings:
    """``settings`` with ``[channels.hooktest] secret`` set."""
    return settings.model_copy(update={"channels": {**settings.channels, NAME: {"secret": secret}}})


def push_body(first: int, count: int, account: str = "brand") -> bytes:
    """A push carrying messages ``first .. first + count - 1`` (native ids ``m<n>``)."""
    messages = [
        {
            "native_id": f"m{n}",
            "text": f"webhook message number {n} about the kettle",
            "created_at": "2026-11-20T10:00:00Z",
            "author": {"native_id": f"u{n % 7}", "handle": f"user{n % 7}"},
        }
        for n in range(first, first + count)
    ]
    return json.dumps({"account": account, "messages": messages}).encode()
