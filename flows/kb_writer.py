"""The ingest flow's knowledge-base step: threaded messages in, refused ones out as dead letters.

A flow step (``op.flat_map_batch``) rather than a sink, so that documents the knowledge base
refuses (``UpsertResult.errors``: a mapping error, say) travel on as ``DeadLetter`` items into
the flow's dead-letter stream, like every other dead letter, instead of through a second store
handle. It is a thin adapter: ``kb.conversations.ConversationKeeper`` writes each batch, keeps
threads whole and rolls conversations up. Writes are idempotent and recomputed from what is
stored, so the at-least-once replay after a crash writes nothing twice; ``RetriableError`` is
retried with the hub's backoff before the flow stops (to resume from its snapshots).
"""

from __future__ import annotations

import threading
import weakref

from flows.report import IngestReport
from hub.models import DeadLetter, Message
from hub.settings import Settings
from kb.conversations import ConversationKeeper

__all__ = ["WRITE_ATTEMPTS", "KBWriteStep", "refused_dead_letters"]

#: tries of each knowledge-base write, the first included, before a passing failure stops the flow
WRITE_ATTEMPTS = 5


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


class KBWriteStep:
    """The mapper of the flow's ``kb`` step: one batch of messages -> its refused dead letters.

    Opens the knowledge base on first use, on the worker that runs the step (as the sinks
    open their stores), and closes it when the step is dropped.
    """

    def __init__(self, settings: Settings, report: IngestReport | None = None) -> None:
        self._settings = settings
        self._report = report
        self._keeper: ConversationKeeper | None = None
        self._lock = threading.Lock()  # workers of one process share this step

    def _open(self) -> ConversationKeeper:
        with self._lock:
            if self._keeper is None:
                from kb import open_kb

                kb = open_kb(self._settings)
                weakref.finalize(self, kb.close)
                self._keeper = ConversationKeeper(kb, attempts=WRITE_ATTEMPTS)
            return self._keeper

    def __call__(self, batch: list[Message]) -> list[DeadLetter]:
        applied = (self._keeper or self._open()).apply(batch)
        written = applied.written
        if self._report is not None:
            self._report.created += len(written.created)
            self._report.updated += len(written.updated)
            self._report.duplicates += len(written.unchanged)
        return refused_dead_letters(batch, written.errors)
