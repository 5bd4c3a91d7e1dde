"""Crafted cursors are the user's mistake (400), and only a damaged file is "restore it".

A cursor is opaque base64 JSON the client hands back; a forged one must never reach SQL as
a dict or list (sqlite3 raises ProgrammingError on such a binding, which used to be reported
as a corrupt knowledge base). Conversely, SQLite errors that are not corruption must surface
as what they are, not as a FatalError telling the user to restore a healthy file.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hub.errors import FatalError, InvalidInput, RetriableError
from kb.base import KnowledgeBase, SearchRequest
from kb.common import CursorError, decode_cursor, encode_cursor
from kb.elasticsearch import ElasticsearchKB
from kb.sqlite import SQLiteKB
from kb.sqlite.store import _translate
from tests.kb.docs import CONVERSATIONS, MESSAGES


def _forge(payload: Any) -> str:
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


#: cursors a client could send: right sort name, wrong shapes and types inside
FORGED = {
    "dict value": _forge(["newest", [{"a": 1}, 5]]),
    "list value": _forge(["newest", [[1, 2], 5]]),
    "bool value": _forge(["newest", [True, 5]]),
    "int past 64 bits": _forge(["newest", [2**70, 5]]),
    "NaN": _forge('["newest", [NaN, 5]]'),
    "Infinity": _forge('["newest", [Infinity, 5]]'),
    "too few values": _forge(["newest", [1.0]]),
    "too many values": _forge(["newest", [1.0, 2, 3]]),
    "key not a list": _forge(["newest", {"ts": 1}]),
    "not a pair": _forge(["newest", [1.0, 5], "extra"]),
    "an object": _forge({"newest": [1.0, 5]}),
    "deeply nested": _forge("[" * 5000 + "]" * 5000),
    "not utf-8": base64.urlsafe_b64encode(b"\xff\xfe[").decode(),
}


@pytest.mark.parametrize("cursor", list(FORGED.values()), ids=list(FORGED))
def test_decode_cursor_refuses_forged_keys(cursor: str) -> None:
    with pytest.raises(CursorError):
        decode_cursor(cursor, "newest", length=2)


def test_decode_cursor_round_trips_every_scalar_key() -> None:
    key = ["text", 12, -3.5, None, 2**63 - 1]
    assert decode_cursor(encode_cursor("oldest", key), "oldest") == key
    assert decode_cursor(encode_cursor("oldest", key), "oldest", length=5) == key
    with pytest.raises(CursorError, match="another sort"):
        decode_cursor(encode_cursor("oldest", key), "newest")


@pytest.mark.parametrize("cursor", list(FORGED.values()), ids=list(FORGED))
def test_forged_cursor_is_invalid_input_in_both_searches(loaded_kb: KnowledgeBase, cursor: str) -> None:
    for search in (loaded_kb.search_messages, loaded_kb.search_conversations):
        with pytest.raises(CursorError):
            search(SearchRequest(limit=2, cursor=cursor))
    assert loaded_kb.search_messages(SearchRequest()).total == len(MESSAGES)  # the store is fine


def test_unknown_facet_is_invalid_input_naming_the_choices(loaded_kb: KnowledgeBase) -> None:
    for search in (loaded_kb.search_messages, loaded_kb.search_conversations):
        with pytest.raises(InvalidInput, match="unknown facet 'nope'") as raised:
            search(SearchRequest(facets=["nope"]))
        assert "channel" in raised.value.expected


def test_a_corrupt_stored_document_is_not_invalid_input(tmp_path: Path) -> None:
    kb = SQLiteKB(tmp_path / "kb.sqlite3")
    kb.upsert_messages(MESSAGES)
    with kb._write() as conn:
        conn.execute("UPDATE message_docs SET doc = ? WHERE rowid = 1", ('{"channel": 5}',))
    # a search leaves it out (tests/kb/test_unreadable.py), never blaming the query ...
    result = kb.search_messages(SearchRequest(limit=50))
    assert len(result.hits) == len(MESSAGES) - 1 and result.unreadable == [MESSAGES[0].id]
    # ... and read by id it raises pydantic's ValidationError, a ValueError that must not pass
    # for the user's mistake
    with pytest.raises(ValidationError) as raised:
        kb.get_message(MESSAGES[0].id)
    assert not isinstance(raised.value, InvalidInput)
    kb.close()


def test_only_corruption_is_fatal() -> None:
    path = Path("kb.sqlite3")
    binding = sqlite3.ProgrammingError("Error binding parameter 1: type 'dict' is not supported")
    assert _translate(binding, path) is None
    assert _translate(sqlite3.IntegrityError("UNIQUE constraint failed: messages.id"), path) is None
    assert _translate(sqlite3.OperationalError("no such table: nope"), path) is None
    assert isinstance(_translate(sqlite3.OperationalError("database is locked"), path), RetriableError)
    for message in ("database disk image is malformed", "file is not a database", "file is encrypted"):
        translated = _translate(sqlite3.DatabaseError(message), path)
        assert isinstance(translated, FatalError) and "restore it" in str(translated)


def test_a_programming_error_surfaces_as_itself(tmp_path: Path) -> None:
    kb = SQLiteKB(tmp_path / "kb.sqlite3")
    with pytest.raises(sqlite3.ProgrammingError):
        kb._read("SELECT ?", [{"not": "bindable"}])
    with pytest.raises(sqlite3.IntegrityError), kb._write() as conn:
        conn.execute("INSERT INTO message_docs (rowid, doc) VALUES (NULL, NULL)")
    assert kb.count_messages() == 0  # rolled back, and the store still works
    kb.close()


def test_a_file_that_is_not_a_database_is_fatal(tmp_path: Path) -> None:
    path = tmp_path / "kb.sqlite3"
    path.write_bytes(b"this is not a SQLite file at all" * 200)
    with pytest.raises(FatalError, match="restore it"):
        SQLiteKB(path)


def test_a_damaged_page_is_fatal(tmp_path: Path) -> None:
    path = tmp_path / "kb.sqlite3"
    store = SQLiteKB(path)
    store.upsert_messages(MESSAGES)
    store.close()
    page_size = 4096
    data = bytearray(path.read_bytes())
    assert len(data) > 2 * page_size
    data[page_size:] = b"\xa5" * (len(data) - page_size)  # every page after the header's
    path.write_bytes(bytes(data))
    with pytest.raises(FatalError, match="unreadable"):
        damaged = SQLiteKB(path)
        damaged.search_messages(SearchRequest(query="refund"))


@pytest.mark.parametrize(
    "cursor",
    [*FORGED.values(), _forge(["newest", [-5]]), _forge(["newest", ["5"]])],
    ids=[*FORGED, "negative offset", "offset as text"],
)
def test_forged_cursor_is_invalid_input_on_elasticsearch(fake_kb: ElasticsearchKB, cursor: str) -> None:
    fake_kb.upsert_conversations(CONVERSATIONS)
    fake_kb.upsert_messages(MESSAGES)
    for search in (fake_kb.search_messages, fake_kb.search_conversations):
        with pytest.raises(CursorError):
            search(SearchRequest(limit=2, cursor=cursor))
    listing = fake_kb.search_conversations(SearchRequest(limit=2))
    assert listing.next_cursor is not None  # a genuine cursor still pages
    page = fake_kb.search_conversations(SearchRequest(limit=2, cursor=listing.next_cursor))
    assert len(page.hits) == 2
