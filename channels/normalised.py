"""The ``parley.message`` envelope kind: a message some other system already normalised.

Payload shape (only ``native_id`` and ``text`` are required)::

    {"native_id": "123", "text": "...", "language": "en", "created_at": "2026-11-20T10:00:00Z",
     "in_reply_to": "122", "subject": "...", "direction": "in", "thread_key": "...",
     "references": ["120", "121"], "subject_key": "...", "listen_query": "...",
     "url": "...", "html": "...", "attachments": [...], "metadata": {...},
     "author": {"native_id": "42", "handle": "ann", "display_name": "Ann",
                "email": "ann@example.org", "phone": "+447700900123"}}

Unknown fields are rejected (dead letter naming them): a typo must not silently lose data.
``references``, ``subject_key`` and ``listen_query`` are the message's typed hints (see
``hub.models.Message``). Files written before they existed carry them in ``metadata`` as
``references``, ``normalized_subject`` and ``listen_query``: those are moved into the typed
fields when the typed field is absent and the value has the right type; otherwise they stay in
``metadata``, where nothing reads them.
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
    references: list[str] | None = None
    subject_key: str | None = None
    listen_query: str | None = None
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


#: typed field <- the ``metadata`` key earlier files carry it in
_LEGACY_HINTS = {
    "references": "references",
    "subject_key": "normalized_subject",
    "listen_query": "listen_query",
}


def _hint_is_valid(field: str, value: Any) -> bool:
    if field == "references":
        return isinstance(value, list) and all(isinstance(item, str) and item for item in value)
    return isinstance(value, str) and bool(value)


def _hints(payload: _MessagePayload) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the typed hints by field, the metadata left), legacy metadata hints moved over."""
    metadata = dict(payload.metadata)
    hints: dict[str, Any] = {field: getattr(payload, field) for field in _LEGACY_HINTS}
    for field, key in _LEGACY_HINTS.items():
        if hints[field] is None and key in metadata and _hint_is_valid(field, metadata[key]):
            hints[field] = metadata.pop(key)
    return hints, metadata


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
    hints, metadata = _hints(payload)
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
            references=hints["references"] or [],
            subject_key=hints["subject_key"],
            listen_query=hints["listen_query"],
            metadata=metadata,
            raw_ref=envelope.raw_ref,
        )
    ]
