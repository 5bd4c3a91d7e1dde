"""The ingest flow's knowledge-base step: linked messages in, refused ones out as dead letters.

A flow step (``op.flat_map_batch``) rather than a sink, so that documents the knowledge base
refuses (``UpsertResult.errors``: a mapping error, say) travel on as ``DeadLetter`` items into
the flow's dead-letter stream, like every other dead letter, instead of through a second store
handle. Per batch it

1. asks the relational store which conversation each message belongs to
   (``CRMStore.threads.assign``: one transaction, the same answer for every process);
2. writes the messages and moves the documents of the conversations that folded, its own
   folds and any another process decided but has not finished (a crash between deciding and
   moving), then marks those folds moved (``kb.conversations.ConversationKeeper``);
3. looks the conversations it wrote up again among the folds, and moves what it wrote into a
   conversation that another process folded meanwhile;
4. routes the inbox conversations it wrote to (``flows.routing``: rules, assignment, events),
   unless ``routing.enabled`` is off: after the messages are written and the folds moved,
   before the conversations' roll-ups are saved, so each document gets its roll-up and the
   triage routing decided in one write (the few rows routing changed that this save does not
   write, such as a fold's target, are projected after it).

Writes are idempotent and recomputed from what is stored, so the at-least-once replay after
a crash writes nothing twice; ``RetriableError`` (a busy store) is retried with the hub's
backoff before the flow stops (to resume from its snapshots).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta
from typing import Any

from crm import CRMStore
from crm.routing import RoutingState
from crm.threads import ThreadLink, ThreadStore
from flows.report import IngestReport
from flows.routing import Router
from flows.thread_backfill import backfill_threads, needs_backfill
from flows.threading import ThreadState, thread_link
from hub.backoff import retry
from hub.models import DeadLetter, Message, conversation_id_for, message_id, utcnow
from hub.settings import Settings
from kb.base import KnowledgeBase
from kb.conversations import ConversationKeeper, project_triage

__all__ = [
    "FOLD_GRACE",
    "WRITE_ATTEMPTS",
    "KBWriteStep",
    "Linked",
    "finish_folds",
    "finish_ingest",
    "flow_keeper",
    "refused_dead_letters",
]

#: tries of each store write, the first included, before a passing failure stops the flow
WRITE_ATTEMPTS = 5
#: a fold another process decided this long ago and has not moved is taken over (its process
#: is slow or gone); younger ones are left to it, so two processes do not move the same threads
FOLD_GRACE = timedelta(seconds=30)
#: pending folds taken over per batch
FOLDS_PER_BATCH = 200

#: a message and what it says about its thread (the thread step's output)
Linked = tuple[Message, ThreadLink]


def flow_keeper(kb: KnowledgeBase, settings: Settings) -> ConversationKeeper:
    """The conversation keeper the flow writes with. With routing on, a fold carries no triage
    from the folded document: the routing table carries it (``RoutingStore.route_batch``,
    ``release_folds``) and the target's row is projected, with its version."""
    return ConversationKeeper(kb, attempts=WRITE_ATTEMPTS, carry_triage=not settings.routing.enabled)


def refused_dead_letters(messages: list[Message], errors: dict[str, str]) -> list[DeadLetter]:
    """Dead letters for the documents the knowledge base refused (``errors``: id -> why)."""
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


def _flatten(folds: Mapping[str, str]) -> dict[str, str]:
    """``folds`` with chains followed to their end (folds read at different moments may chain)."""
    flat: dict[str, str] = {}
    for source, into in folds.items():
        seen = {source}
        while into in folds and into not in seen:
            seen.add(into)
            into = folds[into]
        if into != source:
            flat[source] = into
    return flat


def move_folds(keeper: ConversationKeeper, threads: ThreadStore, folds: Mapping[str, str]) -> None:
    """Move the documents of ``folds`` and record them moved."""
    folds = _flatten(folds)
    if folds:
        keeper.fold(folds)
        retry("thread folds moved", lambda: threads.mark_moved(folds), attempts=WRITE_ATTEMPTS)


