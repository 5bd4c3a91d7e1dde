"""Conversation rules: roll-ups, reopening, folding threads, and carrying triage over.

A conversation document has two owners. The ingest flow derives :data:`ROLLUP_FIELDS` from
the conversation's messages (:func:`roll_up`); people and routing rules own
:data:`TRIAGE_FIELDS`. Backends merge a roll-up into the stored document with
:func:`merge_rollup` inside their own atomic write, so neither owner loses the other's fields,
and a pending or resolved conversation reopens when a customer writes again.

:class:`ConversationKeeper` applies a batch of threaded messages to a knowledge base: it
writes them, moves the documents of folded conversations into the ones they joined (which
conversations fold is decided elsewhere, by the relational store's thread tables), carries
what people decided about a folded conversation over (:func:`carried_triage`; with routing on
the routing table does that instead, and its projection is versioned: :func:`apply_triage`),
and *settles* every conversation that gained or lost a message: its roll-up is saved, or its
document deleted when no message is left (in one write where the backend can:
:class:`kb.base.AtomicSettle`). Every step is recomputed from what is stored, so applying a
batch again (at-least-once delivery, crash replays) changes nothing more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from hub.backoff import retry
from hub.errors import RetriableError
from hub.models import Conversation, ConversationStatus, Direction, Message, Priority
from kb.base import AtomicSettle, KnowledgeBase, UpsertResult

__all__ = [
    "ROLLUP_FIELDS",
    "TRIAGE_FIELDS",
    "TRIAGE_VERSION",
    "AppliedBatch",
    "ConversationKeeper",
    "TriageHook",
    "Triaged",
    "apply_triage",
    "carried_triage",
    "check_triage_changes",
    "merge_rollup",
    "project_triage",
    "roll_up",
]

T = TypeVar("T")

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
#: the key of a triage change that names the routing row version it projects (see apply_triage)
TRIAGE_VERSION = "triage_version"
_REOPENABLE = frozenset({ConversationStatus.PENDING, ConversationStatus.RESOLVED, ConversationStatus.SNOOZED})
_PRIORITY_ORDER = list(Priority)
SNIPPET_CHARS = 200
#: messages read per conversation to roll it up, and per round when folding one into another
ROLLUP_MESSAGE_LIMIT = 5000
#: times a conversation is rolled up again because its messages changed while it was settled
SETTLE_ROUNDS = 8


def check_triage_changes(changes: Mapping[str, Any]) -> None:
    """``ValueError`` unless ``changes`` names only :data:`TRIAGE_FIELDS` (and :data:`TRIAGE_VERSION`)."""
    unknown = set(changes) - TRIAGE_FIELDS - {TRIAGE_VERSION}
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}; triage fields are {sorted(TRIAGE_FIELDS)}")
    version = changes.get(TRIAGE_VERSION)
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 0):
        raise ValueError(f"{TRIAGE_VERSION} is a whole number from 0, not {version!r}")


def apply_triage(stored: Conversation, changes: Mapping[str, Any], *, validate: bool = False) -> Conversation:
    """``stored`` with the triage ``changes`` written over it: what every backend's triage
    write does inside its own atomic read-modify-write (``update_conversation``,
    ``save_rollups(triage=...)``).

    A change naming :data:`TRIAGE_VERSION` is a projection of that version of the routing row
    (``crm.routing.RoutingState.triage``): it is written, version included, unless ``stored``
    shows a newer one, in which case ``stored`` is returned as it is. Projections are written
    after their transactions commit, by whichever process made the change, so they can land
    in any order; refusing to go back makes the document end at the newest version written,
    which is the newest committed, since every committed change is projected by its writer
    (docs/architecture.md, "Atomic across processes"). A change without a version (a
    knowledge base used without the routing table) is written and keeps the stored version.
    ``validate``: build the result through the model's validation (a caller's values) rather
    than converting the known fields (values the routing table holds). ``ValueError`` for a
    field that is not triage or a value that does not fit.
    """
    check_triage_changes(changes)
    version = changes.get(TRIAGE_VERSION)
    if version is not None and version < stored.triage_version:
        return stored
    if validate:
        return Conversation.model_validate({**stored.model_dump(), **changes})
    values = dict(changes)
    # what validation would do to these fields, without re-validating the whole document
    if "status" in values:
        values["status"] = ConversationStatus(values["status"])
    if "priority" in values:
        values["priority"] = Priority(values["priority"])
    if "tags" in values:
        values["tags"] = [str(tag) for tag in values["tags"]]
    return stored.model_copy(update=values)


def _subject(messages: Sequence[Message]) -> str | None:
    for message in messages:
        if message.subject:
            return message.subject
    first_line = messages[0].text.strip().splitlines()[0] if messages[0].text.strip() else ""
    return first_line[:80] or None


def roll_up(conversation_id: str, messages: Sequence[Message]) -> Conversation:
    """The derived fields of a conversation from all its messages (triage state at defaults).

    Recomputed from every message, so it is idempotent: a replayed batch yields the same
    roll-up. The knowledge base merges it into the stored document (:func:`merge_rollup`).
    """
    ordered = sorted(messages, key=lambda m: (m.created_at, m.id))
    if not ordered:
        raise ValueError(f"conversation {conversation_id} has no messages to roll up")
    inbound = [m for m in ordered if m.direction == Direction.IN]
    participants: list[str] = []
    languages: list[str] = []
    for message in ordered:
        if message.author is not None and message.author.id not in participants:
            participants.append(message.author.id)
        if message.language and message.language != "und" and message.language not in languages:
            languages.append(message.language)
    # Unknown sentiment (a language without a model) is left out, not counted as neutral.
    scored = [s for m in inbound if m.enrichment.done and (s := m.enrichment.sentiment) is not None]
    latest = ordered[-1]
    snippet_source = inbound[-1] if inbound else latest
    return Conversation(
        id=conversation_id,
        channel=latest.channel,
        account=latest.account,
        subject=_subject(ordered),
        snippet=" ".join(snippet_source.text.split())[:SNIPPET_CHARS],
        participants=participants,
        first_message_at=ordered[0].created_at,
        last_message_at=latest.created_at,
        last_inbound_at=inbound[-1].created_at if inbound else None,
        message_count=len(ordered),
        inbound_count=len(inbound),
        sentiment_avg=round(sum(scored) / len(scored), 4) if scored else None,
        sentiment_min=min(scored) if scored else None,
        sentiment_last=scored[-1] if scored else None,
        languages=languages,
    )


def _utc(moment: datetime | None) -> datetime | None:
    # stored conversations may hold naive times (UTC by convention); aware and naive never compare
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _new_inbound(stored: Conversation, rollup: Conversation) -> bool:
    """Whether ``rollup`` counts an inbound message ``stored`` has not seen yet."""
    before, after = _utc(stored.last_inbound_at), _utc(rollup.last_inbound_at)
    return after is not None and (before is None or after > before)


def merge_rollup(
    stored: Conversation | None,
    rollup: Conversation,
    *,
    reopen: bool,
    triage: Mapping[str, Any] | None = None,
) -> Conversation:
    """``stored`` with ``rollup``'s derived fields (see ``KnowledgeBase.save_rollups``), and
    ``triage`` (:data:`TRIAGE_FIELDS`, and :data:`TRIAGE_VERSION`) over them when given: the
    triage the relational store decided for this conversation, written with its roll-up rather
    than after it, by :func:`apply_triage` (so never over a newer version).

    A pending, resolved or snoozed conversation reopens when the caller says a customer wrote again
    (``reopen``) or when the rollup's ``last_inbound_at`` is newer than the stored one. The
    second rule makes a replay after a crash reopen too: the replayed messages are already
    stored, so the caller sees none of them "created", but the rollup that was never saved
    still carries the newer inbound time. Neither rule applies when ``triage`` is a routing
    projection (it names :data:`TRIAGE_VERSION`): the routing table decided the status, reopening
    included, and a projection refused as older than the document's must not reopen a
    conversation the newer one resolved. Pure, so every backend applies the same rule inside
    its own atomic write.
    """
    derived = {name: getattr(rollup, name) for name in ROLLUP_FIELDS}
    if stored is None:
        merged = Conversation(id=rollup.id, channel=rollup.channel, account=rollup.account, **derived)
    else:
        routed = triage is not None and triage.get(TRIAGE_VERSION) is not None
        if not routed and stored.status in _REOPENABLE and (reopen or _new_inbound(stored, rollup)):
            derived["status"] = ConversationStatus.OPEN
        merged = stored.model_copy(update=derived)
    if not triage:
        return merged
    return apply_triage(merged, triage)


def carried_triage(folded: Conversation, target: Conversation) -> dict[str, Any]:
    """The triage changes that keep what people decided about ``folded`` once it joins ``target``.

    An assignee or queue fills an empty one, tags are united, the higher priority wins; what
    ``target`` already has is never overwritten.
    """
    changes: dict[str, Any] = {}
    if folded.assignee and not target.assignee:
        changes["assignee"] = folded.assignee
    if folded.queue and not target.queue:
        changes["queue"] = folded.queue
    if set(folded.tags) - set(target.tags):
        changes["tags"] = sorted(set(target.tags) | set(folded.tags))
    if _PRIORITY_ORDER.index(folded.priority) > _PRIORITY_ORDER.index(target.priority):
        changes["priority"] = folded.priority
    return changes


class Triaged(Protocol):
    """A conversation's triage as another store decides it (``crm.routing.RoutingState``)."""

    @property
    def conversation_id(self) -> str: ...

    def triage(self) -> dict[str, Any]:
        """The document's :data:`TRIAGE_FIELDS` as that store has them."""
        ...


