"""The shared vocabulary: envelopes in, messages and conversations through, dead letters out.

Every package speaks these types; this module imports nothing from the rest of Parley.

Ids are stable and derived, never random: a message's id comes from its channel and native
id, an identity's from its channel and native id, so a replayed input maps to the same rows
and documents and sinks can upsert idempotently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Attachment",
    "Author",
    "Conversation",
    "ConversationStatus",
    "DeadLetter",
    "Delivery",
    "Direction",
    "Enrichment",
    "Entity",
    "Envelope",
    "Identity",
    "Message",
    "Priority",
    "Reply",
    "SentimentLabel",
    "conversation_id_for",
    "identity_id",
    "message_id",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _digest(prefix: str, *parts: str) -> str:
    # \x1f (unit separator) cannot occur in channel names, so ("a", "bc") != ("ab", "c").
    raw = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return f"{prefix}_{hashlib.blake2b(raw, digest_size=12).hexdigest()}"


#: an empty hash of _digest's kind, copied: cheaper than passing the digest size on every call
_blake2b_12 = hashlib.blake2b(digest_size=12)


def message_id(channel: str, native_id: str) -> str:
    """The stable id of the message ``native_id`` on ``channel``."""
    # _digest("msg", channel, native_id) spelt out: one id per parsed message, by the thousand
    digest = _blake2b_12.copy()
    digest.update(f"{channel}\x1f{native_id}".encode("utf-8", "surrogatepass"))
    return "msg_" + digest.hexdigest()


def identity_id(channel: str, native_id: str) -> str:
    """The stable id of the author identity ``native_id`` on ``channel``."""
    digest = _blake2b_12.copy()  # _digest("idn", channel, native_id) spelt out
    digest.update(f"{channel}\x1f{native_id}".encode("utf-8", "surrogatepass"))
    return "idn_" + digest.hexdigest()


def conversation_id_for(channel: str, account: str, thread_key: str) -> str:
    """The stable id of the conversation whose thread root is ``thread_key``."""
    return _digest("cnv", channel, account, thread_key)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Envelope(BaseModel):
    """Raw channel data as it enters the hub, live or replayed.

    ``kind`` names the payload's format (``rfc822``, ``parley.message``, ``rss``...) and picks
    the parser; ``raw_ref`` says where the raw bytes came from (file and line, IMAP UID...).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    account: str = "default"
    received_at: datetime = Field(default_factory=utcnow)
    payload: Any
    raw_ref: str | None = None

    _utc = field_validator("received_at")(_as_utc)


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class Identity(BaseModel):
    """One author account on one channel: a Twitter user, an email address, a phone number.

    A person may have many identities; the CRM store merges them into one contact.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = ""
    channel: str = Field(min_length=1)
    native_id: str = Field(min_length=1)
    handle: str | None = None
    display_name: str | None = None
    email: str | None = None
    phone: str | None = None
    #: the platform's verified badge, when the channel reports one (None: not known)
    verified: bool | None = None
    #: follower count when the author was seen, when the channel reports one (None: not known)
    followers: int | None = None

    @model_validator(mode="after")
    def _derive_id(self) -> Identity:
        expected = identity_id(self.channel, self.native_id)
        if self.id != expected:
            object.__setattr__(self, "id", expected)
        return self

    @classmethod
    def prevalidated(cls, **values: Any) -> Identity:
        """An identity from values a channel parser has already checked (``Message.prevalidated``
        says what the caller guarantees); ``id`` is derived as validation would."""
        return cls.prevalidated_from(values)

    @classmethod
    def prevalidated_from(cls, values: dict[str, Any]) -> Identity:
        """``prevalidated(**values)`` without unpacking (``Message.prevalidated_from``)."""
        values["id"] = identity_id(values["channel"], values["native_id"])
        return _unvalidated(cls, values)


Author = Identity


class Attachment(BaseModel):
    """Metadata of an attachment; the content itself is never stored."""

    model_config = ConfigDict(frozen=True)

    name: str | None = None
    content_type: str = "application/octet-stream"
    size: int | None = None
    url: str | None = None

    @classmethod
    def prevalidated_from(cls, values: dict[str, Any]) -> Attachment:
        """An attachment from values a channel parser has already checked, unvalidated
        (``Message.prevalidated`` says what the caller guarantees); ``values`` is not kept."""
        return _unvalidated(cls, values)


class Entity(BaseModel):
    """A named entity found in a message's text (character offsets into ``Message.text``)."""

    model_config = ConfigDict(frozen=True)

    text: str
    label: str
    start: int = 0
    end: int = 0


SentimentLabel = Literal["negative", "neutral", "positive"]


