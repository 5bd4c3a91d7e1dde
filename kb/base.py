"""The ``KnowledgeBase`` protocol and the value types every backend speaks.

A backend stores two kinds of documents: messages (``hub.models.Message``, with their
enrichment and ``conversation_id``) and conversations (``hub.models.Conversation``, triage
state plus rollups). Upserts are idempotent by id, so at-least-once replays write nothing
twice; ``upsert_messages`` reports which ids were new so callers roll conversations up once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

from hub.models import Conversation, ConversationStatus, Message

__all__ = [
    "ROLLUP_FIELDS",
    "TRIAGE_FIELDS",
    "DateHistogramBucket",
    "FacetBucket",
    "Hit",
    "KnowledgeBase",
    "SearchFilters",
    "SearchRequest",
    "SearchResult",
    "UpsertResult",
    "check_triage_changes",
    "merge_rollup",
]

DocT = TypeVar("DocT", Message, Conversation)


@dataclass(frozen=True)
class SearchFilters:
    """Exact-match filters ANDed with the query. ``None`` means "any".

    ``since`` (inclusive) and ``until`` (exclusive) without a timezone are UTC, as every
    stored time is: never the server's local time.
    """

    channels: Sequence[str] | None = None
    accounts: Sequence[str] | None = None
    statuses: Sequence[str] | None = None
    languages: Sequence[str] | None = None
    sentiment_labels: Sequence[str] | None = None
    intents: Sequence[str] | None = None
    tags: Sequence[str] | None = None
    assignees: Sequence[str] | None = None
    queues: Sequence[str] | None = None
    author_ids: Sequence[str] | None = None
    conversation_ids: Sequence[str] | None = None
    direction: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                object.__setattr__(self, name, moment.replace(tzinfo=UTC))  # frozen: set once, here


@dataclass(frozen=True)
class SearchRequest:
    """One search: ``query`` in the KB query language (``kb.query``), empty for "all".

    Paging is by ``offset`` or, for deep pages, by the opaque ``cursor`` a previous result
    returned. ``facets`` names fields to count (channel, language, sentiment_label, intent,
    tags, entities, hashtags, mentions, status, assignee, queue); ``histogram`` asks for a date
    histogram of ``created_at`` (messages) / ``last_message_at`` (conversations) at that interval.
    """

    query: str = ""
    filters: SearchFilters = field(default_factory=SearchFilters)
    limit: int = 20
    offset: int = 0
    cursor: str | None = None
    sort: Literal["relevance", "newest", "oldest"] = "relevance"
    facets: Sequence[str] = ()
    histogram: Literal["hour", "day", "week", "month"] | None = None
    highlight: bool = True


@dataclass(frozen=True)
class Hit(Generic[DocT]):
    id: str
    score: float
    document: DocT
    #: field -> fragments with matches wrapped in <mark>...</mark>
    highlights: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class FacetBucket:
    value: str
    count: int


@dataclass(frozen=True)
class DateHistogramBucket:
    start: datetime
    count: int


@dataclass(frozen=True)
class SearchResult(Generic[DocT]):
    total: int
    hits: list[Hit[DocT]]
    facets: dict[str, list[FacetBucket]] = field(default_factory=dict)
    histogram: list[DateHistogramBucket] = field(default_factory=list)
    next_cursor: str | None = None


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert did: ids it created, ids whose content changed, ids already identical."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: id -> error, for documents the backend refused (the rest were written)
    errors: dict[str, str] = field(default_factory=dict)


class KnowledgeBase(Protocol):
    """Searchable store of message and conversation documents."""

    def upsert_messages(self, messages: Sequence[Message]) -> UpsertResult: ...

    def upsert_conversations(self, conversations: Sequence[Conversation]) -> UpsertResult: ...

    def get_message(self, message_id: str) -> Message | None: ...

    def get_messages(self, message_ids: Sequence[str]) -> dict[str, Message]: ...

    def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    def get_conversations(self, conversation_ids: Sequence[str]) -> dict[str, Conversation]: ...

    def conversation_messages(self, conversation_id: str, limit: int = 500) -> list[Message]:
        """The conversation's messages, oldest first."""
        ...

    def delete_conversations(self, conversation_ids: Sequence[str]) -> int:
        """Remove conversation documents (not their messages); returns how many existed."""
        ...

    def update_conversation(self, conversation_id: str, changes: dict[str, Any]) -> Conversation | None:
        """Change triage state (status, assignee, queue, priority, tags); None if missing.

        Atomic against concurrent ``save_rollups``: neither loses the other's fields."""
        ...

    def save_rollups(self, conversations: Sequence[Conversation], *, reopen: Collection[str] = ()) -> None:
        """Write only the flow-owned derived fields of each conversation.

        Those are :data:`ROLLUP_FIELDS` (subject, snippet, participants, first/last/last
        inbound message times, message_count, inbound_count, sentiment_avg/min/last,
        languages), plus channel and account when the document is created. A missing document
        is created with default triage state. Status, assignee, queue, priority and tags of an
        existing document are never changed, except that a pending or resolved conversation
        becomes open when a customer wrote again: its id is in ``reopen``, or the rollup's
        ``last_inbound_at`` is newer than the stored one (see :func:`merge_rollup`). Atomic against concurrent
        ``update_conversation`` calls from another thread or process: an agent's triage change
        is never overwritten by a rollup computed before it.
        """
        ...

    def search_messages(self, request: SearchRequest) -> SearchResult[Message]: ...

    def search_conversations(self, request: SearchRequest) -> SearchResult[Conversation]:
        """Conversations whose messages match ``request.query`` (or all), with filters on
        conversation fields (channel, status, assignee, queue, tags)."""
        ...

    def iter_messages(self, batch_size: int = 1000) -> Iterator[Message]: ...

    def iter_conversations(self, batch_size: int = 1000) -> Iterator[Conversation]: ...

    def count_messages(self) -> int: ...

    def count_conversations(self) -> int: ...

    def close(self) -> None: ...


