"""Standard Webhooks signatures (https://www.standardwebhooks.com): what a receiver verifies.

A message is signed over ``"{webhook-id}.{webhook-timestamp}.{body}"`` with HMAC-SHA256 keyed by
the secret's bytes (the base64 after ``whsec_``); ``webhook-signature`` is ``v1,<base64 of the
digest>`` (several, space-separated, while a secret is being rotated). ``webhook-timestamp``
is whole seconds since 1970 when the attempt was sent, so a receiver can refuse replays older
than its tolerance (five minutes is usual). Pure functions: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

__all__ = ["InvalidSecret", "headers", "secret_key", "sign"]

PREFIX = "whsec_"


class InvalidSecret(ValueError):
    """A secret that is not ``whsec_`` and base64."""


def secret_key(secret: str) -> bytes:
    """The key bytes of a ``whsec_...`` secret (the prefix is optional, as the spec allows)."""
    encoded = secret.removeprefix(PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSecret("a webhook secret is whsec_ followed by base64") from exc


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value of one message: ``v1,<base64 HMAC-SHA256>``."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(
    secret: str, message_id: str, timestamp: int, body: bytes, previous: str | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt; signed with ``previous`` as well
    (a second, space-separated signature) while a rotated-out secret is still honoured."""
    signatures = [sign(secret, message_id, timestamp, body)]
    if previous:
        signatures.append(sign(previous, message_id, timestamp, body))
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }
