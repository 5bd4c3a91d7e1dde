"""Standard Webhooks signatures, checked by independent implementations: the
``standardwebhooks`` package and a verifier written here from the spec."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from crm.outbound_webhooks import new_secret
from outbound.signing import InvalidSecret, headers, secret_key, sign

BODY = (
    '{"type":"conversation.assigned","timestamp":"2026-11-26T04:00:00Z","data":{"assignee":"a-é"}}'.encode()
)


def spec_verify(secret: str, message_id: str, timestamp: str, body: bytes, signature: str) -> bool:
    """The spec, read literally: HMAC-SHA256 over ``id.timestamp.body`` keyed by the base64
    after ``whsec_``, compared with each space-separated ``v1,`` signature."""
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    for candidate in signature.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(value), expected):
            return True
    return False


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert secret != new_secret()


def test_the_standardwebhooks_package_verifies_our_signature() -> None:
    secret = new_secret()
    now = int(time.time())
    signed = headers(secret, "evt_42", now, BODY)
    assert set(signed) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert signed["webhook-id"] == "evt_42" and signed["webhook-timestamp"] == str(now)
    assert signed["webhook-signature"].startswith("v1,")
    payload = Webhook(secret).verify(BODY, signed)
    assert payload["data"]["assignee"] == "a-é"
    assert spec_verify(secret, "evt_42", str(now), BODY, signed["webhook-signature"])


def test_a_changed_body_id_timestamp_or_secret_fails_verification() -> None:
    secret = new_secret()
    now = int(time.time())
    signed = headers(secret, "evt_1", now, BODY)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(secret).verify(BODY.replace(b"a-", b"b-"), signed)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(secret).verify(BODY, {**signed, "webhook-id": "evt_2"})
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(secret).verify(BODY, {**signed, "webhook-timestamp": str(now - 1)})
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(new_secret()).verify(BODY, signed)
    assert not spec_verify(new_secret(), "evt_1", str(now), BODY, signed["webhook-signature"])


@pytest.mark.parametrize(("offset_s", "accepted"), [(-290, True), (290, True), (-600, False), (600, False)])
def test_timestamp_tolerance_is_the_receivers_replay_guard(offset_s: int, accepted: bool) -> None:
    """The signature covers the timestamp, so a receiver can refuse an old (replayed) or
    future message: five minutes either way in the reference implementation."""
    secret = new_secret()
    signed = headers(secret, "evt_7", int(time.time()) + offset_s, BODY)
    if accepted:
        Webhook(secret).verify(BODY, signed)
    else:
        with pytest.raises(WebhookVerificationError, match="too old" if offset_s < 0 else "too new"):
            Webhook(secret).verify(BODY, signed)


def test_a_known_answer_vector() -> None:
    """A fixed key, id, timestamp and body give the digest computed by hand with hmac."""
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    digest = hmac.new(b"k" * 32, b"msg_1.1700000000.{}", hashlib.sha256).digest()
    assert sign(secret, "msg_1", 1700000000, b"{}") == "v1," + base64.b64encode(digest).decode()


def test_a_malformed_secret_is_refused() -> None:
    with pytest.raises(InvalidSecret):
        secret_key("whsec_not base64!")


def test_the_readme_verifier_accepts_our_signatures_and_refuses_replays() -> None:
    """The verification example in the README's "Outbound webhooks" section, run as written."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Outbound webhooks", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    verify = namespace["verify"]
    secret = new_secret()
    signed = headers(secret, "evt_9", int(time.time()), BODY)
    assert verify(secret, signed, BODY) is True
    assert verify(secret, signed, BODY + b" ") is False
    assert verify(new_secret(), signed, BODY) is False
    old = headers(secret, "evt_9", int(time.time()) - 600, BODY)
    assert verify(secret, old, BODY) is False


def test_while_rotating_both_secrets_sign_and_either_verifies() -> None:
    old, new = new_secret(), new_secret()
    now = int(time.time())
    signed = headers(new, "evt_7", now, BODY, previous=old)
    first, second = signed["webhook-signature"].split(" ")
    assert first == sign(new, "evt_7", now, BODY) and second == sign(old, "evt_7", now, BODY)
    for secret in (old, new):  # a receiver on either secret accepts it
        assert Webhook(secret).verify(BODY, signed)["data"]["assignee"] == "a-é"
        assert spec_verify(secret, "evt_7", str(now), BODY, signed["webhook-signature"])
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, signed)
    assert headers(new, "evt_7", now, BODY, previous=None) == headers(new, "evt_7", now, BODY)
