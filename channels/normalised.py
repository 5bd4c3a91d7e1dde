"""The ``parley.message`` envelope kind: a message some other system already normalised.

Payload shape (only ``native_id`` and ``text`` are required)::

    {"native_id": "123", "text": "...", "language": "en", "created_at": "2026-11-20T10:00:00Z",
     "in_reply_to": "122", "subject": "...", "direction": "in", "thread_key": "...",
     "references": ["120", "121"], "subject_key": "...", "listen_query": "...",
     "url": "...", "html": "...", "attachments": [...], "metadata": {...},
     "author": {"native_id": "42", "handle": "ann", "display_name": "Ann",
                "email": "ann@example.org", "phone": "+447700900123"}}

Unknown fields are rejected (dead letter naming them): a typo must not silently lose data.
Sizes are limited (``channels.limits``), each breach a dead letter saying which and where: the
payload is JSON data at most ``MAX_PAYLOAD_DEPTH`` (32) deep and ``MAX_PAYLOAD_CHARS`` (4 MiB)
large, with no lone surrogates; ``metadata``, ``attachments`` and ``author`` each at most
``MAX_FREEFORM_DEPTH`` (16) deep and ``MAX_FREEFORM_CHARS`` (256 KiB) large; ``text`` and
``html`` at most ``MAX_TEXT_CHARS`` (1 Mi characters), every other string ``MAX_SHORT_CHARS``
(4,096); ``references`` and ``attachments`` at most ``MAX_LIST_ITEMS`` (1,000) entries.
``references``, ``subject_key`` and ``listen_query`` are the message's typed hints (see
``hub.models.Message``). Files written before they existed carry them in ``metadata`` as
``references``, ``normalized_subject`` and ``listen_query``: those are moved into the typed
fields when the typed field is absent and the value has the right type; otherwise they stay in
``metadata``, where nothing reads them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from channels.limits import (
    MAX_FREEFORM_CHARS,
    MAX_FREEFORM_DEPTH,
    MAX_LIST_ITEMS,
    MAX_PAYLOAD_CHARS,
    MAX_PAYLOAD_DEPTH,
    MAX_SHORT_CHARS,
    MAX_TEXT_CHARS,
    check_json,
)
from hub.errors import MalformedPayload
from hub.models import Attachment, Direction, Envelope, Identity, Message, identity_id

__all__ = ["NORMALISED_KIND", "author_id_before_parsing", "parse_normalised"]

NORMALISED_KIND = "parley.message"

_Short = Annotated[str, Field(max_length=MAX_SHORT_CHARS)]
_Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
#: the free-form parts of a payload, each measured on its own
_FREEFORM = ("metadata", "attachments", "author")


class _AuthorPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    native_id: _Short = Field(min_length=1)
    handle: _Short | None = None
    display_name: _Short | None = None
    email: _Short | None = None
    phone: _Short | None = None


class _MessagePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    native_id: _Short = Field(min_length=1)
    text: _Text
    language: _Short | None = None
    created_at: datetime | None = None
    in_reply_to: _Short | None = None
    thread_key: _Short | None = None
    references: list[_Short] | None = Field(default=None, max_length=MAX_LIST_ITEMS)
    subject_key: _Short | None = None
    listen_query: _Short | None = None
    subject: _Short | None = None
    direction: Direction = Direction.IN
    html: _Text | None = None
    url: _Short | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
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


def _check_limits(payload: dict[str, Any]) -> None:
    """The payload's shape within ``channels.limits``, measured before pydantic sees it: its
    validators recurse, and stop with an error of their own at 200 levels, well past what a
    stored message may hold."""
    for name in _FREEFORM:  # first: their limits are the tighter ones, and name the field
        if name in payload:
            check_json(payload[name], name, max_depth=MAX_FREEFORM_DEPTH, max_chars=MAX_FREEFORM_CHARS)
    check_json(payload, "payload", max_depth=MAX_PAYLOAD_DEPTH, max_chars=MAX_PAYLOAD_CHARS)


def author_id_before_parsing(envelope: Envelope) -> str | None:
    """The identity id :func:`parse_normalised` gives the author of ``envelope``'s message,
    read off the raw payload without validating it (None where there is no author to read).

    Exact when the payload parses; when it does not, the envelope is still *about* that
    author, which is what a process share needs to decide who parses it (``flows.ingest``).
    """
    payload = envelope.payload
    author = payload.get("author") if isinstance(payload, dict) else None
    native_id = author.get("native_id") if isinstance(author, dict) else None
    if not isinstance(native_id, str) or not native_id:
        return None
    return identity_id(envelope.channel, native_id)


def parse_normalised(envelope: Envelope) -> list[Message]:
    """Validate a ``parley.message`` payload and return it as one ``Message``.

    Raises ``MalformedPayload`` naming the problem: not an object, a limit passed (and where),
    an unknown field, an invalid value.
    """
    if not isinstance(envelope.payload, dict):
        raise MalformedPayload(
            f"{NORMALISED_KIND} payload must be a JSON object, got {type(envelope.payload).__name__}"
        )
    _check_limits(envelope.payload)
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