#: called by :meth:`ConversationKeeper.apply` once messages are written and folds moved, before
#: the other conversations are settled: (ids of messages new here, ids of the conversations the
#: batch settles) -> conversation id -> triage to write with the roll-up
TriageHook = Callable[[Sequence[str], Sequence[str]], Mapping[str, Mapping[str, Any]]]


def project_triage(kb: KnowledgeBase, states: Iterable[Triaged], *, attempts: int = 1) -> list[str]:
    """Write each state's triage into its conversation document, the searchable projection.

    One read for all; only documents that show other triage (or another version) are written,
    and a document showing a newer version is left as it is (:func:`apply_triage`, inside the
    backend's write); a document that does not exist (a folded conversation's) is skipped.
    Each call that fails with ``RetriableError`` is retried with the hub's backoff,
    ``attempts`` times in all. Returns the ids written."""
    wanted = {state.conversation_id: state.triage() for state in states}
    if not wanted:
        return []
    docs = retry("kb read", partial(kb.get_conversations, sorted(wanted)), attempts=attempts)
    written = []
    for cid, doc in sorted(docs.items()):
        triage = wanted[cid]
        if {name: getattr(doc, name) for name in triage} == triage:
            continue
        retry("kb triage projection", partial(kb.update_conversation, cid, triage), attempts=attempts)
        written.append(cid)
    return written


@dataclass(frozen=True)
class AppliedBatch:
    """What :meth:`ConversationKeeper.apply` did with one batch of messages."""

    #: the message upsert; ``errors`` names the documents the knowledge base refused
    written: UpsertResult
    #: conversations folded away: source id -> the conversation it joined
    folded: dict[str, str] = field(default_factory=dict)
    #: conversations whose roll-ups were saved
    rolled_up: list[str] = field(default_factory=list)
    #: conversations asked to reopen because a new inbound message arrived
    reopened: set[str] = field(default_factory=set)
    #: conversations whose documents were saved with the triage the hook gave (or showed it)
    projected: set[str] = field(default_factory=set)


class ConversationKeeper:
    """Keeps a knowledge base's conversations whole and current as threaded messages arrive.

    Idempotent per batch (see the module docstring). Every knowledge-base call that fails with
    ``RetriableError`` is retried with the hub's backoff, ``attempts`` times in all, before the
    error is raised.

    Several processes may keep the same knowledge base at once. A roll-up computed from
    messages another process changed before it was saved would be stale, so every settled
    conversation is read again after its save and settled again until the two agree: the last
    process to touch a conversation always leaves it matching its messages. A backend that
    settles in one atomic write (:class:`kb.base.AtomicSettle`) needs no second read.

    ``carry_triage``: whether a fold carries the folded document's triage into its target's
    (:func:`carried_triage`). False when the relational store's routing table owns triage: it
    carries a fold's triage over itself (``crm.routing``) and the caller projects the target's
    row; a copy taken from the folded *document* could be older than the table (a projection
    not yet written) and would be written without a version, over a newer one.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        attempts: int = 1,
        sleep: Callable[[float], None] = time.sleep,
        carry_triage: bool = True,
    ) -> None:
        self._kb = kb
        self._attempts = attempts
        self._sleep = sleep
        self._carry = carry_triage

    @property
    def kb(self) -> KnowledgeBase:
        """The knowledge base this keeper writes."""
        return self._kb

    def _retry(self, what: str, call: Callable[[], T]) -> T:
        return retry(what, call, attempts=self._attempts, sleep=self._sleep)

    def read_messages(self, message_ids: Sequence[str]) -> dict[str, Message]:
        """The stored messages among ``message_ids`` (retried like every call)."""
        return self._retry("kb read", partial(self._kb.get_messages, message_ids))

    def apply(
        self,
        messages: Sequence[Message],
        folds: Mapping[str, str] | None = None,
        triage: TriageHook | None = None,
    ) -> AppliedBatch:
        """Write ``messages`` (their conversations already decided), fold ``folds`` (source ->
        target conversation), settle every conversation that gained or lost a message.

        A conversation reopens when one of its inbound messages is new here. ``triage`` (the
        flow's routing) runs after the messages are written and the folds moved, before the
        other conversations are settled; the triage it returns is written in their roll-up
        writes (one write, not two). Triage for conversations this settle does not write (the
        folds' targets, settled with the fold; others) is the caller's to project: ids not in
        ``projected``.
        """
        batch = list(messages)
        folds = dict(folds or {})
        ids = [m.id for m in batch]
        previous = self._retry("kb read", lambda: self._kb.get_messages(ids))
        written = self._retry("kb upsert", lambda: self._kb.upsert_messages(batch))
        created = set(written.created)
        reopen = {
            folds.get(m.conversation_id, m.conversation_id)
            for m in batch
            if m.conversation_id and m.id in created and m.direction == Direction.IN
        }
        # a message that changed conversation (an edit, a replay after a fold) left the old one
        touched = {m.conversation_id for m in [*batch, *previous.values()] if m.conversation_id}
        rolled_up = self.fold(folds, reopen)
        rest = sorted(touched - set(folds) - set(folds.values()))
        decided: dict[str, Mapping[str, Any]] = {}
        if triage is not None:
            decided = dict(triage(written.created, sorted({*rest, *folds.values()} - set(folds))))
        settled = set(rest)
        saved = self.settle(rest, reopen, {cid: t for cid, t in decided.items() if cid in settled})
        projected = set(decided) & set(saved)
        return AppliedBatch(written, folds, sorted({*rolled_up, *saved}), reopen, projected)

    def fold(self, folds: Mapping[str, str], reopen: Collection[str] = ()) -> list[str]:
        """Move every message of each source conversation into its target, carry the source's
        triage state over (unless the keeper leaves that to the routing table), and remove the
        emptied source documents.

        Crash-safe in this order: a repeat finds the messages moved, carries again (a no-op)
        and removes what is left. Returns the targets whose roll-ups were saved.
        """
        if not folds:
            return []
        sources = sorted(folds)
        before = self._retry("kb read", lambda: self._kb.get_conversations(sources)) if self._carry else {}
        for source in sources:
            self._move_messages(source, folds[source])
        targets = self.settle(sorted(set(folds.values()) - set(folds)), reopen)  # creates missing ones
        for source, conversation in before.items():
            self._carry_triage(conversation, folds[source])
        self.settle(sources)
        return targets

    def settle(
        self,
        conversation_ids: Sequence[str],
        reopen: Collection[str] = (),
        triage: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[str]:
        """Save the roll-up of each conversation from its stored messages, or delete its
        document when it has none; repeat for any whose messages changed meanwhile.
        ``triage`` (conversation id -> triage fields) is written with the roll-ups.

        Returns the ids whose roll-ups are saved. ``RetriableError`` if they keep changing.
        A backend that settles atomically (:class:`kb.base.AtomicSettle`) does it all in one
        write instead.
        """
        pending = list(dict.fromkeys(conversation_ids))
        if isinstance(self._kb, AtomicSettle):
            settle = partial(self._kb.settle_conversations, pending, reopen=reopen, triage=triage or {})
            return self._retry("kb conversations settle", settle)
        saved: set[str] = set()
        for _ in range(SETTLE_ROUNDS):
            rollups = self._roll_up(pending)
            saved.update(cid for cid, r in rollups.items() if r is not None)
            saved.difference_update(cid for cid, r in rollups.items() if r is None)
            changed = self._save(rollups, reopen, triage or {})
            # Only a write can have overwritten a newer roll-up; a conversation left as it was
            # is settled by whoever changes its messages next.
            now = self._roll_up(changed)
            pending = [cid for cid in changed if now[cid] != rollups[cid]]
            if not pending:
                return sorted(saved)
        raise RetriableError(f"conversations kept changing while being rolled up: {pending[:5]}")

    def _save(
        self,
        rollups: Mapping[str, Conversation | None],
        reopen: Collection[str],
        triage: Mapping[str, Mapping[str, Any]],
    ) -> list[str]:
        """Write the roll-ups (with their ``triage``) that change their stored documents, delete
        the documents of conversations with no messages; returns the ids written or deleted."""
        ids = sorted(rollups)
        stored = self._retry("kb read", lambda: self._kb.get_conversations(ids))
        rolled = [
            r
            for cid, r in rollups.items()
            if r is not None
            and (
                cid not in stored
                or merge_rollup(stored[cid], r, reopen=cid in reopen, triage=triage.get(cid)) != stored[cid]
            )
        ]
        empty = [cid for cid, r in rollups.items() if r is None and cid in stored]
        given = {r.id: triage[r.id] for r in rolled if r.id in triage}
        if rolled:
            # a backend (or a test's) save_rollups without the triage keyword still works unrouted
            extra: dict[str, Any] = {"triage": given} if given else {}
            self._retry(
                "kb conversations rollup", partial(self._kb.save_rollups, rolled, reopen=reopen, **extra)
            )
        if empty:
            self._retry("kb conversations delete", partial(self._kb.delete_conversations, empty))
        return [*(r.id for r in rolled), *empty]

    def _roll_up(self, conversation_ids: Sequence[str]) -> dict[str, Conversation | None]:
        rollups: dict[str, Conversation | None] = {}
        for cid in conversation_ids:
            messages = self._retry(
                "kb read", partial(self._kb.conversation_messages, cid, limit=ROLLUP_MESSAGE_LIMIT)
            )
            rollups[cid] = roll_up(cid, messages) if messages else None
        return rollups

    def _move_messages(self, source: str, into: str) -> None:
        previous: set[str] = set()
        while batch := self._retry(
            "kb read", partial(self._kb.conversation_messages, source, limit=ROLLUP_MESSAGE_LIMIT)
        ):
            ids = {m.id for m in batch}
            if ids == previous:  # the store did not take the move: stop rather than spin
                raise RetriableError(f"could not move messages of {source} into {into}")
            previous = ids
            moved = [m.model_copy(update={"conversation_id": into}) for m in batch]
            self._retry("kb thread merge", partial(self._kb.upsert_messages, moved))

    def _carry_triage(self, folded: Conversation, into: str) -> None:
        target = self._retry("kb read", partial(self._kb.get_conversation, into))
        changes = carried_triage(folded, target) if target is not None else {}
        if changes:
            self._retry("kb triage carry-over", lambda: self._kb.update_conversation(into, changes))