def finish_folds(keeper: ConversationKeeper, threads: ThreadStore) -> int:
    """Move every fold still pending, whoever decided it; returns how many were pending.

    Run at the end of an ingest, so a run that resumed after a kill with nothing left to
    read still completes the moves its killed predecessor decided.
    """
    done = 0
    while pending := threads.pending_folds(limit=FOLDS_PER_BATCH):
        move_folds(keeper, threads, pending)
        still = threads.pending_folds(limit=FOLDS_PER_BATCH)
        if set(still) >= set(pending):  # nothing moved (re-pointed meanwhile): next run's job
            break
        done += len(pending)
    return done


def release_folds(crm: CRMStore, kb: KnowledgeBase) -> int:
    """Release the routing rows of conversations folded away by a process other than the one
    that routed them after it had resolved its batch (they would stay live, holding an agent's
    place); project the triage that moved. Returns how many were released."""
    done = 0
    while folds := crm.routing.unreleased_folds(limit=FOLDS_PER_BATCH):
        states = retry(
            "routing folds released", lambda: crm.routing.release_folds(folds), attempts=WRITE_ATTEMPTS
        )
        project_triage(kb, states, attempts=WRITE_ATTEMPTS)
        done += len(folds)
        if set(crm.routing.unreleased_folds(limit=FOLDS_PER_BATCH)) >= set(folds):
            break  # nothing released (a concurrent change): the next run's job
    return done


def finish_ingest(settings: Settings, report: IngestReport) -> None:
    """After an ingest run: finish pending folds, and count the conversations the run's
    messages are in now (``report.conversations``: never negative, whatever ran alongside)."""
    from crm import open_crm
    from kb import open_kb

    kb, crm = open_kb(settings), open_crm(settings)
    try:
        finish_folds(flow_keeper(kb, settings), crm.threads)
        if settings.routing.enabled:
            release_folds(crm, kb)
        resolved = crm.threads.resolve(sorted(report.conversation_ids))
        report.conversations = len(set(resolved.values()))
    finally:
        kb.close()
        crm.close()


