"""The ``parley.message`` envelope kind: a message some other system already normalised.

Payload shape (only ``native_id`` and ``text`` are required)::

    {"native_id": "123", "text": "...", "language": "en", "created_at": "2026-11-20T10:00:00Z",
     "in_reply_to": "122", "subject": "...", "direction": "in", "thread_key": "...",
     "url": "...", "html": "...", "attachments": [...], "metadata": {...},
     "author": {"native_id": "42", "handle": "ann", "display_name": "Ann",
                "email": "ann@example.org", "phone": "+447700900123"}}

Unknown fields are rejected (dead letter naming them): a typo must not silently lose data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.errors import MalformedPayload
from hub.models import Attachment, Direction, Envelope, Identity, Message

__all__ = ["NORMALISED_KIND", "parse_normalised"]

NORMALISED_KIND = "parley.message"


class _AuthorPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    native_id: str = Field(min_length=1)
    handle: str | None = None
    display_name: str | None = None
    email: str | None = None
    phone: str | None = None


class _MessagePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    native_id: str = Field(min_length=1)
    text: str
    language: str | None = None
    created_at: datetime | None = None
    in_reply_to: str | None = None
    thread_key: str | None = None
    subject: str | None = None
    direction: Direction = Direction.IN
    html: str | None = None
    url: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    author: _AuthorPayload | None = None


def _describe(exc: ValidationError) -> str:
    unknown = [".".join(str(p) for p in e["loc"]) for e in exc.errors() if e["type"] == "extra_forbidden"]
    if unknown:
        return "unknown field(s): " + ", ".join(unknown)
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "payload"
    return f"invalid {where}: {first['msg']}"


def parse_normalised(envelope: Envelope) -> list[Message]:
    """Validate a ``parley.message`` payload and return it as one ``Message``."""
    if not isinstance(envelope.payload, dict):
        raise MalformedPayload(
            f"{NORMALISED_KIND} payload must be a JSON object, got {type(envelope.payload).__name__}"
        )
    try:
        payload = _MessagePayload.model_validate(envelope.payload)
    except ValidationError as exc:
        raise MalformedPayload(_describe(exc)) from exc
    author = None
    if payload.author is not None:
        author = Identity(channel=envelope.channel, **payload.author.model_dump())
    return [
        Message(
            channel=envelope.channel,
            account=envelope.account,
            native_id=payload.native_id,
            direction=payload.direction,
            author=author,
            subject=payload.subject,
            text=payload.text,
            html=payload.html,
            language=payload.language,
            created_at=payload.created_at or envelope.received_at,
            thread_key=payload.thread_key,
            reply_to=payload.in_reply_to,
            url=payload.url,
            attachments=payload.attachments,
            metadata=payload.metadata,
            raw_ref=envelope.raw_ref,
        )
    ]
