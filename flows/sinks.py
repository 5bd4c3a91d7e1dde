"""The ingest flow's sinks: knowledge base, CRM and dead letters.

Each sink is a Bytewax ``DynamicSink`` whose partitions open their store on the worker that
runs them. All writes are idempotent by id, so the at-least-once replay that follows a crash
writes nothing twice. Retriable store errors are retried with backoff before the flow stops
(to be resumed from its recovery snapshots).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from flows.report import IngestReport
from hub.errors import RetriableError
from hub.models import Conversation, DeadLetter, Direction, Message, Priority, conversation_id_for
from hub.settings import Settings
from kb.base import KnowledgeBase
from kb.conversations import roll_up

__all__ = ["StoreSink", "crm_sink", "dead_letter_sink", "kb_sink"]

log = logging.getLogger("parley.flow")

T = TypeVar("T")
X = TypeVar("X")
PRIORITY_ORDER = list(Priority)
#: messages fetched per conversation to recompute its rollup
ROLLUP_MESSAGE_LIMIT = 5000
RETRIES = 5
#: the longest a sink waits on a store's Retry-After before trying again
MAX_RETRY_WAIT_S = 60.0


def with_retries(what: str, call: Callable[[], T]) -> T:
    """Run ``call``, retrying ``RetriableError`` with exponential backoff."""
    delay = 0.2
    for attempt in range(1, RETRIES + 1):
        try:
            return call()
        except RetriableError as exc:
            if attempt == RETRIES:
                raise
            wait = min(max(exc.retry_after or delay, 0.0), MAX_RETRY_WAIT_S)
            log.warning("%s failed (%s); retry %d/%d in %.1fs", what, exc, attempt, RETRIES, wait)
            time.sleep(wait)
            delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


class _KBPartition(StatelessSinkPartition[Message]):
    def __init__(self, settings: Settings, report: IngestReport | None) -> None:
        from crm import open_crm
        from kb import open_kb

        self._kb = open_kb(settings)
        self._crm = open_crm(settings)
        self._report = report

    def write_batch(self, items: list[Message]) -> None:
        result = with_retries("kb upsert", lambda: self._kb.upsert_messages(items))
        if result.errors:
            self._crm.add_dead_letters(refused_dead_letters(items, result.errors))
        created = set(result.created)
        reopen = {
            m.conversation_id
            for m in items
            if m.conversation_id and m.id in created and m.direction == Direction.IN
        }
        touched = {m.conversation_id for m in items if m.conversation_id}
        moves = thread_moves(self._kb, items)
        folded = self._kb.get_conversations(sorted(moves))
        for source, into in moves.items():
            self._move_conversation(source, into)
            touched.discard(source)
            touched.add(into)
        self._roll_up(sorted(touched), reopen)
        for source, conversation in folded.items():
            self._carry_triage(conversation, moves[source])
        if self._report is not None:
            self._report.created += len(result.created)
            self._report.updated += len(result.updated)
            self._report.duplicates += len(result.unchanged)

    def _move_conversation(self, source: str, into: str) -> None:
        previous: set[str] = set()
        while batch := self._kb.conversation_messages(source, limit=ROLLUP_MESSAGE_LIMIT):
            ids = {m.id for m in batch}
            if ids == previous:  # the store did not take the move: stop rather than spin
                raise RetriableError(f"could not move messages of {source} into {into}")
            previous = ids
            moved = [m.model_copy(update={"conversation_id": into}) for m in batch]
            with_retries("kb thread merge", partial(self._kb.upsert_messages, moved))
        self._kb.delete_conversations([source])

    def _carry_triage(self, folded: Conversation, into: str) -> None:
        """What people decided about a folded conversation survives the fold."""
        target = self._kb.get_conversation(into)
        if target is None:
            return
        changes: dict[str, object] = {}
        if folded.assignee and not target.assignee:
            changes["assignee"] = folded.assignee
        if folded.queue and not target.queue:
            changes["queue"] = folded.queue
        if set(folded.tags) - set(target.tags):
            changes["tags"] = sorted(set(target.tags) | set(folded.tags))
        if PRIORITY_ORDER.index(folded.priority) > PRIORITY_ORDER.index(target.priority):
            changes["priority"] = folded.priority
        if changes:
            self._kb.update_conversation(into, changes)

    def _roll_up(self, conversation_ids: list[str], reopen: set[str]) -> None:
        # Only the derived fields are computed here; the KB merges them into the stored
        # document atomically, so an agent's triage change made meanwhile is kept.
        rolled = []
        for conversation_id in conversation_ids:
            messages = self._kb.conversation_messages(conversation_id, limit=ROLLUP_MESSAGE_LIMIT)
            if messages:
                rolled.append(roll_up(conversation_id, messages))
        if rolled:
            with_retries("kb conversations rollup", lambda: self._kb.save_rollups(rolled, reopen=reopen))

    def close(self) -> None:
        self._kb.close()
        self._crm.close()


def refused_dead_letters(messages: list[Message], errors: dict[str, str]) -> list[DeadLetter]:
    """Dead letters for the documents the knowledge base refused."""
    by_id = {m.id: m for m in messages}
    letters = []
    for doc_id, error in errors.items():
        message = by_id.get(doc_id)
        letters.append(
            DeadLetter(
                stage="kb",
                reason=f"knowledge base refused the document: {error}",
                raw=message.model_dump_json() if message else doc_id,
                channel=message.channel if message else None,
                raw_ref=message.raw_ref if message else None,
            )
        )
    return letters


def thread_moves(kb: KnowledgeBase, messages: list[Message]) -> dict[str, str]:
    """Conversations to fold into others so every stored reply sits with its parent.

    Checked against what is stored, so threads converge whatever order messages arrive in and
    across crash replays. First, a message whose early replies were put in a conversation
    rooted at it (``conversation_id_for`` its own native id) pulls that conversation into its
    own. Then a reply whose parent is stored in another conversation (after those moves) moves
    to the parent's. Returns source conversation id -> final target, never a cycle.
    """
    moves: dict[str, str] = {}

    def final(conversation_id: str) -> str:
        while conversation_id in moves:
            conversation_id = moves[conversation_id]
        return conversation_id

    def fold(source: str, into: str) -> None:
        source, into = final(source), final(into)
        if source != into:
            moves[source] = into

    rooted_elsewhere = {
        conversation_id_for(m.channel, m.account, m.native_id): m.conversation_id
        for m in messages
        if m.conversation_id and m.conversation_id != conversation_id_for(m.channel, m.account, m.native_id)
    }
    for placeholder in kb.get_conversations(sorted(rooted_elsewhere)):
        fold(placeholder, str(rooted_elsewhere[placeholder]))

    replies = [m for m in messages if m.reply_to_id and m.conversation_id]
    parents = kb.get_messages(sorted({str(m.reply_to_id) for m in replies}))
    for message in replies:
        parent = parents.get(str(message.reply_to_id))
        if parent is not None and parent.conversation_id:
            fold(str(message.conversation_id), parent.conversation_id)
    return {source: final(source) for source in moves}


class _CRMPartition(StatelessSinkPartition[Message]):
    def __init__(self, settings: Settings, report: IngestReport | None = None) -> None:
        from crm import open_crm

        self._crm = open_crm(settings)

    def write_batch(self, items: list[Message]) -> None:
        with_retries("crm upsert", lambda: self._crm.upsert_from_messages(items))

    def close(self) -> None:
        self._crm.close()


class _DeadLetterPartition(StatelessSinkPartition[DeadLetter]):
    def __init__(self, settings: Settings, report: IngestReport | None) -> None:
        from crm import open_crm

        self._crm = open_crm(settings)
        self._report = report

    def write_batch(self, items: list[DeadLetter]) -> None:
        for letter in items:
            log.warning("dead letter [%s] %s (%s)", letter.stage, letter.reason, letter.raw_ref or "-")
        with_retries("dead letter write", lambda: self._crm.add_dead_letters(items))
        if self._report is not None:
            self._report.dead_letters += len(items)

    def close(self) -> None:
        self._crm.close()


class StoreSink(DynamicSink[X]):
    """A sink whose partitions each open their own stores on the worker that runs them."""

    def __init__(
        self,
        partition: Callable[[Settings, IngestReport | None], StatelessSinkPartition[X]],
        settings: Settings,
        report: IngestReport | None = None,
    ) -> None:
        self._partition = partition
        self._settings = settings
        self._report = report

    def build(self, step_id: str, worker_index: int, worker_count: int) -> StatelessSinkPartition[X]:
        return self._partition(self._settings, self._report)


def kb_sink(settings: Settings, report: IngestReport | None = None) -> StoreSink[Message]:
    """Upserts messages, keeps threads whole and recomputes conversation rollups in the KB."""
    return StoreSink(_KBPartition, settings, report)


def crm_sink(settings: Settings, report: IngestReport | None = None) -> StoreSink[Message]:
    """Resolves every message author to one contact in the CRM store."""
    return StoreSink(_CRMPartition, settings, report)


def dead_letter_sink(settings: Settings, report: IngestReport | None = None) -> StoreSink[DeadLetter]:
    """Keeps every dead letter (raw payload and reason) in the CRM store's dead-letter table."""
    return StoreSink(_DeadLetterPartition, settings, report)
