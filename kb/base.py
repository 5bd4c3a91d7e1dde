"""The ``KnowledgeBase`` protocol and the value types every backend speaks.

A backend stores two kinds of documents: messages (``hub.models.Message``, with their
enrichment and ``conversation_id``) and conversations (``hub.models.Conversation``, triage
state plus rollups). Upserts are idempotent by id, so at-least-once replays write nothing
twice; ``upsert_messages`` reports which ids were new so callers roll conversations up once.

Beside the protocol: what a search means is stated once in ``kb.search_rules`` (which filters
apply where, the default sort, subject matches, highlights), and the conversation rules
(roll-ups, reopening, folding, triage carry-over) in ``kb.conversations``; every backend
follows both, and ``tests/kb/test_behaviour.py`` runs the same suite against each.

A stored document that no longer validates (written by an older Parley, or damaged) never
stops a read over many documents: searches, ``conversation_messages`` and the ``iter_*``
methods leave it out, log it and report it (:class:`UnreadableDocument`: in
``SearchResult.unreadable``, or to the ``on_unreadable`` callback of an iteration). A read by
id (``get_*``) raises the validation error: asked for by name, a document that cannot be read
is an error, not an absence.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

from hub.models import Conversation, Message

__all__ = [
    "AtomicSettle",
    "DateHistogramBucket",
    "FacetBucket",
    "Hit",
    "KnowledgeBase",
    "OnUnreadable",
    "SearchFilters",
    "SearchRequest",
    "SearchResult",
    "UnreadableDocument",
    "UpsertResult",
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
    tags, entities, hashtags, mentions, status, assignee, queue; each is computed once, however
    often it is named); ``histogram`` asks for a date
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
    #: count matches exactly up to this many; past it ``total`` is this limit and
    #: ``total_relation`` is "gte" (Elasticsearch's ``track_total_hits``). None (the default)
    #: counts them all; the API asks for a limit (``api.routes.search.TOTAL_LIMIT``).
    total_limit: int | None = None


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
class UnreadableDocument:
    """A stored document a read left out because it no longer validates."""

    kind: Literal["message", "conversation"]
    id: str
    #: what is wrong with it (the first validation error), without the stored values
    reason: str


#: called with every document a read over many documents left out (the default logs it)
OnUnreadable = Callable[[UnreadableDocument], None]


@dataclass(frozen=True)
class SearchResult(Generic[DocT]):
    """One page of a search. ``total`` counts matches as stored; a hit whose document no
    longer validates is left out of ``hits`` (which may then hold fewer than the limit) and
    its id listed in ``unreadable``.

    ``total_relation`` says what ``total`` is: "eq" an exact count, "gte" a lower bound (the
    request's ``total_limit`` was reached and counting stopped there). The hits themselves
    and every document shown are exact either way; histograms count every match, and so do
    facets unless ``facets_window`` is set.

    ``relevance_window``, when set, says a relevance search matched so many messages that it
    ranked only that many of them, the most recently indexed (the embedded backend; a word in
    most messages scores alike everywhere). Pages then end with the window; sorting by
    newest or oldest reaches every match.

    ``facets_window``, when set, says the search matched more messages than that and its
    facets counted only that many, the most recently indexed (the embedded backend, facets
    without a histogram): shares of a broad match, not its totals.
    """

    total: int
    hits: list[Hit[DocT]]
    facets: dict[str, list[FacetBucket]] = field(default_factory=dict)
    histogram: list[DateHistogramBucket] = field(default_factory=list)
    next_cursor: str | None = None
    unreadable: list[str] = field(default_factory=list)
    total_relation: Literal["eq", "gte"] = "eq"
    relevance_window: int | None = None
    facets_window: int | None = None


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
        """Change triage state (``kb.conversations.TRIAGE_FIELDS``); None if missing.

        ``changes`` may name ``triage_version``, the routing row version it projects: then it
        is written only when the document shows no newer one (``kb.conversations.apply_triage``;
        the stored document is returned when refused). Atomic against concurrent
        ``save_rollups`` and ``update_conversation``: neither loses the other's fields, and the
        version check and the write are one step."""
        ...

    def save_rollups(
        self,
        conversations: Sequence[Conversation],
        *,
        reopen: Collection[str] = (),
        triage: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Write only the flow-owned derived fields of each conversation, and the ``triage``
        fields given for some of them (conversation id -> ``kb.conversations.TRIAGE_FIELDS``
        values: what the routing table decided, written in the same atomic write).

        Those are ``kb.conversations.ROLLUP_FIELDS`` (subject, snippet, participants, first/last/last
        inbound message times, message_count, inbound_count, sentiment_avg/min/last,
        languages), plus channel and account when the document is created. A missing document
        is created with default triage state. Status, assignee, queue, priority and tags of an
        existing document are never changed, except that a pending or resolved conversation
        becomes open when a customer wrote again: its id is in ``reopen``, or the rollup's
        ``last_inbound_at`` is newer than the stored one (``kb.conversations.merge_rollup``).
        Atomic against concurrent ``update_conversation`` calls from another thread or process:
        an agent's triage change is never overwritten by a rollup computed before it (the
        ``triage`` given is the caller's decision, written as ``update_conversation`` would,
        versioned or not).
        The merge is ``kb.conversations.merge_rollup``.
        """
        ...

    def search_messages(self, request: SearchRequest) -> SearchResult[Message]: ...

    def search_conversations(self, request: SearchRequest) -> SearchResult[Conversation]:
        """Conversations whose messages match ``request.query`` (or all); which filters apply
        to the messages and which to the conversation is ``kb.search_rules``."""
        ...

    def iter_messages(
        self, batch_size: int = 1000, on_unreadable: OnUnreadable | None = None
    ) -> Iterator[Message]:
        """Every message, in an order stable across calls; unreadable ones are reported to
        ``on_unreadable`` (default: logged) and skipped."""
        ...

    def iter_conversations(
        self, batch_size: int = 1000, on_unreadable: OnUnreadable | None = None
    ) -> Iterator[Conversation]:
        """Every conversation, like :meth:`iter_messages`."""
        ...

    def refresh(self) -> None:
        """Make every write so far visible to searches and counts (a no-op where they already are)."""
        ...

    def count_messages(self) -> int:
        """Messages stored (a search engine counts what it has refreshed: see :meth:`refresh`)."""
        ...

    def count_conversations(self) -> int:
        """Conversations stored, like :meth:`count_messages`."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class AtomicSettle(Protocol):
    """A knowledge base that settles conversations in one atomic write (the embedded SQLite
    one: its writers are serialised). ``kb.conversations.ConversationKeeper`` uses it when
    the backend has it; otherwise it reads, saves and reads again until the two agree."""

    def settle_conversations(
        self,
        conversation_ids: Sequence[str],
        *,
        reopen: Collection[str] = (),
        triage: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[str]:
        """Roll up each conversation from its stored messages (``kb.conversations.roll_up``,
        the first ``ROLLUP_MESSAGE_LIMIT``) and merge it into its document as ``save_rollups``
        does, ``triage`` included; delete the document of one with no messages left. One
        transaction: no writer changes the messages between the read and the write. Returns
        the ids whose roll-ups are saved (written or already current), sorted."""
        ...
