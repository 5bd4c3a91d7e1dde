"""Internal notes: what agents write on a conversation for each other, stored and shown, never sent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, insert, select

from crm.engine import write
from crm.schema import notes
from hub.models import utcnow

__all__ = ["NoteStore", "NoteView"]


class NoteView(BaseModel):
    """One note as stored."""

    model_config = ConfigDict(frozen=True)

    id: str
    conversation_id: str
    author_id: str
    text: str
    created_at: datetime


class NoteStore:
    """Adds and lists notes; notes have no state and never reach a channel."""

    def __init__(self, engine: Engine, writer: Engine) -> None:
        self._engine = engine
        self._writer = writer

    def add(self, conversation_id: str, author_id: str, text: str) -> NoteView:
        values: dict[str, Any] = {
            "id": f"note_{uuid.uuid4().hex}",
            "conversation_id": conversation_id,
            "author_id": author_id,
            "text": text,
            "created_at": utcnow(),
        }

        def work(conn: Connection) -> None:
            conn.execute(insert(notes).values(values))

        write(self._writer, work)
        return NoteView(**values)

    def for_conversation(self, conversation_id: str) -> list[NoteView]:
        """The conversation's notes, oldest first."""
        query = (
            select(notes)
            .where(notes.c.conversation_id == conversation_id)
            .order_by(notes.c.created_at, notes.c.id)
        )
        with self._engine.connect() as conn:
            return [NoteView.model_validate(dict(row)) for row in conn.execute(query).mappings()]
