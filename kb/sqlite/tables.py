"""The embedded knowledge base's tables, and the statements that read and write their rows
inside a transaction the caller holds (``kb.sqlite.store.SQLiteKB`` opens the transactions).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal

from hub.models import Message
from kb.common import read_document

__all__ = [
    "DOC_FROM",
    "INSERT_CONVERSATION",
    "INSERT_MESSAGE",
    "SCHEMA",
    "SCHEMA_VERSION",
    "UPDATE_MESSAGE",
    "chunks",
    "conversation_messages",
    "delete_conversation_rows",
    "existing_docs",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT,
    channel TEXT NOT NULL,
    account TEXT NOT NULL,
    direction TEXT NOT NULL,
    author_id TEXT,
    language TEXT NOT NULL,
    sentiment_label TEXT,
    intent TEXT,
    created_ts REAL NOT NULL
);
-- Documents live apart from the indexed columns: scans and rowid lookups over a narrow
-- messages table touch a fraction of the pages (measured 3x faster for OR queries at 100k).
CREATE TABLE IF NOT EXISTS message_docs (rowid INTEGER PRIMARY KEY, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation_id, created_ts);
CREATE INDEX IF NOT EXISTS messages_created ON messages(created_ts);
CREATE INDEX IF NOT EXISTS messages_channel ON messages(channel, created_ts);
CREATE INDEX IF NOT EXISTS messages_author ON messages(author_id);
CREATE VIRTUAL TABLE IF NOT EXISTS message_fts USING fts5(
    text, subject, author, lang, tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3'
);
CREATE TABLE IF NOT EXISTS analyses (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS message_terms (
    field TEXT NOT NULL, value TEXT NOT NULL, mrow INTEGER NOT NULL,
    PRIMARY KEY (field, value, mrow)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS message_terms_row ON message_terms(mrow);
CREATE TABLE IF NOT EXISTS conversations (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    account TEXT NOT NULL,
    status TEXT NOT NULL,
    assignee TEXT,
    queue TEXT,
    priority TEXT NOT NULL,
    first_ts REAL NOT NULL,
    last_ts REAL NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_last ON conversations(last_ts);
CREATE INDEX IF NOT EXISTS conversations_status ON conversations(status, last_ts);
CREATE TABLE IF NOT EXISTS conversation_terms (
    field TEXT NOT NULL, value TEXT NOT NULL, crow INTEGER NOT NULL,
    PRIMARY KEY (field, value, crow)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS conversation_terms_row ON conversation_terms(crow);
CREATE VIRTUAL TABLE IF NOT EXISTS conversation_fts USING fts5(
    subject, lang, tokenize = 'unicode61 remove_diacritics 0'
);
-- bm25 weights: a match in the text counts most, then the subject, then the author's names;
-- the analysis column only selects rows
INSERT INTO message_fts (message_fts, rank) VALUES ('rank', 'bm25(4.0, 2.0, 1.0, 0.0)');
INSERT INTO conversation_fts (conversation_fts, rank) VALUES ('rank', 'bm25(1.0, 0.0)');
"""

INSERT_MESSAGE = (
    "INSERT INTO messages (rowid, id, conversation_id, channel, account, direction, author_id,"
    " language, sentiment_label, intent, created_ts) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)
UPDATE_MESSAGE = (
    "UPDATE messages SET conversation_id=?, channel=?, account=?, direction=?, author_id=?,"
    " language=?, sentiment_label=?, intent=?, created_ts=? WHERE rowid=?"
)
INSERT_CONVERSATION = (
    "INSERT INTO conversations (id, channel, account, status, assignee, queue, priority,"
    " first_ts, last_ts, doc) VALUES (?,?,?,?,?,?,?,?,?,?)"
)
#: "SELECT ..., " + this + " AND <condition>" reads documents with their table's columns as t
DOC_FROM = {
    "messages": "d.doc FROM messages t JOIN message_docs d ON d.rowid = t.rowid WHERE 1",
    "conversations": "t.doc FROM conversations t WHERE 1",
}
#: the layout of the file; 5: text analysed per language (kb.languages), the lang column
SCHEMA_VERSION = 5
CHUNK = 500


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    """``items`` in slices of ``size`` (SQLite binds at most so many parameters a statement)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def existing_docs(
    conn: sqlite3.Connection, table: Literal["messages", "conversations"], ids: Sequence[str]
) -> dict[str, tuple[int, str]]:
    """id -> (rowid, stored JSON) of the documents of ``table`` among ``ids``."""
    found: dict[str, tuple[int, str]] = {}
    for chunk in chunks(ids):
        marks = ",".join("?" * len(chunk))
        for doc_id, rowid, doc in conn.execute(
            f"SELECT t.id, t.rowid, {DOC_FROM[table]} AND t.id IN ({marks})", tuple(chunk)
        ):
            found[doc_id] = (rowid, doc)
    return found


def delete_conversation_rows(conn: sqlite3.Connection, rowids: Sequence[int]) -> None:
    """Remove conversation documents and their search rows."""
    rows = [(rowid,) for rowid in rowids]
    conn.executemany("DELETE FROM conversation_terms WHERE crow = ?", rows)
    conn.executemany("DELETE FROM conversation_fts WHERE rowid = ?", rows)
    conn.executemany("DELETE FROM conversations WHERE rowid = ?", rows)


def conversation_messages(
    conn: sqlite3.Connection,
    conversation_ids: Sequence[str],
    limit: int,
    known: Mapping[str, tuple[str, Message]] | None = None,
) -> dict[str, list[Message]]:
    """The first ``limit`` readable messages of each conversation, oldest first (as
    ``SQLiteKB.conversation_messages`` reads one conversation), one statement a chunk.

    ``known`` maps message ids to a document text and the message it was dumped from: a row
    whose document is exactly that text is that message, taken as it is instead of parsed.
    """
    known = known or {}
    found: dict[str, list[Message]] = {}
    for chunk in chunks(conversation_ids):
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            "SELECT cid, id, doc FROM (SELECT t.conversation_id AS cid, t.id AS id, d.doc AS doc,"
            " row_number() OVER (PARTITION BY t.conversation_id ORDER BY t.created_ts, t.rowid) AS n"
            " FROM messages t JOIN message_docs d ON d.rowid = t.rowid"
            f" WHERE t.conversation_id IN ({marks})) WHERE n <= ? ORDER BY cid, n",
            (*chunk, limit),
        )
        for cid, mid, doc in rows:
            hit = known.get(mid)
            message = (
                hit[1] if hit is not None and hit[0] == doc else read_document(Message, "message", mid, doc)
            )
            if message is not None:
                found.setdefault(cid, []).append(message)
    return found
