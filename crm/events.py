"""TEMPORARY stand-in for the lead's event log (docs/events.md) so routing can be tested before
it lands on main; replaced by main's crm/events.py at the merge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, func, insert, select, text

from crm.engine import MIGRATION_LOCK, write
from crm.schema import events
from hub.models import utcnow

__all__ = ["EVENT_LOCK", "Event", "EventLog", "NewEvent"]

EVENT_LOCK = MIGRATION_LOCK + 3


@dataclass(frozen=True)
class NewEvent:
    type: str
    conversation_id: str | None = None
    contact_id: str | None = None
    actor_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Event(BaseModel):
    id: int
    at: datetime
    type: str
    conversation_id: str | None
    contact_id: str | None
    actor_id: str | None
    data: dict[str, Any]


class EventLog:
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
        data: dict[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> int:
        return self.append_many(
            [NewEvent(type, conversation_id, contact_id, actor_id, data or {})], conn=conn
        )[0]

    def append_many(self, new: Sequence[NewEvent], *, conn: Connection | None = None) -> list[int]:
        def work(c: Connection) -> list[int]:
            if c.dialect.name == "postgresql":
                c.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_LOCK})
            now = utcnow()
            return [
                c.execute(
                    insert(events)
                    .values(
                        at=now,
                        type=e.type,
                        conversation_id=e.conversation_id,
                        contact_id=e.contact_id,
                        actor_id=e.actor_id,
                        data=e.data,
                    )
                    .returning(events.c.id)
                ).scalar_one()
                for e in new
            ]

        return work(conn) if conn is not None else write(self._writer, work)

    def read(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        types: Sequence[str] | None = None,
        conversation_id: str | None = None,
    ) -> list[Event]:
        query = select(events).where(events.c.id > after).order_by(events.c.id).limit(limit)
        if types:
            query = query.where(events.c.type.in_(list(types)))
        if conversation_id is not None:
            query = query.where(events.c.conversation_id == conversation_id)
        with self._engine.connect() as c:
            return [Event.model_validate(dict(row)) for row in c.execute(query).mappings()]

    def last_id(self) -> int:
        with self._engine.connect() as c:
            return int(c.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one())