#: the conversation fields the ingest flow derives from messages (``save_rollups`` writes these)
ROLLUP_FIELDS = (
    "subject",
    "snippet",
    "participants",
    "first_message_at",
    "last_message_at",
    "last_inbound_at",
    "message_count",
    "inbound_count",
    "sentiment_avg",
    "sentiment_min",
    "sentiment_last",
    "languages",
)
#: the conversation fields people and rules own (``update_conversation`` changes only these)
TRIAGE_FIELDS = frozenset({"status", "assignee", "queue", "priority", "tags"})
_REOPENABLE = frozenset({ConversationStatus.PENDING, ConversationStatus.RESOLVED})


def check_triage_changes(changes: dict[str, Any]) -> None:
    """``ValueError`` unless ``changes`` names only :data:`TRIAGE_FIELDS`."""
    unknown = set(changes) - TRIAGE_FIELDS
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}; triage fields are {sorted(TRIAGE_FIELDS)}")


def _utc(moment: datetime | None) -> datetime | None:
    # stored conversations may hold naive times (UTC by convention); aware and naive never compare
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _new_inbound(stored: Conversation, rollup: Conversation) -> bool:
    """Whether ``rollup`` counts an inbound message ``stored`` has not seen yet."""
    before, after = _utc(stored.last_inbound_at), _utc(rollup.last_inbound_at)
    return after is not None and (before is None or after > before)


def merge_rollup(stored: Conversation | None, rollup: Conversation, *, reopen: bool) -> Conversation:
    """``stored`` with ``rollup``'s derived fields (see ``KnowledgeBase.save_rollups``).

    A pending or resolved conversation reopens when the caller says a customer wrote again
    (``reopen``) or when the rollup's ``last_inbound_at`` is newer than the stored one. The
    second rule makes a replay after a crash reopen too: the replayed messages are already
    stored, so the caller sees none of them "created", but the rollup that was never saved
    still carries the newer inbound time. Pure, so every backend applies the same rule
    inside its own atomic write.
    """
    derived = {name: getattr(rollup, name) for name in ROLLUP_FIELDS}
    if stored is None:
        return Conversation(id=rollup.id, channel=rollup.channel, account=rollup.account, **derived)
    if stored.status in _REOPENABLE and (reopen or _new_inbound(stored, rollup)):
        derived["status"] = ConversationStatus.OPEN
    return stored.model_copy(update=derived)
