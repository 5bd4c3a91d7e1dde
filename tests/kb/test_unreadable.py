"""A stored document that no longer validates never stops a read over many documents.

The documents are damaged the way they are found in the field: written straight into the
SQLite file (or the index) by an older Parley or by hand, bypassing validation.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.errors import InvalidInput
from kb.base import SearchRequest, UnreadableDocument
from kb.elasticsearch import ElasticsearchKB
from kb.migrate import migrate_kb
from kb.sqlite import SQLiteKB
from tests.kb.docs import CONVERSATIONS, MESSAGES, by_native
from tests.kb.elasticsearch.fake_es import FakeElasticsearch


def _deeply_nested(message_json: str, levels: int = 500) -> str:
    """The message with metadata nested ``levels`` deep: past the JSON parser's recursion limit."""
    document = json.loads(message_json)
    document["metadata"] = {"x": "[" * levels + "]" * levels}  # placeholder, replaced as text
    text = json.dumps(document)
    return text.replace('"' + "[" * levels + "]" * levels + '"', "[" * levels + "]" * levels)


#: stored document -> what it is (every one fails validation when read)
DAMAGE = {
    "not JSON": lambda good: "{not json",
    "an old shape": lambda good: json.dumps({"id": json.loads(good)["id"], "body": "old field names"}),
    "a wrong type": lambda good: good.replace('"channel":"twitter"', '"channel":5'),
    "nested 500 deep": _deeply_nested,
}

#: the message damaged in every test: t2 ("money back"), in conversation cnv_a with t1
VICTIM = next(m for m in MESSAGES if m.native_id == "t2")


def _damage_message(path: Path, damage: str) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        (rowid,) = db.execute("SELECT rowid FROM messages WHERE id = ?", (VICTIM.id,)).fetchone()
        good = db.execute("SELECT doc FROM message_docs WHERE rowid = ?", (rowid,)).fetchone()[0]
        db.execute("UPDATE message_docs SET doc = ? WHERE rowid = ?", (DAMAGE[damage](good), rowid))


def _damage_conversation(path: Path, conversation_id: str) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "UPDATE conversations SET doc = ? WHERE id = ?", ('{"id": "x", "status": 7}', conversation_id)
        )


@pytest.fixture(params=list(DAMAGE))
def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLiteKB]:
    kb = SQLiteKB(tmp_path / "kb.sqlite3")
    kb.upsert_messages(MESSAGES)
    kb.upsert_conversations(CONVERSATIONS)
    _damage_message(kb.path, request.param)
    _damage_conversation(kb.path, "cnv_c")
    yield kb
    kb.close()


def test_iteration_skips_and_reports_unreadable_documents(damaged: SQLiteKB) -> None:
    skipped: list[UnreadableDocument] = []
    messages = list(damaged.iter_messages(batch_size=3, on_unreadable=skipped.append))
    assert {m.id for m in messages} == {m.id for m in MESSAGES} - {VICTIM.id}
    conversations = list(damaged.iter_conversations(batch_size=2, on_unreadable=skipped.append))
    assert {c.id for c in conversations} == {c.id for c in CONVERSATIONS} - {"cnv_c"}
    assert [(s.kind, s.id) for s in skipped] == [("message", VICTIM.id), ("conversation", "cnv_c")]
    assert all(s.reason and len(s.reason) <= 500 for s in skipped)
    assert "money" not in skipped[0].reason  # the reason names what is wrong, not what is stored


def test_a_search_serves_the_rest_of_the_page_and_logs_the_bad_id(
    damaged: SQLiteKB, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="kb"):
        result = damaged.search_messages(SearchRequest(query="refund", facets=["channel"]))
    assert {h.id for h in result.hits} == by_native("t1", "s1")  # t2 matched too
    assert result.unreadable == [VICTIM.id] and result.total == 3  # counted as stored
    assert any(VICTIM.id in record.getMessage() for record in caplog.records)
    listing = damaged.search_conversations(SearchRequest(query="flight OR refund"))
    assert {h.id for h in listing.hits} == {"cnv_a", "cnv_b", "cnv_e"} and listing.unreadable == ["cnv_c"]
    assert [m.native_id for m in damaged.conversation_messages("cnv_a")] == ["t1"]


def test_a_document_read_by_id_raises_as_it_is_not_missing(damaged: SQLiteKB) -> None:
    # asked for by name, an unreadable document is an error (500 at the API), not an absence
    with pytest.raises(ValidationError) as raised:
        damaged.get_message(VICTIM.id)
    assert not isinstance(raised.value, InvalidInput)
    with pytest.raises(ValidationError):
        damaged.get_conversation("cnv_c")


def test_migrate_copies_the_rest_and_reports_the_unreadable_as_errors(
    damaged: SQLiteKB, tmp_path: Path
) -> None:
    target = SQLiteKB(tmp_path / "target.sqlite3")
    try:
        report = migrate_kb(damaged, target, state_path=tmp_path / "state.json", batch_size=3)
        assert target.count_messages() == len(MESSAGES) - 1
        assert target.count_conversations() == len(CONVERSATIONS) - 1
    finally:
        target.close()
    assert set(report.errors) == {VICTIM.id, "cnv_c"} and not report.verified
    assert report.errors[VICTIM.id].startswith("unreadable in the source (message)")
    assert any("not copied" in problem for problem in report.problems)


def test_elasticsearch_reads_skip_unreadable_documents(
    fake_kb: ElasticsearchKB, fake: FakeElasticsearch
) -> None:
    fake_kb.upsert_conversations(CONVERSATIONS)
    fake_kb.upsert_messages(MESSAGES)
    stored = dict(fake.indices["t-messages"][VICTIM.id])
    fake.store("t-messages", VICTIM.id, {**stored, "doc": {"id": VICTIM.id, "channel": 5}})
    old_shape = {k: v for k, v in fake.indices["t-conversations"]["cnv_c"].items() if k != "doc"}
    fake.store("t-conversations", "cnv_c", old_shape)
    skipped: list[UnreadableDocument] = []
    assert len(list(fake_kb.iter_messages(on_unreadable=skipped.append))) == len(MESSAGES) - 1
    assert len(list(fake_kb.iter_conversations(on_unreadable=skipped.append))) == len(CONVERSATIONS) - 1
    assert [s.id for s in skipped] == [VICTIM.id, "cnv_c"]
    result = fake_kb.search_messages(SearchRequest(limit=50))
    assert result.unreadable == [VICTIM.id] and len(result.hits) == len(MESSAGES) - 1
    listing = fake_kb.search_conversations(SearchRequest(limit=50))
    assert listing.unreadable == ["cnv_c"] and len(listing.hits) == len(CONVERSATIONS) - 1
    assert VICTIM.id not in {m.id for m in fake_kb.conversation_messages("cnv_a")}
