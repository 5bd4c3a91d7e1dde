"""Rebuild an embedded knowledge base of an older layout in the current one, from its own documents.

``parley kb migrate --reindex`` calls :func:`reindex_sqlite_kb`. Every layout keeps each
document's full JSON (``message_docs.doc``, ``conversations.doc``); only the indexes around
them change (layout 5 analyses text per language, ``kb.languages``). So an old file is read
as documents (:class:`StoredDocuments`, which never looks at its indexes) and copied with
``kb.migrate.migrate_kb`` into a new file beside it: resumable from its checkpoint, verified by
counts, and a document that no longer validates is reported, not copied. Only a verified copy
replaces the old file, which is kept as ``<name>.layout<N>.bak`` until the user removes it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hub.models import Conversation, Message
from kb.base import OnUnreadable
from kb.common import read_document
from kb.migrate import MigrationReport, migrate_kb
from kb.sqlite.store import SCHEMA_VERSION, SQLiteKB

__all__ = ["ReindexOutcome", "StoredDocuments", "layout_of", "reindex_sqlite_kb"]

#: layouts whose documents this reader knows where to find (message_docs came with layout 3)
READABLE_LAYOUTS = range(3, SCHEMA_VERSION + 1)


def layout_of(path: Path) -> int | None:
    """The layout (``PRAGMA user_version``) of the knowledge base at ``path``; None if absent."""
    if not path.exists():
        return None
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


class StoredDocuments:
    """The documents of a knowledge-base file of any readable layout, read as documents only.

    Enough of a knowledge base to be the source of ``kb.migrate.migrate_kb``.
    """

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path)

    def _rows(self, sql: str, batch_size: int) -> Iterator[tuple[str, str]]:
        last = 0
        while rows := self._conn.execute(sql, (last, batch_size)).fetchall():
            for _, doc_id, doc in rows:
                yield doc_id, doc
            last = rows[-1][0]

    def iter_messages(
        self, batch_size: int = 1000, on_unreadable: OnUnreadable | None = None
    ) -> Iterator[Message]:
        sql = (
            "SELECT m.rowid, m.id, d.doc FROM messages m JOIN message_docs d ON d.rowid = m.rowid"
            " WHERE m.rowid > ? ORDER BY m.rowid LIMIT ?"
        )
        for doc_id, doc in self._rows(sql, batch_size):
            message = read_document(Message, "message", doc_id, doc, on_unreadable)
            if message is not None:
                yield message

    def iter_conversations(
        self, batch_size: int = 1000, on_unreadable: OnUnreadable | None = None
    ) -> Iterator[Conversation]:
        sql = "SELECT rowid, id, doc FROM conversations WHERE rowid > ? ORDER BY rowid LIMIT ?"
        for doc_id, doc in self._rows(sql, batch_size):
            conversation = read_document(Conversation, "conversation", doc_id, doc, on_unreadable)
            if conversation is not None:
                yield conversation

    def count_messages(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM messages").fetchone()[0])

    def count_conversations(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM conversations").fetchone()[0])

    def close(self) -> None:
        # fold the write-ahead log back into the file, so the file alone is the whole old store
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()


@dataclass(frozen=True)
class ReindexOutcome:
    """What :func:`reindex_sqlite_kb` did: the copy's report, and where the old file went."""

    from_layout: int
    report: MigrationReport
    #: the old file, kept (None when the copy was not verified and nothing was replaced)
    backup: Path | None


def reindex_sqlite_kb(path: Path, *, on_progress: Callable[[int, int], None] | None = None) -> ReindexOutcome:
    """Rebuild the knowledge base at ``path`` in layout :data:`SCHEMA_VERSION`.

    ``ValueError`` when there is nothing to rebuild (no file, or already current) or the
    layout is too old to read. Interrupted, the same call resumes the copy. Only a verified
    copy replaces ``path``; otherwise the report says what is missing and ``path`` is untouched.
    """
    layout = layout_of(path)
    if layout is None:
        raise ValueError(f"there is no knowledge base at {path}")
    if layout == SCHEMA_VERSION:
        raise ValueError(f"the knowledge base {path} already has layout {SCHEMA_VERSION}")
    if layout not in READABLE_LAYOUTS:
        raise ValueError(
            f"the knowledge base {path} has layout {layout}, older than this Parley can read:"
            " move it away and ingest again"
        )
    fresh = path.with_name(f"{path.name}.layout{SCHEMA_VERSION}")
    state_path = path.with_name(f"{path.name}.reindex.json")
    source = StoredDocuments(path)
    target = SQLiteKB(fresh)
    try:
        report = migrate_kb(source, target, state_path=state_path, on_progress=on_progress)
    finally:
        target.close()
        source.close()
    if not report.verified:
        return ReindexOutcome(layout, report, None)
    backup = path.with_name(f"{path.name}.layout{layout}.bak")
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)  # checkpointed into the file
    path.replace(backup)
    for suffix in ("-wal", "-shm"):
        stale = fresh.with_name(fresh.name + suffix)
        if stale.exists():
            stale.replace(path.with_name(path.name + suffix))
    fresh.replace(path)
    state_path.unlink(missing_ok=True)
    return ReindexOutcome(layout, report, backup)
