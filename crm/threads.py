"""Thread membership, decided where every ingest process meets: the relational store.

Each ingest process threads its own messages, but which conversation a message belongs to
is decided here, one transaction per batch (:meth:`ThreadStore.assign`), so two processes
importing halves of one archive, or a run restarted after a kill, end with the same
conversations as one process reading everything in one go. The rules (the root of a thread
decides its conversation id; components only merge) are in :mod:`crm.thread_assign`.

Transactions that assign threads of one channel and account never interleave: SQLite takes
its single write lock up front (``BEGIN IMMEDIATE``); PostgreSQL takes a transaction-level
advisory lock per channel and account (in a fixed order, so two batches never deadlock) and
then reads at READ COMMITTED, seeing everything committed before it got the lock. A conflict
that still happens (a busy SQLite file, a deadlock) is retried with backoff by
``crm.engine.write`` and surfaces as ``RetriableError`` only when it persists.

Folding a conversation into another leaves an alias (``conversation_aliases``) that says
where its documents belong; knowledge-base writers move them and then mark the alias
``moved`` (:meth:`ThreadStore.mark_moved`). Until then any process may finish the move
(:meth:`ThreadStore.pending_folds`), so a crash between deciding and moving is repaired.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, select, text, update

from crm.engine import write
from crm.rollups import chunks
from crm.schema import conversation_aliases, thread_nodes
from crm.thread_assign import ThreadAssignment, ThreadLink, assign_links

__all__ = ["ThreadAssignment", "ThreadLink", "ThreadStore"]


def _lock_key(channel: str, account: str) -> int:
    """A stable signed 64-bit advisory lock key for one channel and account."""
    digest = hashlib.blake2b(f"parley-threads\x1f{channel}\x1f{account}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class ThreadStore:
    """The thread tables of one CRM database (``CRMStore.threads``); safe to share between threads."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        if engine.dialect.name == "postgresql":
            # The advisory lock serialises assignments; READ COMMITTED lets a transaction that
            # waited for it see what the previous holder committed (a SERIALIZABLE snapshot,
            # taken before the wait, would only fail and retry).
            self._writer = engine.execution_options(isolation_level="READ COMMITTED", parley_write=True)
        else:
            self._writer = engine.execution_options(parley_write=True)

    def _lock(self, conn: Connection, links: Sequence[ThreadLink]) -> None:
        if conn.dialect.name != "postgresql":
            return  # BEGIN IMMEDIATE already holds SQLite's one write lock
        for key in sorted({_lock_key(link.channel, link.account) for link in links}):
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    def assign(self, links: Sequence[ThreadLink]) -> ThreadAssignment:
        """The conversation of each link's message, and the folds this batch decided.

        One transaction; replaying links changes nothing. Raises ``RetriableError`` when
        concurrent writers keep the tables busy past the retries.
        """
        if not links:
            return ThreadAssignment()

        def work(conn: Connection) -> ThreadAssignment:
            self._lock(conn, links)
            return assign_links(conn, links)

        return write(self._writer, work)

    def is_empty(self) -> bool:
        """True when no thread has been assigned yet (see ``flows.thread_backfill``)."""
        query = select(thread_nodes.c.key).limit(1)
        return write(self._engine, lambda conn: conn.execute(query).first() is None)

    def known(self, keys: Sequence[str]) -> set[str]:
        """The node keys among ``keys`` the tables hold (a message seen, or an id one named)."""
        n = thread_nodes.c

        def work(conn: Connection) -> set[str]:
            found: set[str] = set()
            for part in chunks(sorted(set(keys))):
                found.update(conn.execute(select(n.key).where(n.key.in_(part))).scalars())
            return found

        return write(self._engine, work)

    def resolve(self, conversation_ids: Sequence[str]) -> dict[str, str]:
        """Each id -> the conversation it now is (itself unless it was folded away)."""
        a = conversation_aliases.c

        def work(conn: Connection) -> dict[str, str]:
            resolved = {cid: cid for cid in conversation_ids}
            for part in chunks(sorted(resolved)):
                query = select(a.conversation_id, a.into_id).where(a.conversation_id.in_(part))
                resolved.update((cid, into) for cid, into in conn.execute(query))
            return resolved

        return write(self._engine, work)  # a reading transaction, retried like writes when busy

    def pending_folds(self, *, limit: int = 200, created_before: datetime | None = None) -> dict[str, str]:
        """Folded conversations whose documents may not have been moved yet -> where they go,
        oldest first (only those folded before ``created_before``, when given)."""
        a = conversation_aliases.c
        query = select(a.conversation_id, a.into_id).where(a.moved.is_(False))
        if created_before is not None:
            query = query.where(a.created_at < created_before)
        query = query.order_by(a.created_at, a.conversation_id).limit(limit)
        return write(self._engine, lambda conn: {cid: into for cid, into in conn.execute(query)})

    def mark_moved(self, folds: dict[str, str]) -> None:
        """Record that each folded conversation's documents now sit in its target.

        Only where the alias still points there: a fold re-pointed meanwhile stays pending.
        """
        if not folds:
            return
        a = conversation_aliases.c

        def work(conn: Connection) -> None:
            for source, into in sorted(folds.items()):
                query = update(conversation_aliases).where(a.conversation_id == source, a.into_id == into)
                conn.execute(query.values(moved=True))

        write(self._writer, work)
