"""The embedded knowledge base: one SQLite file with FTS5, created on first use.

Documents are stored as their pydantic JSON plus indexed columns; ``message_fts`` indexes
text, subject and author names analysed in the message's language (``kb.languages``: folded,
stop words replaced by a placeholder, stemmed by that language's Snowball stemmer), written as
space-separated tokens that FTS5's ``unicode61`` only splits, with the analysis in its ``lang``
column (bm25 weight 0); ``analyses`` lists the analyses the index holds, which queries expand
over (``kb.sqlite.query``). Layout 5; a knowledge base of an older layout is refused with
what to do (``parley kb migrate --reindex``, ``kb.migrate``). Multi-valued fields (author
keys, entities, hashtags, mentions, sites; conversation tags, status, assignee) live in
``message_terms`` / ``conversation_terms`` so field operators and facets are index lookups.

Safe from many threads (one connection per thread) and from several processes at once (WAL,
``busy_timeout``; writes take ``BEGIN IMMEDIATE`` so two writers queue instead of deadlocking).
Upserts are idempotent: a document whose JSON is identical to the stored one is "unchanged".
Every read-modify-write of a conversation (``update_conversation``, ``save_rollups``) runs
inside its ``BEGIN IMMEDIATE`` transaction, so triage changes and rollups never overwrite
each other, and the routing projection's version check (``kb.conversations.apply_triage``:
never an older ``triage_version`` over a newer one) is atomic.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from hub.errors import FatalError, ParleyError, RetriableError
from hub.models import Conversation, Message
from hub.sqlite_wal import enable_wal
from kb.analysis import (
    MULTI_VALUED_FIELDS,
    conversation_field_values,
    message_field_values,
)
from kb.base import OnUnreadable, SearchRequest, SearchResult, UpsertResult
from kb.common import read_document
from kb.conversations import ROLLUP_MESSAGE_LIMIT, apply_triage, check_triage_changes, merge_rollup, roll_up
from kb.languages import analyse
from kb.limits import Deadline, SearchLimits
from kb.matcher import analyse_message, near_in_column
from kb.query import Near, Text
from kb.search_rules import conversation_analysis
from kb.sqlite.cache import MAX_ENTRIES as MAX_SEARCH_CACHE_ENTRIES
from kb.sqlite.cache import Memo, SearchCache
from kb.sqlite.conversation_search import search_conversations
from kb.sqlite.message_search import search_messages
from kb.sqlite.tables import (
    DOC_FROM,
    INSERT_CONVERSATION,
    INSERT_MESSAGE,
    SCHEMA,
    SCHEMA_VERSION,
    UPDATE_MESSAGE,
    chunks,
    conversation_messages,
    delete_conversation_rows,
    existing_docs,
)

__all__ = ["SCHEMA_VERSION", "SQLiteKB"]

#: SQLite VM instructions between two deadline checks: one every 2-4 ms of work here (SQLite
#: runs 25-50 million a second), which stops a runaway statement that soon after its deadline.
#: Not fewer: each check is a Python call, so it takes the GIL, and with other requests' threads
#: running Python a statement then waits for it (up to the 5 ms switch interval) instead of
#: running on another core. At 1,000 a faceted search made 306 checks, and under 8 clients
#: (``bench/api.py``) its p95 was 99.9 ms against 63.6 ms at 100,000
_DEADLINE_CHECK_STEPS = 100_000


def _ts(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


@lru_cache(maxsize=256)
def _near_node(spec_json: str) -> Near:
    spec = json.loads(spec_json)
    return Near(tuple(Text(tuple(t), bool(p)) for t, p in spec["ops"]), spec["n"], spec["f"])


def _near_check(
    text: str | None, subject: str | None, author: str | None, analysis: str | None, spec_json: str
) -> int:
    # Registered as parley_near(): FTS5's NEAR is unordered, so ordered NEAR/nf is narrowed by
    # FTS5 and confirmed here with the same analysis the in-memory matcher uses. The columns
    # hold analysed tokens already (space-separated); the operands are analysed like them.
    node = _near_node(spec_json)
    for column in (text, subject, author):
        if column and near_in_column(node, column.split(" "), analysis or ""):
            return 1
    return 0


def indexed_text(text: str | None, analysis: str) -> str:
    """``text`` as ``message_fts`` / ``conversation_fts`` store it: analysed tokens, spaced."""
    return " ".join(analyse(text or "", analysis))


#: SQLite primary result codes that mean the file itself is damaged or not a database
_CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
#: the same, by message, for errors raised without a result code
_CORRUPT_MESSAGES = ("malformed", "not a database", "file is encrypted")


def _translate(exc: sqlite3.Error, path: Path) -> ParleyError | None:
    """The hub error for ``exc``, or None when it is none of the hub's business to rename.

    Only a busy/locked database is retriable and only genuine corruption is fatal ("restore
    it"); anything else (a bad binding, a constraint) is a bug to surface as it is.
    """
    message = str(exc)
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF  # extended codes keep the primary
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or (
        isinstance(exc, sqlite3.OperationalError) and ("locked" in message or "busy" in message)
    ):
        return RetriableError(f"knowledge base {path} is busy: {message}")
    if code in _CORRUPT_CODES or (
        isinstance(exc, sqlite3.DatabaseError) and any(m in message for m in _CORRUPT_MESSAGES)
    ):
        return FatalError(
            f"knowledge base {path} is unreadable ({message}); restore it or point PARLEY_DATA_DIR elsewhere"
        )
    return None


@contextmanager
def _translated(path: Path) -> Iterator[None]:
    """Raise ``sqlite3`` errors as the hub's (see :func:`_translate`), the rest unchanged."""
    try:
        yield
    except sqlite3.Error as exc:
        translated = _translate(exc, path)
        if translated is None:
            raise
        raise translated from exc


class SQLiteKB:
    """``KnowledgeBase`` over one SQLite file (see the module docstring for guarantees)."""

    def __init__(
        self,
        path: Path,
        *,
        timeout_s: float = 30.0,
        limits: SearchLimits | None = None,
        cache_mib: int = 8,
        search_cache_entries: int = MAX_SEARCH_CACHE_ENTRIES,
    ) -> None:
        self.path = Path(path)
        self._cache_kib = cache_mib * 1024
        #: the query budget and deadline every search keeps (``kb.limits``)
        self.limits = limits or SearchLimits()
        #: searches' totals, facets and ranked windows while the data is unchanged
        #: (``kb.sqlite.cache``; 0 entries: none kept)
        self.search_cache = SearchCache(search_cache_entries)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        #: the last ``upsert_messages``' documents with the messages they were dumped from: the
        #: flow settles those messages' conversations next, and a row still holding that very
        #: text is the message already in hand (parsing it again was a quarter of the settle)
        self._written: Mapping[str, tuple[str, Message]] = {}
        with _translated(self.path):
            conn = self._conn()
            # Both reads in one snapshot, and the schema created in one transaction: a second
            # process opening a fresh file meanwhile sees no tables or all of them with their
            # layout, never tables without it ("layout 0" for a file being created).
            conn.execute("BEGIN")
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                has_tables = conn.execute(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'messages'"
                ).fetchone()[0]
            finally:
                conn.execute("COMMIT")
            if has_tables and version != SCHEMA_VERSION:
                raise FatalError(
                    f"the knowledge base {self.path} has layout {version}, this Parley needs"
                    f" {SCHEMA_VERSION}: run `parley kb migrate --reindex` to rebuild it in place from"
                    " its own documents (or move it away and ingest again)"
                )
            conn.executescript(f"BEGIN IMMEDIATE;{SCHEMA}PRAGMA user_version = {SCHEMA_VERSION};COMMIT;")

    # -- connections ---------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with _translated(self.path):
            conn = sqlite3.connect(
                self.path, timeout=self._timeout_s, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout_s * 1000)}")
            enable_wal(conn, timeout_s=self._timeout_s)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA cache_size = -{self._cache_kib}")
            conn.execute("PRAGMA temp_store = MEMORY")
        conn.create_function("parley_near", 5, _near_check, deterministic=True)
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        with _translated(self.path):
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                # after the commit (or a failed one): what searches kept may be stale now
                self.search_cache.invalidate()

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with _translated(self.path):
            return self._conn().execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # -- writes --------------------------------------------------------------------------------

    def upsert_messages(self, messages: Sequence[Message]) -> UpsertResult:
        latest = {m.id: m for m in messages}  # a batch may repeat an id: the last one wins
        docs = {mid: m.model_dump_json() for mid, m in latest.items()}
        result = UpsertResult()
        with self._write() as conn:
            existing = existing_docs(conn, "messages", list(latest))
            # Under BEGIN IMMEDIATE no other writer can take rowids, so new rows get explicit
            # ones and everything goes through executemany (per-row execute() dominated).
            next_rowid = int(conn.execute("SELECT coalesce(max(rowid), 0) FROM messages").fetchone()[0]) + 1
            inserts: list[tuple[Any, ...]] = []
            updates: list[tuple[Any, ...]] = []
            fts_rows: list[tuple[Any, ...]] = []
            term_rows: list[tuple[Any, ...]] = []
            doc_rows: list[tuple[int, str]] = []
            analyses: set[str] = set()
            for mid, message in latest.items():
                doc = docs[mid]
                if mid in existing:
                    rowid, old = existing[mid]
                    if old == doc:
                        result.unchanged.append(mid)
                        continue
                    result.updated.append(mid)
                else:
                    rowid, next_rowid = next_rowid, next_rowid + 1
                    result.created.append(mid)
                fields = message_field_values(message)
                row = (
                    message.conversation_id,
                    fields["channel"][0],
                    message.account,
                    str(message.direction),
                    message.author.id if message.author else None,
                    fields["lang"][0],
                    message.enrichment.sentiment_label,
                    fields["intent"][0] if fields["intent"] else None,
                    message.created_at.timestamp(),
                )
                (updates if mid in existing else inserts).append(
                    (*row, rowid) if mid in existing else (rowid, mid, *row)
                )
                doc_rows.append((rowid, doc))
                # the analysis kb.matcher makes (kept a while: the flow's routing reads it next)
                analysed = analyse_message(message)
                analyses.add(analysed.analysis)
                text, subject, author = (" ".join(column) for column in analysed.columns)
                fts_rows.append((rowid, text, subject, author, analysed.analysis))
                term_rows += [(name, value, rowid) for name in MULTI_VALUED_FIELDS for value in fields[name]]
            if updates:
                stale = [(u[-1],) for u in updates]
                conn.executemany(UPDATE_MESSAGE, updates)
                conn.executemany("DELETE FROM message_fts WHERE rowid = ?", stale)
                conn.executemany("DELETE FROM message_terms WHERE mrow = ?", stale)
            conn.executemany(INSERT_MESSAGE, inserts)
            conn.executemany("INSERT OR REPLACE INTO message_docs (rowid, doc) VALUES (?, ?)", doc_rows)
            conn.executemany(
                "INSERT INTO message_fts (rowid, text, subject, author, lang) VALUES (?,?,?,?,?)", fts_rows
            )
            conn.executemany(
                "INSERT OR IGNORE INTO analyses (name) VALUES (?)", [(a,) for a in sorted(analyses)]
            )
            conn.executemany(
                "INSERT OR IGNORE INTO message_terms (field, value, mrow) VALUES (?,?,?)", term_rows
            )
        self._written = {mid: (docs[mid], message) for mid, message in latest.items()}
        return result

    def upsert_conversations(self, conversations: Sequence[Conversation]) -> UpsertResult:
        latest = {c.id: c for c in conversations}
        result = UpsertResult()
        with self._write() as conn:
            existing = existing_docs(conn, "conversations", list(latest))
            for cid, conversation in latest.items():
                doc = conversation.model_dump_json()
                if cid in existing and existing[cid][1] == doc:
                    result.unchanged.append(cid)
                    continue
                self._write_conversation(conn, conversation, doc, existing.get(cid, (None, ""))[0])
                (result.updated if cid in existing else result.created).append(cid)
        return result

    def save_rollups(
        self,
        conversations: Sequence[Conversation],
        *,
        reopen: Collection[str] = (),
        triage: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Merge rollups into the stored documents (``KnowledgeBase.save_rollups``).

        Read, merge and write happen in one ``BEGIN IMMEDIATE`` transaction, as in
        ``update_conversation``: SQLite serialises the two, so neither loses the other's fields.
        """
        latest = {c.id: c for c in conversations}
        reopened = set(reopen)
        with self._write() as conn:
            existing = existing_docs(conn, "conversations", list(latest))
            for cid, rollup in latest.items():
                self._save_rollup(
                    conn, rollup, existing.get(cid), reopen=cid in reopened, triage=(triage or {}).get(cid)
                )

    def _save_rollup(
        self,
        conn: sqlite3.Connection,
        rollup: Conversation,
        existing: tuple[int, str] | None,
        *,
        reopen: bool,
        triage: Mapping[str, Any] | None,
    ) -> None:
        """Merge ``rollup`` into the stored document (``existing``: its rowid and JSON, None
        when there is none yet) and write the result where it changed, inside ``conn``'s
        transaction."""
        rowid, old_doc = existing if existing is not None else (None, "")
        stored = Conversation.model_validate_json(old_doc) if rowid is not None else None
        merged = merge_rollup(stored, rollup, reopen=reopen, triage=triage)
        doc = merged.model_dump_json()
        if doc != old_doc:
            self._write_conversation(conn, merged, doc, rowid)

    def _write_conversation(
        self, conn: sqlite3.Connection, conversation: Conversation, doc: str, rowid: int | None
    ) -> None:
        row = (
            conversation.channel.lower(),
            conversation.account,
            str(conversation.status),
            conversation.assignee,
            conversation.queue,
            str(conversation.priority),
            _ts(conversation.first_message_at),
            _ts(conversation.last_message_at),
            doc,
        )
        if rowid is None:
            cursor = conn.execute(INSERT_CONVERSATION, (conversation.id, *row))
            rowid = int(cursor.lastrowid or 0)
        else:
            conn.execute(
                "UPDATE conversations SET channel=?, account=?, status=?, assignee=?, queue=?, priority=?,"
                " first_ts=?, last_ts=?, doc=? WHERE rowid=?",
                (*row, rowid),
            )
            conn.execute("DELETE FROM conversation_terms WHERE crow = ?", (rowid,))
            conn.execute("DELETE FROM conversation_fts WHERE rowid = ?", (rowid,))
        if conversation.subject:
            analysis = conversation_analysis(conversation)
            conn.execute(
                "INSERT INTO conversation_fts (rowid, subject, lang) VALUES (?, ?, ?)",
                (rowid, indexed_text(conversation.subject, analysis), analysis),
            )
            conn.execute("INSERT OR IGNORE INTO analyses (name) VALUES (?)", (analysis,))
        values = conversation_field_values(conversation)
        values["lang"] = [lang.lower() for lang in conversation.languages]
        conn.executemany(
            "INSERT OR IGNORE INTO conversation_terms (field, value, crow) VALUES (?,?,?)",
            [(name, value, rowid) for name, vals in values.items() for value in vals],
        )

    def delete_conversations(self, conversation_ids: Sequence[str]) -> int:
        deleted = 0
        with self._write() as conn:
            for chunk in chunks(list(dict.fromkeys(conversation_ids))):
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(f"SELECT rowid FROM conversations WHERE id IN ({marks})", tuple(chunk))
                rowids = [r for (r,) in rows.fetchall()]
                delete_conversation_rows(conn, rowids)
                deleted += len(rowids)
        return deleted

    def settle_conversations(
        self,
        conversation_ids: Sequence[str],
        *,
        reopen: Collection[str] = (),
        triage: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[str]:
        """Roll up and save, or delete, each conversation in one ``BEGIN IMMEDIATE``
        transaction (``kb.base.AtomicSettle``): SQLite lets no other writer in between, so
        the roll-up is never stale and is read once, where the generic settle reads it again
        after saving."""
        ids = list(dict.fromkeys(conversation_ids))
        reopened, triage = set(reopen), triage or {}
        saved: list[str] = []
        with self._write() as conn:
            existing = existing_docs(conn, "conversations", ids)
            threads = conversation_messages(conn, ids, ROLLUP_MESSAGE_LIMIT, known=self._written)
            emptied: list[int] = []
            for cid in ids:
                messages = threads.get(cid)
                stored = existing.get(cid)
                if not messages:
                    if stored is not None:
                        emptied.append(stored[0])
                    continue
                saved.append(cid)
                rollup = roll_up(cid, messages)
                self._save_rollup(conn, rollup, stored, reopen=cid in reopened, triage=triage.get(cid))
            delete_conversation_rows(conn, emptied)
        return sorted(saved)

    def update_conversation(self, conversation_id: str, changes: dict[str, Any]) -> Conversation | None:
        check_triage_changes(changes)
        with self._write() as conn:
            row = conn.execute(
                "SELECT rowid, doc FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                return None
            current = Conversation.model_validate_json(row[1])
            # an older routing version than the document shows is refused (apply_triage)
            updated = apply_triage(current, changes, validate=True)
            doc = updated.model_dump_json()
            if doc != row[1]:
                self._write_conversation(conn, updated, doc, row[0])
        return updated

    # -- reads ---------------------------------------------------------------------------------

    def _docs(self, table: str, ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            found.update(self._read(f"SELECT t.id, {DOC_FROM[table]} AND t.id IN ({marks})", tuple(chunk)))
        return found

    def get_message(self, message_id: str) -> Message | None:
        return self.get_messages([message_id]).get(message_id)

    def get_messages(self, message_ids: Sequence[str]) -> dict[str, Message]:
        return {k: Message.model_validate_json(v) for k, v in self._docs("messages", message_ids).items()}

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        return self.get_conversations([conversation_id]).get(conversation_id)

    def get_conversations(self, conversation_ids: Sequence[str]) -> dict[str, Conversation]:
        docs = self._docs("conversations", conversation_ids)
        return {k: Conversation.model_validate_json(v) for k, v in docs.items()}

    def conversation_messages(self, conversation_id: str, limit: int = 500) -> list[Message]:
        with _translated(self.path):
            return conversation_messages(self._conn(), [conversation_id], limit).get(conversation_id, [])

    @contextmanager
    def _deadline(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, whose statements stop once ``limits.deadline_s`` passes.

        SQLite calls the progress handler every :data:`_DEADLINE_CHECK_STEPS` instructions and
        abandons the statement ("interrupted") once it answers true; that becomes
        ``QueryTooExpensive``. It runs in the thread doing the work, so the search stops at the
        deadline whether or not its client is still waiting for the answer.
        """
        conn = self._conn()
        deadline = Deadline(self.limits.deadline_s)
        if deadline.remaining() is None:
            yield conn
            return
        conn.set_progress_handler(deadline.passed, _DEADLINE_CHECK_STEPS)
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            if deadline.passed():
                raise deadline.exceeded() from exc
            raise
        finally:
            conn.set_progress_handler(None, 0)

    def _memo(self, conn: sqlite3.Connection) -> Memo:
        """The search cache as of now for a search on ``conn`` (this thread's connection).

        ``PRAGMA data_version`` changes when another connection (this process's or another's)
        committed since this connection last asked: then nothing kept may be reused. This
        process's own writes clear the cache in ``_write``."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if getattr(self._local, "data_version", None) != version:
            self.search_cache.invalidate()
            self._local.data_version = version
        return self.search_cache.memo(self.search_cache.generation)

    def search_messages(self, request: SearchRequest) -> SearchResult[Message]:
        with _translated(self.path), self._deadline() as conn:
            return search_messages(conn, request, self.limits, self._memo(conn))

    def search_conversations(self, request: SearchRequest) -> SearchResult[Conversation]:
        with _translated(self.path), self._deadline() as conn:
            return search_conversations(conn, request, self.limits, self._memo(conn))

    def _iter_docs(self, table: str, batch_size: int) -> Iterator[tuple[str, str]]:
        """(id, document) of every row of ``table`` ("messages" or "conversations") in rowid order."""
        last = 0
        while True:
            rows = self._read(
                f"SELECT t.rowid, t.id, {DOC_FROM[table]} AND t.rowid > ? ORDER BY t.rowid LIMIT ?",
                (last, batch_size),
            )
            if not rows:
                return
            for _, doc_id, doc in rows:
                yield doc_id, doc
            last = rows[-1][0]

    def iter_messages(
        self, batch_size: int = 1000, on_unreadable: OnUnreadable | None = None
    ) -> Iterator[Message]:
        """Every message in insertion order (stable across calls: migrations resume on it)."""
        for doc_id, doc in self._iter_docs("messages", batch_size):
            message = read_document(Message, "message", doc_id, doc, on_unreadable)
            if message is not None:
                yield message

    def iter_conversations(
        self, batch_size: int = 1000, on_unreadable: OnUnreadable | None = None
    ) -> Iterator[Conversation]:
        for doc_id, doc in self._iter_docs("conversations", batch_size):
            conversation = read_document(Conversation, "conversation", doc_id, doc, on_unreadable)
            if conversation is not None:
                yield conversation

    def refresh(self) -> None:
        """Nothing to do: every committed write is visible to the next read."""

    def count_messages(self) -> int:
        return int(self._read("SELECT count(*) FROM messages")[0][0])

    def count_conversations(self) -> int:
        return int(self._read("SELECT count(*) FROM conversations")[0][0])
