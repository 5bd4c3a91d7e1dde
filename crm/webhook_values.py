"""What outbound webhooks are made of: subscriptions and deliveries as the API shows them,
the Standard Webhooks secret, event type filters and the JSON body of a delivery.

Pure values and functions (no I/O); ``crm.outbound_webhooks`` stores them.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from crm.errors import InvalidRequest

__all__ = [
    "MAX_TEXT",
    "Claim",
    "CreatedSubscription",
    "DeliveryState",
    "DeliveryView",
    "EventRecord",
    "SubscriptionView",
    "check_event_types",
    "claim_of",
    "delivery_of",
    "json_text",
    "new_secret",
    "subscription_of",
    "type_matches",
    "utc_text",
    "webhook_body",
]

DeliveryState = Literal["pending", "delivered", "failed"]
#: the Standard Webhooks secret prefix
SECRET_PREFIX = "whsec_"
#: an event type (``conversation.assigned``) or a family (``conversation.*``)
_TYPE = re.compile(r"[a-z][a-z0-9_]*\.(?:[a-z][a-z0-9_]*|\*)")
MAX_TYPES = 100
MAX_TEXT = 2000


class EventRecord(Protocol):
    """What the store reads of an event of the log (``crm.events.Event``)."""

    @property
    def id(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def type(self) -> str: ...
    @property
    def conversation_id(self) -> str | None: ...
    @property
    def contact_id(self) -> str | None: ...
    @property
    def actor_id(self) -> str | None: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def check_event_types(types: Sequence[str] | None) -> list[str] | None:
    """``types`` deduplicated, or ``None`` (every type) for ``None``/``["*"]``;
    ``InvalidRequest`` naming a malformed one."""
    if types is None or list(types) == ["*"]:
        return None
    if not types:
        raise InvalidRequest("event_types must name at least one type, or be null for every type")
    if len(types) > MAX_TYPES:
        raise InvalidRequest(f"at most {MAX_TYPES} event types")
    bad = [t for t in types if not _TYPE.fullmatch(t)]
    if bad:
        raise InvalidRequest(
            f"malformed event types {bad[:5]!r}: write subject.verb (conversation.assigned) or "
            "subject.* (every conversation event); see docs/events.md"
        )
    return list(dict.fromkeys(types))


def type_matches(types: Sequence[str] | None, event_type: str) -> bool:
    """Whether a subscription to ``types`` (``None`` = all) wants ``event_type``."""
    if types is None:
        return True
    family = event_type.split(".", 1)[0] + ".*"
    return event_type in types or family in types


def webhook_body(event: EventRecord) -> str:
    """The JSON body delivered for ``event``: ``{"type", "timestamp", "data"}`` (Standard
    Webhooks); ``data`` is the event's data with its id and subject ids added."""
    subject = {
        "event_id": event.id,
        "conversation_id": event.conversation_id,
        "contact_id": event.contact_id,
        "actor_id": event.actor_id,
    }
    data = {**{k: v for k, v in subject.items() if v is not None}, **dict(event.data)}
    return json_text({"type": event.type, "timestamp": utc_text(event.at), "data": data})


def json_text(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str)


def utc_text(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


class SubscriptionView(BaseModel):
    """A subscription as admins see it: never its secret."""

    model_config = ConfigDict(frozen=True)

    id: str
    url: str
    description: str | None
    event_types: list[str] | None
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    consecutive_failures: int
    paused_until: datetime | None
    cursor: int
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class CreatedSubscription(SubscriptionView):
    """A new subscription and its secret: the only time the secret is shown."""

    secret: str


class DeliveryView(BaseModel):
    """One message of the delivery log: what was sent where, how often, and how it went."""

    model_config = ConfigDict(frozen=True)

    id: int
    subscription_id: str
    event_id: int | None
    message_id: str
    event_type: str
    state: DeliveryState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    finished_at: datetime | None
    last_status: int | None
    last_error: str | None
    last_response: str | None


@dataclass(frozen=True)
class Claim:
    """A delivery handed to a deliverer: everything one attempt needs."""

    delivery_id: int
    subscription_id: str
    url: str
    secret: str
    message_id: str
    body: str
    attempts: int
    created_at: datetime
    is_test: bool
    #: the subscription's failed attempts in a row when it was claimed
    failures: int
    #: the secret rotated out, while it is still honoured: attempts carry its signature too
    previous_secret: str | None = None


def subscription_of(row: Any) -> SubscriptionView:
    return SubscriptionView(**{name: row[name] for name in SubscriptionView.model_fields})


def delivery_of(row: Any) -> DeliveryView:
    values = {name: row[name] for name in DeliveryView.model_fields}
    if row["state"] != "pending":
        values["next_attempt_at"] = None
    return DeliveryView(**values)


def claim_of(row: Any) -> Claim:
    return Claim(
        delivery_id=row["id"],
        subscription_id=row["subscription_id"],
        url=row["url"],
        secret=row["secret"],
        message_id=row["message_id"],
        body=row["body"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        is_test=row["event_id"] is None,
        failures=row["consecutive_failures"],
        previous_secret=row["previous_secret"],
    )
