"""The Account Activity webhook: X's CRC challenge, its signature, its events as envelopes.

Served by the API's generic route at ``/webhooks/twitter/{account}`` (``account`` = the
configured account's ``name``); register that URL with X as the environment's webhook.

* **CRC** (``GET ?crc_token=``, on registration and about hourly): the answer is
  ``{"response_token": "sha256=" + base64(HMAC-SHA256(consumer_secret, crc_token))}``.
* **Signature**: every POST carries ``x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256
  of the body with the consumer secret>``; compared in constant time, a mismatch (or no
  consumer secret configured) is ``WebhookRefused`` (401, nothing stored).
* **Envelopes**: one ``x.aaa.event`` envelope per event (each ``tweet_create_events`` item,
  each DM...), keeping ``for_user_id`` and the ``users`` the event names, so one bad event is
  one dead letter and the others flow. A body carrying only events the hub does not ingest
  (typing, read receipts, favorites, follows, blocks, mutes) is an ``UnsupportedEvent``
  (answered 200, nothing stored); a ``user_event`` revocation is logged as a warning (the
  account's events stop until it authorises the app again).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import TYPE_CHECKING, Any

from channels.base import WebhookRefused, WebhookRequest, WebhookResponse
from channels.twitter.fields import as_dict, as_list, decode
from channels.twitter.parse import AAA_EVENT_KIND
from channels.twitter.settings import CHANNEL, twitter_settings
from channels.twitter.v1 import INGESTED, NOT_INGESTED
from hub.errors import MalformedPayload, UnsupportedEvent
from hub.models import Envelope

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = ["SIGNATURE_HEADER", "AccountActivityWebhook", "crc_response_token", "signature"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-twitter-webhooks-signature"


def _digest(secret: str, data: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), data, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode("ascii")


def crc_response_token(consumer_secret: str, crc_token: str) -> str:
    """The ``response_token`` answering X's CRC challenge ``crc_token``."""
    return _digest(consumer_secret, crc_token.encode("utf-8"))


def signature(consumer_secret: str, body: bytes) -> str:
    """The ``x-twitter-webhooks-signature`` a genuine push of ``body`` carries."""
    return _digest(consumer_secret, body)


def _secret(settings: Settings) -> str:
    secret = twitter_settings(settings).consumer_secret.get_secret_value()
    if not secret:
        raise WebhookRefused("no twitter consumer_secret is configured to check X's signatures")
    return secret


def _named_users(event: dict[str, Any], users: dict[str, Any]) -> dict[str, Any]:
    create = as_dict(event.get("message_create"))
    ids = {str(create.get("sender_id")), str(as_dict(create.get("target")).get("recipient_id"))}
    return {uid: user for uid, user in users.items() if uid in ids}


class AccountActivityWebhook:
    """The Twitter/X channel's ``Webhook`` (see the module doc)."""

    def challenge(self, request: WebhookRequest, settings: Settings) -> WebhookResponse | None:
        token = request.query.get("crc_token")
        if request.method != "GET" or token is None:
            return None
        if not token:
            raise WebhookRefused("empty crc_token")
        return WebhookResponse(body={"response_token": crc_response_token(_secret(settings), token)})

    def verify(self, request: WebhookRequest, settings: Settings) -> None:
        given = request.headers.get(SIGNATURE_HEADER, "")
        expected = signature(_secret(settings), request.body)
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("ascii")):
            raise WebhookRefused(f"{SIGNATURE_HEADER} does not match the body")

    def envelopes(self, request: WebhookRequest) -> list[Envelope]:
        document = decode(request.body, "Account Activity body")
        if not isinstance(document, dict):
            raise MalformedPayload(
                f"an Account Activity body is a JSON object, not {type(document).__name__}"
            )
        revoke = as_dict(as_dict(document.get("user_event")).get("revoke"))
        if revoke:
            who = as_dict(revoke.get("source")).get("user_id")
            log.warning(
                "X user %s revoked the app's access for account %r: its events stop", who, request.account
            )
        base = {"for_user_id": document["for_user_id"]} if "for_user_id" in document else {}
        users = as_dict(document.get("users"))
        envelopes: list[Envelope] = []
        for key in INGESTED:
            for index, event in enumerate(as_list(document.get(key))):
                payload: dict[str, Any] = {**base, key: [event]}
                if isinstance(event, dict) and users and key == "direct_message_events":
                    payload["users"] = _named_users(event, users)
                envelopes.append(
                    Envelope(
                        channel=CHANNEL,
                        kind=AAA_EVENT_KIND,
                        account=request.account,
                        payload=payload,
                        raw_ref=f"webhook:{CHANNEL}/{request.account}#{key}[{index}]",
                    )
                )
        if envelopes:
            return envelopes
        present = [key for key in NOT_INGESTED if key in document]
        if present:
            raise UnsupportedEvent(f"Account Activity {', '.join(present)} are not ingested")
        raise MalformedPayload(f"not an Account Activity event (keys: {', '.join(sorted(document)[:8])})")
