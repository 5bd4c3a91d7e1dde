"""The ingest flow's sinks: CRM (authors -> contacts) and dead letters.

Each sink is a Bytewax ``DynamicSink`` whose partitions open their store on the worker that
runs them. All writes are idempotent by id, so the at-least-once replay that follows a crash
writes nothing twice. Retriable store errors are retried with the hub's backoff
(``hub.backoff.retry``) before the flow stops (to be resumed from its recovery snapshots).
The knowledge base is written by a flow step, not a sink (``flows.kb_writer``), so that the
documents it refuses join the dead-letter stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from flows.report import IngestReport
from hub.backoff import retry
from hub.models import DeadLetter, Message
from hub.settings import Settings

__all__ = ["StoreSink", "crm_sink", "dead_letter_sink"]

log = logging.getLogger("parley.flow")

X = TypeVar("X")


class _CRMPartition(StatelessSinkPartition[Message]):
    def __init__(self, settings: Settings, report: IngestReport | None = None) -> None:
        from crm import open_crm

        self._crm = open_crm(settings)
        # With routing on, the kb step resolves the inbox messages' authors itself (routing
        # records their contacts, ``flows.routing``): this sink keeps to the listening channels,
        # so no batch is resolved twice, whichever of the two steps sees it first.
        self._routing = settings.routing

    def write_batch(self, items: list[Message]) -> None:
        if self._routing.enabled:
            items = [m for m in items if self._routing.is_listening(m.channel)]
        if items:
            retry("crm upsert", lambda: self._crm.upsert_from_messages(items))

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
        retry("dead letter write", lambda: self._crm.add_dead_letters(items))
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


def crm_sink(settings: Settings, report: IngestReport | None = None) -> StoreSink[Message]:
    """Resolves every message author to one contact in the CRM store (with routing on, only
    those of the listening channels: the ``kb`` step's routing resolves the inbox's)."""
    return StoreSink(_CRMPartition, settings, report)


def dead_letter_sink(settings: Settings, report: IngestReport | None = None) -> StoreSink[DeadLetter]:
    """Keeps every dead letter (raw payload and reason) in the CRM store's dead-letter table."""
    return StoreSink(_DeadLetterPartition, settings, report)
