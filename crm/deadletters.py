"""The dead-letter table: input that could not be processed, with its raw payload and reason.

Idempotent by ``DeadLetter.id`` (derived from stage, source, reason and payload), so the same
bad input replayed is one dead letter, not one per replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from crm.engine import write
from crm.ids import clean_text
from crm.rollups import chunks
from crm.schema import dead_letters
from hub.models import DeadLetter

__all__ = ["DeadLetterTable"]

_FIELDS = ("id", "stage", "reason", "raw", "channel", "kind", "raw_ref", "created_at")


def _row(letter: DeadLetter) -> dict[str, Any]:
    row = {name: getattr(letter, name) for name in _FIELDS}
    for name in ("stage", "reason", "raw", "channel", "kind", "raw_ref"):
        row[name] = clean_text(row[name])
    return row


class DeadLetterTable:
    """Adds, counts and pages dead letters."""

    def __init__(self, engine: Engine, writer: Engine) -> None:
        self._engine = engine
        self._writer = writer

    def add(self, letters: Sequence[DeadLetter]) -> int:
        unique = {letter.id: letter for letter in letters}
        if not unique:
            return 0

        def work(conn: Connection) -> int:
            known: set[str] = set()
            for part in chunks(list(unique)):
                query = select(dead_letters.c.id).where(dead_letters.c.id.in_(part))
                known.update(conn.execute(query).scalars())
            rows = [_row(letter) for letter_id, letter in unique.items() if letter_id not in known]
            if rows:
                conn.execute(insert(dead_letters), rows)
            return len(rows)

        return write(self._writer, work)

    def list(
        self, *, limit: int = 50, offset: int = 0, stage: str | None = None
    ) -> tuple[int, list[DeadLetter]]:
        count = select(func.count()).select_from(dead_letters)
        query = select(dead_letters).order_by(dead_letters.c.created_at.desc(), dead_letters.c.id)
        if stage is not None:
            count = count.where(dead_letters.c.stage == stage)
            query = query.where(dead_letters.c.stage == stage)
        with self._engine.connect() as conn:
            total = conn.execute(count).scalar_one()
            rows = conn.execute(query.limit(limit).offset(offset)).mappings().all()
        return total, [DeadLetter(**{name: row[name] for name in _FIELDS}) for row in rows]

    def count(self) -> int:
        with self._engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