class Enrichment(BaseModel):
    """What the enrich step learned about a message; defaults mean "not known"."""

    language: str = "und"
    language_confidence: float = 0.0
    #: in [-1, 1]; ``None`` (with ``sentiment_label``) when unknown: not enriched yet, or a
    #: language no sentiment model covers. Unknown is not neutral: rollups and facets skip it.
    sentiment: float | None = Field(default=None, ge=-1.0, le=1.0)
    sentiment_label: SentimentLabel | None = None
    entities: list[Entity] = Field(default_factory=list)
    hashtags: list[str] = Field(default_factory=list)
    mentions: list[str] = Field(default_factory=list)
    cashtags: list[str] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    #: ``None`` when unknown: not enriched yet, or a language without intent cues
    intent: str | None = None
    intent_confidence: float = 0.0
    done: bool = False


class Message(BaseModel):
    """One normalised message from any channel, inbound or outbound.

    ``id`` is derived from ``channel`` and ``native_id`` (pass it or not: it is recomputed).
    ``reply_to`` is the native id of the parent message on the same channel; ``thread_key`` is
    a channel-given thread root (Twitter's conversation_id, an email's first References id)
    when the channel knows one. ``conversation_id`` is set by the thread step.
    ``text`` is the searchable text (quotes and signatures stripped where the channel can);
    ``body`` keeps the full text when it differs.

    Typed hints a channel gives the flow (``metadata`` is free-form and no other package reads
    it): ``references`` and ``subject_key`` for the thread step, ``listen_query`` for the parse
    step's listening filter.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    id: str = ""
    channel: str = Field(min_length=1)
    account: str = "default"
    native_id: str = Field(min_length=1)
    direction: Direction = Direction.IN
    author: Identity | None = None
    recipients: list[Identity] = Field(default_factory=list)
    subject: str | None = None
    text: str = ""
    body: str | None = None
    html: str | None = None
    language: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    thread_key: str | None = None
    reply_to: str | None = None
    #: native ids of earlier messages of the thread, oldest first (an email's References);
    #: the thread step joins the conversation of the nearest one it knows
    references: list[str] = Field(default_factory=list)
    #: the normalised subject ("re: Broken kettle" -> "broken kettle") for the subject fallback
    #: (same key, same author, inside the channel's ``subject_window``); None: no fallback
    subject_key: str | None = None
    #: the listening query (KB query language) of the feed this message came from: the parse
    #: step keeps the message only when it matches
    listen_query: str | None = None
    conversation_id: str | None = None
    url: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    raw_ref: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    enrichment: Enrichment = Field(default_factory=Enrichment)

    _utc = field_validator("created_at")(_as_utc)

    @model_validator(mode="after")
    def _derive_id(self) -> Message:
        self.id = message_id(self.channel, self.native_id)
        return self

    @property
    def reply_to_id(self) -> str | None:
        """The hub id of the parent message, when there is one."""
        return message_id(self.channel, self.reply_to) if self.reply_to else None

    @classmethod
    def prevalidated(cls, **values: Any) -> Message:
        """A message from values a channel parser has already checked, without validating them
        again (pydantic's validation of a ``Message`` costs as much as decoding a tweet's JSON).

        The caller guarantees every value has the field's type: non-empty ``channel`` and
        ``native_id``, ``author``/``recipients``/``attachments`` as model instances, lists and
        dicts fresh (not shared with another message), ``created_at`` timezone-aware. What is
        still done here: unknown field names raise ``TypeError`` (the model forbids extras),
        ``created_at`` is converted to UTC and ``id`` is derived, as validation would. Defaults
        are fresh per message, and the fields are in the model's order, so the message dumps
        as a validated one does. ``channels.limits.check_message`` (run on every parsed
        message) still refuses what cannot be serialised, and the channels' tests check that
        ``model_validate`` accepts what this builds.
        """
        return cls.prevalidated_from(values)

    @classmethod
    def prevalidated_from(cls, values: dict[str, Any]) -> Message:
        """``prevalidated(**values)`` without unpacking: ``values`` is read, and given ``id``
        (and ``created_at`` in UTC), but never kept. Half a microsecond less a message (what
        keyword arguments cost), for parsers that build messages by the thousand."""
        created = values.get("created_at")
        if created is not None and created.tzinfo is not UTC:
            values["created_at"] = _as_utc(created)
        values["id"] = message_id(values["channel"], values["native_id"])
        return (_BUILDERS.get(cls) or _builder(cls))(values)  # _unvalidated inline


_M = TypeVar("_M", bound=BaseModel)

#: stands in a model's defaults for a value made fresh per instance
_FRESH: Any = object()

# What pydantic's own constructors set on an instance, set straight through BaseModel's slot
# descriptors: an unvalidated message is built per tweet, by the thousand a second, and these
# cost half of what ``object.__setattr__`` does.
_new_instance = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__

#: each model's unvalidated constructor, compiled on first use (``_builder``)
_BUILDERS: dict[type[BaseModel], Callable[[dict[str, Any]], Any]] = {}

_BUILD = """
def build(values):
    data = defaults.copy()
    if values:
        data.update(values)
        if len(data) != size:  # a name that is no field was added: cheaper than a set test first
            unknown(values)
{fresh}
    instance = new(cls)
    set_dict(instance, data)
    set_fields_set(instance, set(values))
    set_extra(instance, None)
    set_private(instance, None)
    return instance
