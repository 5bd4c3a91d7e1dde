"""The inbox: envelopes pushed to the hub's webhooks, kept durably until the ingest flow reads them.

The contract (what the webhook route and the inbox source rely on):

* :meth:`InboxTable.add` commits before it returns, and gives each envelope an integer id;
  ids only grow, in commit order, and are never reused, so a reader holding "everything up to
  id N" can ask for ``after_id=N`` and miss nothing. (SQLite serialises writers and uses
  AUTOINCREMENT; on PostgreSQL a sequence value is taken before commit, so two writers could
  commit out of order: writers take a transaction-scoped advisory lock around their insert.)
* :meth:`InboxTable.read` returns rows in id order and changes nothing; the reader keeps its
  cursor (the inbox source keeps it in its Bytewax snapshot) and says what it has read with
  :meth:`InboxTable.mark_read`.
* :meth:`InboxTable.prune` deletes only rows read at least a retention ago; an unread row is
  never deleted, however old.

An envelope is stored as JSON text: ``channel``, ``kind``, ``account``, ``received_at``,
``raw_ref`` and either ``payload`` (any JSON value) or ``payload_base64`` (a ``bytes``
payload). A payload that is neither - bytes nested inside a dict, say - is refused with
``MalformedPayload``; a stored row that no longer decodes is read back as a dead letter.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update
from sqlalchemy.exc import OperationalError

from crm.engine import MIGRATION_LOCK, write
from crm.schema import inbox
from hub.errors import MalformedPayload, RetriableError
from hub.models import DeadLetter, Envelope, utcnow

__all__ = ["InboxEntry", "InboxTable", "decode_envelope", "encode_envelope"]

#: the advisory lock key PostgreSQL inbox writers serialise on (any key but the migrators')
INBOX_LOCK = MIGRATION_LOCK + 1


@dataclass(frozen=True)
class InboxEntry:
    """One inbox row as read back: its id (the reader's cursor) and its envelope, or a dead
    letter when the stored text no longer decodes."""

    id: int
    item: Envelope | DeadLetter


def encode_envelope(envelope: Envelope) -> str:
    """``envelope`` as the JSON text the inbox stores; ``MalformedPayload`` when its payload
    is neither JSON nor bytes."""
    document: dict[str, Any] = {
        "channel": envelope.channel,
        "kind": envelope.kind,
        "account": envelope.account,
        "received_at": envelope.received_at.isoformat(),
        "raw_ref": envelope.raw_ref,
    }
    if isinstance(envelope.payload, bytes):
        document["payload_base64"] = base64.b64encode(envelope.payload).decode("ascii")
    else:
        document["payload"] = envelope.payload
    try:
        # ensure_ascii: lone surrogates from "\ud800" escapes in platform JSON stay storable
        return json.dumps(document, ensure_ascii=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise MalformedPayload(
            f"a {envelope.channel}/{envelope.kind} envelope payload must be JSON or bytes: {exc}"
        ) from exc


def decode_envelope(stored: str) -> Envelope:
    """The envelope :func:`encode_envelope` wrote; ``MalformedPayload`` when it does not decode."""
    try:
        document = json.loads(stored)
        if "payload_base64" in document:
            document["payload"] = base64.b64decode(document.pop("payload_base64"), validate=True)
        return Envelope.model_validate(document)
    except (ValueError, TypeError, KeyError, binascii.Error, ValidationError) as exc:
        raise MalformedPayload(f"inbox row does not decode as an envelope: {exc}") from exc


@contextmanager
def _outage_is_retriable(engine: Engine) -> Iterator[None]:
    """A database that cannot be reached is a passing failure: ``RetriableError`` (the webhook
    route answers 503 so the platform retries; the inbox source backs off)."""
    try:
        yield
    except OperationalError as exc:
        raise RetriableError(f"the CRM database is unavailable ({engine.url!r}): {exc.orig}") from exc


def _entry(row: Any) -> InboxEntry:
    try:
        item: Envelope | DeadLetter = decode_envelope(row.envelope)
    except MalformedPayload as exc:
        item = DeadLetter(
            stage="inbox", reason=str(exc), raw=row.envelope, channel=row.channel, raw_ref=f"inbox:{row.id}"
        )
    return InboxEntry(id=row.id, item=item)


class InboxTable:
    """Adds, reads, marks and prunes inbox rows (see the module doc for the contract)."""

    def __init__(self, engine: Engine, writer: Engine) -> None:
        self._engine = engine
        self._writer = writer

    def add(self, envelopes: Sequence[Envelope]) -> list[int]:
        rows = [
            {
                "channel": envelope.channel,
                "account": envelope.account,
                "received_at": envelope.received_at,
                "envelope": encode_envelope(envelope),  # before the transaction: may refuse
            }
            for envelope in envelopes
        ]
        if not rows:
            return []

        def work(conn: Connection) -> list[int]:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INBOX_LOCK})
            statement = insert(inbox).returning(inbox.c.id, sort_by_parameter_order=True)
            return list(conn.execute(statement, rows).scalars())

        with _outage_is_retriable(self._engine):
            return write(self._writer, work)

    def read(self, after_id: int, limit: int) -> list[InboxEntry]:
        query = select(inbox).where(inbox.c.id > after_id).order_by(inbox.c.id).limit(limit)
        with _outage_is_retriable(self._engine), self._engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def mark_read(self, after_id: int, through_id: int) -> None:
        if through_id <= after_id:
            return
        # every read refreshes read_at: rows read again after a resume get their full retention
        statement = (
            update(inbox).where(inbox.c.id > after_id, inbox.c.id <= through_id).values(read_at=utcnow())
        )
        with _outage_is_retriable(self._engine):
            write(self._writer, lambda conn: conn.execute(statement))

    def read_through(self) -> int:
        query = select(func.max(inbox.c.id)).where(inbox.c.read_at.is_not(None))
        with _outage_is_retriable(self._engine), self._engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none() or 0

    def first_unread(self) -> int | None:
        query = select(func.min(inbox.c.id)).where(inbox.c.read_at.is_(None))
        with _outage_is_retriable(self._engine), self._engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def count(self, *, unread: bool = False) -> int:
        query = select(func.count()).select_from(inbox)
        if unread:
            query = query.where(inbox.c.read_at.is_(None))
        with _outage_is_retriable(self._engine), self._engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def prune(self, through_id: int, read_before: datetime) -> int:
        statement = delete(inbox).where(inbox.c.id <= through_id, inbox.c.read_at < read_before)
        with _outage_is_retriable(self._engine):
            return write(self._writer, lambda conn: conn.execute(statement).rowcount)