class KBWriteStep:
    """The mapper of the flow's ``kb`` step: one batch of linked messages -> its refused dead letters.

    Opens the knowledge base and the relational store on first use, on the worker that runs
    the step (as the sinks open their stores), seeding the thread tables from a knowledge base
    that predates them (``flows.thread_backfill``), and closes them when the step is dropped.
    """

    def __init__(self, settings: Settings, report: IngestReport | None = None) -> None:
        self._settings = settings
        self._report = report
        self._stores: tuple[ConversationKeeper, CRMStore] | None = None
        self._router: Router | None = None
        self._lock = threading.Lock()  # workers of one process share this step
        self._first = True

    def _open(self) -> tuple[ConversationKeeper, CRMStore]:
        with self._lock:
            if self._stores is None:
                from crm import open_crm
                from kb import open_kb

                kb = open_kb(self._settings)
                weakref.finalize(self, kb.close)
                crm = open_crm(self._settings)
                weakref.finalize(self, crm.close)
                keeper = flow_keeper(kb, self._settings)
                if needs_backfill(kb, crm.threads):  # a knowledge base from before the tables
                    backfill_threads(kb, crm.threads, keeper)
                if self._settings.routing.enabled:
                    self._router = Router(crm, kb, self._settings.routing)
                self._stores = (keeper, crm)
            return self._stores

    def _pending(self, threads: ThreadStore) -> dict[str, str]:
        # Right after a start, every pending fold may be a killed predecessor's: take them all.
        first, self._first = self._first, False
        older = None if first else utcnow() - FOLD_GRACE
        return threads.pending_folds(limit=FOLDS_PER_BATCH, created_before=older)

    def _stored_elsewhere(
        self, keeper: ConversationKeeper, threads: ThreadStore, batch: list[Linked]
    ) -> list[Linked]:
        """Messages the batch names that the knowledge base holds but the thread tables do not
        know (an outbound reply the dispatcher stored), each with the link its stored copy
        makes, to be assigned first: a reply to them then joins their thread."""
        named = {
            conversation_id_for(link.channel, link.account, name): (link.channel, link.account, name)
            for _, link in batch
            for name in link.chain
        }
        unknown = set(named) - {link.key for _, link in batch}
        unknown -= threads.known(sorted(unknown)) if unknown else set()
        if not unknown:
            return []
        ids = sorted({message_id(named[key][0], named[key][2]) for key in unknown})
        stored = keeper.read_messages(ids).values()
        state = ThreadState()  # a stored message names its thread; no subject fallback here
        linked = [(m, thread_link(state, m, subject_window=None)) for m in stored]
        return [(m, link) for m, link in linked if link.key in unknown]

    def __call__(self, batch: list[Linked]) -> list[DeadLetter]:
        keeper, crm = self._stores or self._open()
        threads = crm.threads
        elsewhere = self._stored_elsewhere(keeper, threads, batch)
        links = [link for _, link in [*elsewhere, *batch]]
        assignment = retry("thread assignment", lambda: threads.assign(links), attempts=WRITE_ATTEMPTS)
        messages = [
            message.model_copy(update={"conversation_id": assignment.conversations[link.key]})
            for message, link in batch
        ]
        # a stored copy the store placed elsewhere is moved with the batch
        messages += [
            m.model_copy(update={"conversation_id": assignment.conversations[link.key]})
            for m, link in elsewhere
            if assignment.conversations[link.key] != m.conversation_id
        ]
        folds = _flatten({**assignment.folds, **self._pending(threads)})  # the later reading wins
        batch_ids = {c for m in messages if (c := m.conversation_id)}
        own = {message.id for message, _ in batch}  # not the stored copies placed elsewhere
        resolved: dict[str, str] = {}
        routed: list[RoutingState] = []
        router = self._router

        def settle_stragglers(settled: Collection[str]) -> dict[str, str]:
            # Another process may have folded a conversation this batch wrote into after this
            # batch's assignment: its documents there are stragglers, moved now (any later fold
            # is pending, and whoever moves it reads what this batch wrote).
            resolved.update(threads.resolve(sorted(batch_ids | set(settled))))
            stragglers = {c: r for c, r in resolved.items() if r != c}
            move_folds(keeper, threads, stragglers)
            return stragglers

        def route(created: Sequence[str], settled: Sequence[str]) -> dict[str, dict[str, Any]]:
            # the messages are written and the folds moved; the roll-ups are not saved yet
            stragglers = settle_stragglers(settled)
            assert router is not None
            folded = _flatten({**folds, **stragglers})
            routed.extend(router.route(messages, resolved, set(created), folded, resolve=own))
            return {state.conversation_id: state.triage() for state in routed}

        applied = keeper.apply(messages, folds, route if router is not None else None)
        if folds:
            retry("thread folds moved", lambda: threads.mark_moved(folds), attempts=WRITE_ATTEMPTS)
        if router is None:
            settle_stragglers(applied.rolled_up)
        # what routing changed that the roll-up writes did not carry (folds' targets, rows
        # assigned from the waiting list, the conversations stragglers joined)
        unwritten = [s for s in routed if s.conversation_id not in applied.projected]
        project_triage(keeper.kb, unwritten, attempts=WRITE_ATTEMPTS)
        if self._report is not None:
            self._report.created += len(applied.written.created)
            self._report.updated += len(applied.written.updated)
            self._report.duplicates += len(applied.written.unchanged)
            self._report.conversation_ids.update(resolved[c] for m in messages if (c := m.conversation_id))
        # the messages as they came, so a retry later threads them afresh
        return refused_dead_letters([message for message, _ in batch], applied.written.errors)
