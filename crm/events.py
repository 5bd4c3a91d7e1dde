"""The event log: what changed, in commit order, for followers (routing, SLAs, the outbox,
outbound webhooks, monitors' alerts, the web console and ``GET /events``).

What the log promises (docs/events.md has the event types):

* events are appended, never changed or deleted by the hub;
* ids only grow, in commit order, and are never reused (SQLite AUTOINCREMENT and one writer at
  a time; PostgreSQL writers take an advisory lock around their insert, held to commit, as the
  inbox's and the audit log's do), so a follower that has handled everything up to id N reads
  ``after=N`` and misses nothing;
* an event joins the transaction of the change it describes when the writer passes ``conn``,
  so a change is never seen without its event nor an event without its change. Append events
  last in such a transaction: on PostgreSQL the lock is held until commit;
* ``data`` is small JSON (ids, states, ISO 8601 times), never message text or a secret; it is
  bounded by :func:`crm.audit.summarise` so one bulk change cannot write megabytes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine, func, insert, select, text

from crm.audit import summarise
from crm.bulk import bulk_insert
from crm.engine import MIGRATION_LOCK, write
from crm.schema import events
from hub.models import utcnow

__all__ = ["EVENT_LOCK", "Event", "EventLog", "NewEvent", "append_events", "record_events"]

#: the advisory lock key PostgreSQL event writers serialise on (inbox +1, audit +2)
EVENT_LOCK = MIGRATION_LOCK + 3
#: longest accepted type name, ``subject.verb``
MAX_TYPE = 64


class NewEvent(BaseModel):
    """An event to append: its type, the ids it is about, who caused it and small data."""

    model_config = ConfigDict(frozen=True)

    type: str = Field(min_length=3, max_length=MAX_TYPE, pattern=r"^[a-z_]+\.[a-z_]+$")
    conversation_id: str | None = Field(default=None, max_length=256)
    contact_id: str | None = Field(default=None, max_length=64)
    #: the agent who caused it; ``None`` for the hub itself (a rule, the flow, a timer)
    actor_id: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict)


class Event(BaseModel):
    """One appended event; ``at`` is when it was recorded (UTC)."""

    model_config = ConfigDict(frozen=True)

    id: int
    at: datetime
    type: str
    conversation_id: str | None
    contact_id: str | None
    actor_id: str | None
    data: dict[str, Any]


def _fields(event: NewEvent) -> dict[str, Any]:
    """An event's columns but ``at``."""
    data = summarise(event.data)
    return {
        "type": event.type,
        "conversation_id": event.conversation_id,
        "contact_id": event.contact_id,
        "actor_id": event.actor_id,
        "data": data if isinstance(data, dict) else {"value": data},
    }


def _row(event: NewEvent, at: datetime) -> dict[str, Any]:
    return {"at": at, **_fields(event)}


def append_events(conn: Connection, new: Sequence[NewEvent]) -> list[int]:
    """Append ``new`` in order inside ``conn``'s transaction (last in it, see the module doc);
    their ids."""
    if not new:
        return []
    at = utcnow()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_LOCK})
    # one statement per row: RETURNING over a multi-row insert does not promise order; the
    # statement is built once, each row bound to it (building one per row cost more than the insert)
    return [conn.execute(_INSERT, _row(event, at)).scalar_one() for event in new]


_INSERT = insert(events).returning(events.c.id)


def record_events(conn: Connection, new: Sequence[NewEvent]) -> None:
    """:func:`append_events` for a writer that does not need the ids (routing appends thousands
    per flow batch): one ``executemany`` of the rows in order (``crm.bulk``: values converted
    once, straight to the driver), so ids still grow in ``new``'s order; on PostgreSQL under
    the event lock, held to commit, as every event writer's."""
    if not new:
        return
    at = utcnow()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_LOCK})
    bulk_insert(conn, events, [_fields(event) for event in new], same={"at": at})


class EventLog:
    """Appends and pages events (see the module doc for the contract)."""

    def __init__(self, engine: Engine, writer: Engine) -> None:
        self._engine = engine
        self._writer = writer

    def append(
        self,
        type: str,
        *,
        conversation_id: str | None = None,
        contact_id: str | None = None,
        actor_id: str | None = None,
        data: Mapping[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Append one event, in ``conn``'s transaction when given; its id."""
        event = NewEvent(
            type=type,
            conversation_id=conversation_id,
            contact_id=contact_id,
            actor_id=actor_id,
            data=dict(data or {}),
        )
        return self.append_many([event], conn=conn)[0]

    def append_many(self, new: Sequence[NewEvent], *, conn: Connection | None = None) -> list[int]:
        """Append events in order, in ``conn``'s transaction when given; their ids."""
        if not new:
            return []
        if conn is not None:
            return append_events(conn, new)
        return write(self._writer, lambda connection: append_events(connection, new))

    def read(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        types: Collection[str] | None = None,
        conversation_id: str | None = None,
        contact_id: str | None = None,
    ) -> list[Event]:
        """Up to ``limit`` events with ids above ``after``, oldest first, optionally only some
        types or one conversation or contact."""
        query = select(events).where(events.c.id > after).order_by(events.c.id).limit(limit)
        if types:
            query = query.where(events.c.type.in_(sorted(types)))
        if conversation_id is not None:
            query = query.where(events.c.conversation_id == conversation_id)
        if contact_id is not None:
            query = query.where(events.c.contact_id == contact_id)
        with self._engine.connect() as conn:
            return [Event.model_validate(dict(row)) for row in conn.execute(query).mappings()]

    def last_id(self) -> int:
        """The newest event's id; 0 on an empty log."""
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one())
