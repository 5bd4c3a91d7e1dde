"""The inbox source: envelopes pushed to the hub's webhooks, read from the CRM store's inbox.

The webhook route commits every verified push to the inbox before it answers the platform;
this source hands those envelopes to the ingest flow, unparsed, exactly as a channel poller
would, so the flow's parse step uses the channel's parsers and a webhook burst survives a flow
restart.

* One partition (``"inbox"``). Its resume state - exactly what ``snapshot()`` returns - is
  the id of the last row emitted; inbox ids only grow and are never reused (``crm.inbox``),
  so a resumed partition reads on from there: nothing is lost, and what was read after the
  last snapshot is read again (at least once; every sink is idempotent).
* Without resume state (a fresh recovery directory) it starts after the highest row ever
  marked read, so the retained history is not ingested again. Unread rows at or below the
  cursor mean the store was replaced since the snapshot: it reads them rather than skip them.
* ``next_batch`` never blocks: it reads what is there (up to ``inbox_read_batch`` rows) or
  returns ``[]``; ``next_awake`` asks to be called again at once after a full batch, else
  after ``inbox_poll_s``. A store that cannot be read is retried with backoff, logged.
* Rows handed over are marked read; rows read more than ``inbox_retention_days`` ago (and at
  or below this partition's cursor) are pruned about hourly. An unread row is never pruned.
* A row that no longer decodes is emitted as a ``DeadLetter`` (stage ``inbox``).

:func:`inbox_sources` adds the source to the ingest flow only when it has work: a channel
with a webhook is configured, or unread rows are waiting. A hub without webhooks is not held
open by an idle poller.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bytewax.inputs import FixedPartitionedSource, Source, StatefulSourcePartition

from channels import CHANNELS
from hub.backoff import backoff_delay
from hub.errors import RetriableError
from hub.models import DeadLetter, Envelope
from hub.settings import Settings

if TYPE_CHECKING:
    from crm.store import CRMStore

__all__ = ["InboxPartition", "InboxSource", "inbox_sources", "webhook_channels"]

log = logging.getLogger("parley.flow.inbox")

InboxItem = Envelope | DeadLetter
PARTITION = "inbox"
#: how often expired rows are pruned
PRUNE_EVERY = timedelta(hours=1)


class InboxSource(FixedPartitionedSource[InboxItem, int | None]):
    """Reads the inbox of the CRM store ``settings`` names (see the module doc).

    ``once=True`` ends the source at the first read that finds nothing new (batch runs and
    tests).
    """

    def __init__(self, settings: Settings, *, once: bool = False) -> None:
        self.settings = settings
        self.once = once

    def list_parts(self) -> list[str]:
        return [PARTITION]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> InboxPartition:
        from crm import open_crm

        return InboxPartition(open_crm(self.settings), self.settings, resume_state, once=self.once)


class InboxPartition(StatefulSourcePartition[InboxItem, int | None]):
    """The single inbox reader; its state is the id of the last row emitted (``None`` before
    the store could first be read: start from the store's read marks)."""

    def __init__(
        self, crm: CRMStore, settings: Settings, resume_state: int | None, *, once: bool = False
    ) -> None:
        self._crm = crm
        self._config = settings.webhooks
        self._once = once
        self._resume_state = resume_state
        #: the id of the last row emitted; found on the first read (the store may be down now)
        self._cursor: int | None = None
        self._wake: datetime | None = None
        self._failures = 0
        self._next_prune = datetime.now(UTC)

    def next_batch(self) -> list[InboxItem]:
        try:
            if self._cursor is None:
                self._cursor = _start(self._crm, self._resume_state)
            entries = self._crm.read_inbox(self._cursor, self._config.inbox_read_batch)
            if entries:
                self._crm.mark_inbox_read(self._cursor, entries[-1].id)
        except RetriableError as exc:
            self._failures += 1
            delay = backoff_delay(self._failures, base_s=self._config.inbox_poll_s, max_s=30.0)
            log.warning("inbox unreadable (%s); next try in %.1fs", exc, delay)
            self._wake = datetime.now(UTC) + timedelta(seconds=delay)
            return []
        self._failures = 0
        if not entries and self._once:
            raise StopIteration
        if entries:
            self._cursor = entries[-1].id
        full = len(entries) == self._config.inbox_read_batch
        self._wake = None if full else datetime.now(UTC) + timedelta(seconds=self._config.inbox_poll_s)
        self._prune_when_due(self._cursor)
        return [entry.item for entry in entries]

    def next_awake(self) -> datetime | None:
        return self._wake

    def snapshot(self) -> int | None:
        return self._cursor if self._cursor is not None else self._resume_state

    def close(self) -> None:
        self._crm.close()

    def _prune_when_due(self, cursor: int) -> None:
        now = datetime.now(UTC)
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY
        read_before = now - timedelta(days=self._config.inbox_retention_days)
        try:
            pruned = self._crm.prune_inbox(cursor, read_before)
        except RetriableError as exc:  # pruning is housekeeping: try again next time
            log.warning("inbox prune failed: %s", exc)
            return
        if pruned:
            log.info("pruned %d inbox rows read before %s", pruned, read_before.isoformat())


def _start(crm: CRMStore, resume_state: int | None) -> int:
    """Where to read on from: the snapshot's cursor, else after the rows already read."""
    cursor = resume_state if resume_state is not None else crm.inbox_read_through()
    first_unread = crm.first_unread_inbox()
    if first_unread is not None and first_unread <= cursor:
        # every row up to the cursor was read and marked, so the store was replaced (a new
        # database, ids counting from 1 again) since that snapshot: read its rows from there
        log.warning("inbox has unread rows from id %d, behind cursor %d; reading them", first_unread, cursor)
        cursor = first_unread - 1
    return cursor


def webhook_channels(settings: Settings) -> list[str]:
    """Channels with a webhook whose settings are configured (``[channels.<name>]``)."""
    return sorted(
        name
        for name, descriptor in CHANNELS.items()
        if descriptor.webhook is not None and name in settings.channels
    )


def inbox_sources(settings: Settings) -> list[tuple[str, Source[InboxItem]]]:
    """The inbox source for the ingest flow, or none when there is nothing it could read:
    no channel with a webhook is configured and no unread row waits in the inbox.

    Every process of a multi-process flow decides alike: rows only arrive for a configured
    webhook channel, and then the answer does not depend on the rows."""
    if webhook_channels(settings) or _unread_rows(settings):
        return [("inbox_in", InboxSource(settings))]
    return []


def _unread_rows(settings: Settings) -> bool:
    from crm import open_crm

    crm = open_crm(settings)
    try:
        return crm.first_unread_inbox() is not None
    finally:
        crm.close()
