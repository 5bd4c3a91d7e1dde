"""One routing transaction: rows read once, changed in memory, written together at the end.

``crm.routing`` runs every change of the routing table as a :class:`RoutingTxn` under the
routing lock. Rows are read in bulk (:meth:`RoutingTxn.prefetch`) or one at a time on first
use, changed in memory, and written by :meth:`RoutingTxn.flush` with one INSERT and one UPDATE
``executemany``; the flush runs before any query that reads many rows (the agents' loads, the
waiting list) and at commit, and before sticky history when the contact has unwritten rows
(:meth:`RoutingTxn.flush_contact`), so every read sees this transaction's changes.
The agent pool (``crm.assign.Pool``) is read on first use and kept current as loads change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from crm.assign import Pool, Roster
from crm.bulk import bulk_insert, bulk_update
from crm.events import NewEvent
from crm.rollups import chunks
from crm.schema import conversation_routing

__all__ = ["HOLDING", "RoutingTxn", "holding"]

#: statuses in which an assigned conversation counts in its agent's load (``crm.assign``)
HOLDING = frozenset({"open", "pending", "snoozed"})
_COLUMNS = [c.name for c in conversation_routing.columns]
_KEY = "conversation_id"
#: the columns an update writes: the key last (``bulk_update`` matches on it), never created_at
_UPDATED = [*(name for name in _COLUMNS if name not in (_KEY, "created_at")), _KEY]

#: the rows of some conversations (a statement built once: every routing transaction reads rows)
_ROWS = select(conversation_routing).where(
    conversation_routing.c.conversation_id.in_(bindparam("ids", expanding=True))
)


def holding(row: dict[str, Any]) -> bool:
    """Whether ``row``'s assignee carries it in their load."""
    return row["status"] in HOLDING and row["folded_into"] is None


class RoutingTxn:
    """The connection of one routing transaction, its rows, the events to append, the pool."""

    def __init__(self, conn: Connection, now: datetime, roster: Roster | None = None) -> None:
        self.conn = conn
        self.now = now
        self._roster = roster
        self.events: list[NewEvent] = []
        #: ids of the rows changed (or created) in this transaction
        self.changed: set[str] = set()
        self._rows: dict[str, dict[str, Any] | None] = {}
        self._new: set[str] = set()
        self._dirty: set[str] = set()
        self._pool: Pool | None = None

    # --- rows -------------------------------------------------------------------------------

    def prefetch(self, conversation_ids: Iterable[str]) -> None:
        """Read the rows of ``conversation_ids`` not read yet, in as few queries as can be."""
        wanted = sorted(set(conversation_ids) - set(self._rows))
        for part in chunks(wanted):
            found = {row[_KEY]: dict(row) for row in self.conn.execute(_ROWS, {"ids": part}).mappings()}
            for cid in part:
                self._rows[cid] = found.get(cid)

    def row(self, conversation_id: str) -> dict[str, Any] | None:
        """The row as this transaction has it (None: there is none)."""
        if conversation_id not in self._rows:
            self.prefetch([conversation_id])
        return self._rows[conversation_id]

    def existing(self, conversation_id: str) -> dict[str, Any]:
        """The row, which the caller knows exists (read or created in this transaction)."""
        row = self.row(conversation_id)
        assert row is not None, f"no routing row {conversation_id}"
        return row

    def insert(self, values: dict[str, Any]) -> None:
        row = {name: None for name in _COLUMNS} | values
        row |= {"version": 1, "created_at": self.now, "updated_at": self.now}
        self._rows[row[_KEY]] = row
        self._new.add(row[_KEY])
        self.changed.add(row[_KEY])

    def set(self, conversation_id: str, **values: Any) -> None:
        row = self._rows[conversation_id]
        assert row is not None, "set() on a row this transaction has not read"
        if conversation_id not in self.changed:
            # once per transaction: the routing lock orders the transactions, so the versions
            # a row goes through are in commit order (what the knowledge base compares)
            row["version"] = (row["version"] or 0) + 1
        row.update(values, updated_at=self.now)
        if conversation_id not in self._new:
            self._dirty.add(conversation_id)
        self.changed.add(conversation_id)

    def rows_read(self) -> list[dict[str, Any]]:
        return [row for row in self._rows.values() if row is not None]

    def event(self, type_: str, conversation_id: str, data: dict[str, Any], **ids: Any) -> None:
        self.events.append(NewEvent(type=type_, conversation_id=conversation_id, data=data, **ids))

    def flush(self) -> None:
        """Write the rows created and changed since the last flush: one ``executemany`` each
        (``crm.bulk``: values converted once, straight to the driver; a flow batch writes
        hundreds of rows, and SQLAlchemy's per-parameter processing was most of their cost)."""
        if self._new:
            bulk_insert(self.conn, conversation_routing, [self.existing(cid) for cid in sorted(self._new)])
        if self._dirty:
            rows = []
            for cid in sorted(self._dirty):
                row = self._rows[cid]
                assert row is not None
                rows.append({name: row[name] for name in _UPDATED})
            bulk_update(self.conn, conversation_routing, _KEY, rows)
        self._new.clear()
        self._dirty.clear()

    def flush_contact(self, contact_id: str, but: str) -> None:
        """Flush when a row of ``contact_id`` other than ``but`` has changes not written yet, so
        a query of that contact's rows sees them (sticky assignment runs one per conversation;
        flushing everything before each cost more than the query). Routing never changes a
        row's contact, so the rows of other contacts cannot match such a query either way."""
        for cid in (*self._new, *self._dirty):
            row = self._rows[cid]
            if cid != but and row is not None and row["contact_id"] == contact_id:
                self.flush()
                return

    # --- the agents ----------------------------------------------------------------------------

    @property
    def pool(self) -> Pool:
        """The agents as this transaction sees them (read on first use, after a flush)."""
        if self._pool is None:
            self.flush()
            self._pool = Pool(
                self.conn, before_read=self.flush, before_contact_read=self.flush_contact, roster=self._roster
            )
        return self._pool

    def load_change(self, agent_id: str | None, delta: int) -> None:
        """Keep the pool's loads current after a change it did not make itself."""
        if self._pool is not None and agent_id:
            self._pool.took(agent_id, delta)