"""


def _builder(cls: type[_M]) -> Callable[[dict[str, Any]], _M]:
    """The function making an instance of ``cls`` from checked values, unvalidated: what
    pydantic's ``model_construct`` does, without its signature inspection of every default
    factory on every call (which costs more than validating).

    It fills a copy of the model's defaults (in the model's field order, as validation makes
    them, so the instance dumps as a validated one does) with the values, then makes the
    defaults that are made fresh per instance (lists, dicts, a time, a nested model) for the
    fields not given; unknown names raise ``TypeError``; the fields set are the names given.
    Compiled once per model, as ``dataclasses`` compiles its ``__init__``: one statement per
    fresh default instead of loops over field names took 0.3-0.5 µs off the 3.5-4.5 µs a parsed
    tweet's message cost (``bench/twitter.py``'s generated pages, measured in one run).
    """
    built = _BUILDERS.get(cls)
    if built is not None:
        return built
    fields = cls.model_fields
    namespace: dict[str, Any] = {
        "defaults": {n: f.default if f.default_factory is None else _FRESH for n, f in fields.items()},
        "size": len(fields),
        "FRESH": _FRESH,
        "cls": cls,
        "new": _new_instance,
        "set_dict": _set_dict,
        "set_fields_set": _set_fields_set,
        "set_extra": _set_extra,
        "set_private": _set_private,
        "unknown": lambda values: _refuse_unknown(cls, values),
    }
    fresh = []
    for number, (name, field) in enumerate(fields.items()):
        factory = field.default_factory
        if factory is None:
            continue
        if factory is list or factory is dict:
            made = "[]" if factory is list else "{}"
        elif factory is Enrichment:
            # Enrichment() would validate its defaults: they need none (constants, fresh lists)
            namespace[f"factory_{number}"] = _defaults_builder(Enrichment)
            made = f"factory_{number}()"
        else:
            namespace[f"factory_{number}"] = factory
            made = f"factory_{number}()"
        fresh.append(f"    if data[{name!r}] is FRESH:\n        data[{name!r}] = {made}")
    exec(_BUILD.format(fresh="\n".join(fresh)), namespace)
    built = _BUILDERS[cls] = namespace["build"]
    return built


_DEFAULTS_BUILD = """
def build():
    data = defaults.copy()
{fresh}
    instance = new(cls)
    set_dict(instance, data)
    set_fields_set(instance, set())
    set_extra(instance, None)
    set_private(instance, None)
    return instance
"""


def _defaults_builder(cls: type[_M]) -> Callable[[], _M]:
    """The function making an instance of ``cls`` of its defaults alone, unvalidated: what
    ``_builder(cls)`` makes of no values, without testing which defaults to make fresh (all
    are). A message's ``Enrichment`` is made so, one per message."""
    fields = cls.model_fields
    namespace: dict[str, Any] = {
        "defaults": {n: f.default for n, f in fields.items()},
        "cls": cls,
        "new": _new_instance,
        "set_dict": _set_dict,
        "set_fields_set": _set_fields_set,
        "set_extra": _set_extra,
        "set_private": _set_private,
    }
    fresh = []
    for number, (name, field) in enumerate(fields.items()):
        factory = field.default_factory
        if factory is list or factory is dict:
            made = "[]" if factory is list else "{}"
        elif factory is not None:
            namespace[f"factory_{number}"] = factory
            made = f"factory_{number}()"
        elif field.is_required():
            raise TypeError(f"{cls.__name__}.{name} has no default")
        else:
            continue
        fresh.append(f"    data[{name!r}] = {made}")
    exec(_DEFAULTS_BUILD.format(fresh="\n".join(fresh)), namespace)
    built: Callable[[], _M] = namespace["build"]
    return built


def _refuse_unknown(cls: type[BaseModel], values: dict[str, Any]) -> None:
    unknown = sorted(values.keys() - cls.model_fields.keys())
    raise TypeError(f"{cls.__name__} has no field(s) {', '.join(unknown)}")


def _unvalidated(cls: type[_M], values: dict[str, Any]) -> _M:
    """An instance of ``cls`` holding ``values`` and fresh defaults, unvalidated (``_builder``)."""
    return (_BUILDERS.get(cls) or _builder(cls))(values)


class ConversationStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    #: set aside until a time; reopens then, or when the customer writes
    SNOOZED = "snoozed"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Conversation(BaseModel):
    """A thread of messages on one channel and account, with its triage state and rollups.

    Triage state (status, assignee, queue, priority, tags) is owned by people and rules;
    rollups (counts, times, participants, sentiment) are owned by the ingest flow.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    channel: str
    account: str = "default"
    subject: str | None = None
    snippet: str = ""
    participants: list[str] = Field(default_factory=list)
    status: ConversationStatus = ConversationStatus.OPEN
    assignee: str | None = None
    queue: str | None = None
    priority: Priority = Priority.NORMAL
    tags: list[str] = Field(default_factory=list)
    first_message_at: datetime | None = None
    last_message_at: datetime | None = None
    last_inbound_at: datetime | None = None
    message_count: int = 0
    inbound_count: int = 0
    #: over inbound messages whose sentiment is known; ``None`` when none is (not neutral)
    sentiment_avg: float | None = None
    sentiment_min: float | None = None
    sentiment_last: float | None = None
    languages: list[str] = Field(default_factory=list)
    #: the version of the routing row (``crm.routing``) whose triage this document shows (0: none
    #: yet); the knowledge base never writes an older one over it
    triage_version: int = 0


#: raw payloads kept in a dead letter are cut to at most this many characters (a note says so)
DEAD_LETTER_RAW_CHARS = 256 * 1024
#: reasons too: an exception message can quote its whole input (8 MB from one line was seen)
DEAD_LETTER_REASON_CHARS = 4 * 1024


def _cut(text: str, limit: int, separator: str) -> str:
    """``text`` if it fits in ``limit`` characters, else its start and a note of its length.

    The note counts towards the limit, so a cut text fits and passes through unchanged when a
    stored dead letter is validated again (read back from the store), keeping the true length.
    """
    if len(text) <= limit:
        return text
    note = f"{separator}[... cut: {len(text)} characters in all]"
    return text[: limit - len(note)] + note


class DeadLetter(BaseModel):
    """Input that could not be processed, kept with its raw payload and the reason.

    ``raw`` longer than ``DEAD_LETTER_RAW_CHARS`` and ``reason`` longer than
    ``DEAD_LETTER_REASON_CHARS`` are cut to that size, ending in a note of the original length.
    The id derives from the cut values, so it can be derived again from what is stored, and the
    same input failing the same way again gets the same id.
    """

    model_config = ConfigDict(frozen=True)

    id: str = ""
    stage: str
    reason: str
    raw: str
    channel: str | None = None
    kind: str | None = None
    raw_ref: str | None = None
    created_at: datetime = Field(default_factory=utcnow)

    @field_validator("raw")
    @classmethod
    def _cap_raw(cls, raw: str) -> str:
        return _cut(raw, DEAD_LETTER_RAW_CHARS, "\n")

    @field_validator("reason")
    @classmethod
    def _cap_reason(cls, reason: str) -> str:
        return _cut(reason, DEAD_LETTER_REASON_CHARS, " ")

    @model_validator(mode="after")
    def _derive_id(self) -> DeadLetter:
        # The same bad input failing for the same reason is one dead letter, not one per replay.
        # Field validators ran first: this hashes the cut reason, never megabytes of it.
        if not self.id:
            object.__setattr__(
                self,
                "id",
                _digest("dl", self.stage, self.raw_ref or "", self.reason, self.raw[:4096]),
            )
        return self


class Reply(BaseModel):
    """An agent's answer to a conversation, to be sent through the channel the customer used.

    ``id`` is the idempotency key: sending the same reply twice delivers it once.
    ``in_reply_to`` is the message being answered (its native id threads the reply).
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    conversation_id: str
    channel: str
    account: str = "default"
    in_reply_to: Message | None = None
    to: list[Identity] = Field(default_factory=list)
    subject: str | None = None
    text: str
    html: str | None = None
    author: str | None = None
    #: a private message (a DM, True) or a public reply (False) where the channel has both;
    #: None: the channel's usual way for the answered message (a DM answers a DM)
    private: bool | None = None
    #: attachment metadata the agent named (sent where the channel's replier supports it)
    attachments: list[Attachment] = Field(default_factory=list)


class Delivery(BaseModel):
    """What became of a reply: the channel's native id on success, the error otherwise."""

    model_config = ConfigDict(frozen=True)

    reply_id: str
    status: Literal["sent", "failed", "retrying"]
    native_id: str | None = None
    sent_at: datetime | None = None
    error: str | None = None
    #: the outbound message as the hub records it (so the customer's answer threads back)
    message: Message | None = None
