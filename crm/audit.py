"""The audit log: who changed what, when, from which request; append-only, read by supervisors.

What the log promises:

* entries are appended, never changed or deleted by the hub;
* ids only grow, in commit order, and are never reused (SQLite AUTOINCREMENT; PostgreSQL
  writers take an advisory lock around their insert, as the inbox's do), so a reader holding
  "everything up to id N" asks for ``after=N`` and misses nothing;
* ``before`` and ``after`` are bounded summaries (:func:`summarise`): long text is cut, long
  lists are cut and counted, so one bulk change cannot write megabytes; callers never put
  secrets in them (a token's id and name, never the token).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from itertools import islice
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, insert, select, text

from crm.engine import MIGRATION_LOCK, write
from crm.ids import clean_text
from crm.schema import audit_log
from hub.models import utcnow

__all__ = ["AuditEntry", "AuditLog", "summarise"]

#: the advisory lock key PostgreSQL audit writers serialise on (the inbox's is MIGRATION_LOCK + 1)
AUDIT_LOCK = MIGRATION_LOCK + 2
#: strings in a summary are cut to this many characters
MAX_TEXT = 500
#: lists in a summary keep this many items (and say how many there were)
MAX_ITEMS = 20
#: nesting deeper than this is summarised as its type name
MAX_DEPTH = 4


class AuditEntry(BaseModel):
    """One change: who (``actor_id`` and ``actor`` as they were), how they were authenticated
    (``via``: token, session, cli, system), what (``action`` on ``target_type``/``target_id``),
    the values before and after, and the request it came from."""

    model_config = ConfigDict(frozen=True)

    id: int
    at: datetime
    actor_id: str | None
    actor: str
    via: str
    action: str
    target_type: str
    target_id: str | None
    before: Any
    after: Any
    request_id: str | None


#: the types :func:`summarise` keeps as they are (``bool`` is listed: ``type`` is exact)
_SCALARS = (bool, int, float, type(None))


def _flat(value: dict[Any, Any]) -> bool:
    """Whether ``value`` is its own summary: a few str keys to scalars or short clean text."""
    if len(value) > MAX_ITEMS:
        return False
    for key, item in value.items():
        kind = type(item)
        if kind is str:
            if len(item) > MAX_TEXT or not item.isascii() or "\x00" in item:
                return False
        elif kind not in _SCALARS:
            return False
        if type(key) is not str:
            return False
    return True


def summarise(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-safe data of bounded size (see the module doc)."""
    if type(value) is dict and depth < MAX_DEPTH and _flat(value):
        # the common event payload (a few ids, states and ISO times): nothing to cut or clean,
        # so a copy is its summary (events are summarised by the thousand)
        return dict(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if len(value) <= MAX_TEXT and value.isascii() and "\x00" not in value:
            return value  # most values: nothing to clean or cut (events are summarised by the thousand)
        cleaned = clean_text(value) or ""
        return cleaned if len(cleaned) <= MAX_TEXT else f"{cleaned[:MAX_TEXT]}… ({len(cleaned)} chars)"
    if isinstance(value, datetime):
        return value.isoformat()
    if depth >= MAX_DEPTH:
        return f"<{type(value).__name__}>"
    if isinstance(value, BaseModel):
        return summarise(value.model_dump(mode="json"), depth)
    if isinstance(value, Mapping):
        summary = {str(key): summarise(item, depth + 1) for key, item in islice(value.items(), MAX_ITEMS)}
        if len(value) > MAX_ITEMS:
            summary["…"] = f"{len(value) - MAX_ITEMS} more keys"
        return summary
    if isinstance(value, list | tuple | set | frozenset):
        values = list(value)
        kept = [summarise(item, depth + 1) for item in values[:MAX_ITEMS]]
        if len(values) > MAX_ITEMS:
            kept.append(f"… {len(values) - MAX_ITEMS} more of {len(values)}")
        return kept
    return summarise(str(value), depth)


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(**{name: row[name] for name in AuditEntry.model_fields})


class AuditLog:
    """Appends and pages audit entries (see the module doc for the contract)."""

    def __init__(self, engine: Engine, writer: Engine) -> None:
        self._engine = engine
        self._writer = writer

    def append(
        self,
        *,
        actor_id: str | None,
        actor: str,
        via: str,
        action: str,
        target_type: str,
        target_id: str | None = None,
        before: Any = None,
        after: Any = None,
        request_id: str | None = None,
    ) -> int:
        """Record one change; its id."""
        row = {
            "at": utcnow(),
            "actor_id": actor_id,
            "actor": clean_text(actor[:320]) or "",
            "via": via[:16],
            "action": action[:64],
            "target_type": target_type[:32],
            "target_id": clean_text(target_id),
            "before": summarise(before),
            "after": summarise(after),
            "request_id": request_id[:64] if request_id else None,
        }

        def work(conn: Connection) -> int:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK})
            return conn.execute(insert(audit_log).values(row).returning(audit_log.c.id)).scalar_one()

        return write(self._writer, work)

    def read(
        self, *, after: int = 0, limit: int = 100, action: str | None = None, actor_id: str | None = None
    ) -> list[AuditEntry]:
        """Up to ``limit`` entries with ids above ``after``, oldest first, optionally only one
        action (``contact.merge``) or one actor."""
        query = select(audit_log).where(audit_log.c.id > after).order_by(audit_log.c.id).limit(limit)
        if action is not None:
            query = query.where(audit_log.c.action == action)
        if actor_id is not None:
            query = query.where(audit_log.c.actor_id == actor_id)
        with self._engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query).mappings()]
