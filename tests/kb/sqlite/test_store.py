"""The embedded KB's storage contract: idempotent upserts, reads, triage updates, paging, concurrency."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.models import Conversation, Message
from kb.base import KnowledgeBase, SearchFilters, SearchRequest
from kb.common import CursorError
from kb.query import QuerySyntaxError
from kb.sqlite import SQLiteKB
from tests.kb.docs import CONVERSATIONS, MESSAGES, by_native


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[SQLiteKB]:
    store = SQLiteKB(tmp_path / "kb.sqlite3")
    store.upsert_messages(MESSAGES)
    store.upsert_conversations(CONVERSATIONS)
    yield store
    store.close()


def test_satisfies_protocol(kb: SQLiteKB) -> None:
    store: KnowledgeBase = kb
    assert store.count_messages() == len(MESSAGES)


def test_created_on_first_use_in_missing_directory(tmp_path: Path) -> None:
    store = SQLiteKB(tmp_path / "a" / "b" / "kb.sqlite3")
    assert store.count_messages() == 0 and store.count_conversations() == 0
    store.close()


def test_upsert_reports_created_updated_unchanged(tmp_path: Path) -> None:
    store = SQLiteKB(tmp_path / "kb.sqlite3")
    first = store.upsert_messages(MESSAGES[:3])
    assert set(first.created) == {m.id for m in MESSAGES[:3]} and not first.updated and not first.unchanged
    changed = MESSAGES[0].model_copy(update={"text": "My refund arrived, thanks"})
    again = store.upsert_messages([changed, MESSAGES[1], MESSAGES[3]])
    assert again.updated == [changed.id]
    assert again.unchanged == [MESSAGES[1].id]
    assert again.created == [MESSAGES[3].id]
    assert store.count_messages() == 4
    # the index follows the update: the old words are gone, the new ones are found
    assert store.search_messages(SearchRequest(query="arrived")).total == 1
    assert store.search_messages(SearchRequest(query="missing")).total == 0
    store.close()


def test_duplicate_ids_in_one_batch_are_written_once(tmp_path: Path) -> None:
    store = SQLiteKB(tmp_path / "kb.sqlite3")
    later = MESSAGES[0].model_copy(update={"text": "second version"})
    result = store.upsert_messages([MESSAGES[0], later])
    assert result.created == [MESSAGES[0].id]
    assert store.get_message(MESSAGES[0].id).text == "second version"  # type: ignore[union-attr]
    assert store.search_messages(SearchRequest(query="second")).total == 1
    store.close()


def test_upsert_conversations_is_idempotent(kb: SQLiteKB) -> None:
    result = kb.upsert_conversations(CONVERSATIONS)
    assert sorted(result.unchanged) == sorted(c.id for c in CONVERSATIONS)
    bumped = CONVERSATIONS[0].model_copy(update={"message_count": 3})
    assert kb.upsert_conversations([bumped]).updated == [bumped.id]
    assert kb.get_conversation(bumped.id).message_count == 3  # type: ignore[union-attr]


def test_get_and_get_many_round_trip(kb: SQLiteKB) -> None:
    assert kb.get_message(MESSAGES[2].id) == MESSAGES[2]
    assert kb.get_message("msg_missing") is None
    many = kb.get_messages([MESSAGES[0].id, "msg_missing", MESSAGES[4].id])
    assert many == {MESSAGES[0].id: MESSAGES[0], MESSAGES[4].id: MESSAGES[4]}
    assert kb.get_conversations(["cnv_a", "nope"]) == {"cnv_a": CONVERSATIONS[0]}
    assert kb.get_messages([]) == {}


def test_conversation_messages_oldest_first(kb: SQLiteKB) -> None:
    assert [m.native_id for m in kb.conversation_messages("cnv_b")] == ["e1", "e2"]
    assert [m.native_id for m in kb.conversation_messages("cnv_c", limit=1)] == ["f1"]
    assert kb.conversation_messages("nope") == []


def test_update_conversation_changes_triage_state_and_index(kb: SQLiteKB) -> None:
    updated = kb.update_conversation("cnv_b", {"status": "resolved", "assignee": "Zoe", "tags": ["Refund"]})
    assert updated is not None and updated.status == "resolved" and updated.assignee == "Zoe"
    assert kb.get_conversation("cnv_b") == updated
    hits = kb.search_messages(SearchRequest(query="assignee:zoe tag:refund status:resolved"))
    assert {h.id for h in hits.hits} == by_native("e1", "e2")
    assert kb.update_conversation("missing", {"status": "open"}) is None


def test_update_conversation_rejects_bad_changes(kb: SQLiteKB) -> None:
    with pytest.raises(ValueError, match="message_count"):
        kb.update_conversation("cnv_a", {"message_count": 9})
    with pytest.raises(ValueError):
        kb.update_conversation("cnv_a", {"status": "archived"})
    assert kb.get_conversation("cnv_a") == CONVERSATIONS[0]


def test_search_filters_and_total(kb: SQLiteKB) -> None:
    result = kb.search_messages(SearchRequest(filters=SearchFilters(channels=["email", "facebook"])))
    assert result.total == 4
    result = kb.search_messages(SearchRequest(filters=SearchFilters(languages=["fr"])))
    assert {h.id for h in result.hits} == by_native("f2")
    result = kb.search_messages(SearchRequest(filters=SearchFilters(statuses=["open"], direction="in")))
    assert {h.id for h in result.hits} == by_native("t1", "t2", "r1", "s1")
    since = MESSAGES[4].created_at
    result = kb.search_messages(
        SearchRequest(filters=SearchFilters(since=since, until=MESSAGES[6].created_at))
    )
    assert {h.id for h in result.hits} == by_native("f1", "f2")


def test_effective_language_falls_back_to_enrichment(tmp_path: Path) -> None:
    store = SQLiteKB(tmp_path / "kb.sqlite3")
    unlabelled = MESSAGES[5].model_copy(update={"language": None})
    store.upsert_messages([unlabelled])
    assert store.search_messages(SearchRequest(query="lang:fr")).total == 1
    store.close()


def test_paging_by_offset_and_cursor_covers_everything_once(kb: SQLiteKB) -> None:
    newest = kb.search_messages(SearchRequest(limit=100))
    assert [h.document.created_at for h in newest.hits] == sorted(
        (m.created_at for m in MESSAGES), reverse=True
    )
    seen: list[str] = []
    cursor = None
    while True:
        page = kb.search_messages(SearchRequest(limit=3, cursor=cursor))
        assert page.total == len(MESSAGES)
        seen += [h.id for h in page.hits]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [h.id for h in newest.hits]
    second = kb.search_messages(SearchRequest(limit=3, offset=3))
    assert [h.id for h in second.hits] == seen[3:6]


def test_relevance_cursor_paging(kb: SQLiteKB) -> None:
    everything = kb.search_messages(SearchRequest(query="flight OR refund", limit=50))
    first = kb.search_messages(SearchRequest(query="flight OR refund", limit=2))
    rest = kb.search_messages(SearchRequest(query="flight OR refund", limit=50, cursor=first.next_cursor))
    assert [h.id for h in first.hits + rest.hits] == [h.id for h in everything.hits]
    assert everything.total == 6 and rest.next_cursor is None


def test_bad_cursor_is_a_cursor_error(kb: SQLiteKB) -> None:
    with pytest.raises(CursorError):
        kb.search_messages(SearchRequest(cursor="garbage!!"))
    other = kb.search_messages(SearchRequest(limit=1)).next_cursor
    with pytest.raises(CursorError):
        kb.search_messages(SearchRequest(query="refund", cursor=other))


def test_search_conversations_with_and_without_query(kb: SQLiteKB) -> None:
    listing = kb.search_conversations(SearchRequest())
    assert [h.id for h in listing.hits] == ["cnv_e", "cnv_d", "cnv_c", "cnv_b", "cnv_a"]
    matched = kb.search_conversations(SearchRequest(query="refund"))
    assert {h.id for h in matched.hits} == {"cnv_a", "cnv_e"} and matched.total == 2
    assert all(h.score > 0 for h in matched.hits)
    filtered = kb.search_conversations(
        SearchRequest(query="delayed", filters=SearchFilters(statuses=["pending"]), sort="newest")
    )
    assert [h.id for h in filtered.hits] == ["cnv_b"]
    tagged = kb.search_conversations(SearchRequest(filters=SearchFilters(tags=["vip"])))
    assert {h.id for h in tagged.hits} == {"cnv_a", "cnv_c"}


def test_delete_conversations_keeps_messages(kb: SQLiteKB) -> None:
    assert kb.delete_conversations(["cnv_a", "cnv_a", "missing"]) == 1
    assert kb.get_conversation("cnv_a") is None and kb.count_conversations() == 4
    assert len(kb.conversation_messages("cnv_a")) == 2
    assert kb.search_messages(SearchRequest(query="tag:vip")).total == 2  # only cnv_c's messages now


def test_iter_and_count(kb: SQLiteKB) -> None:
    assert [m.id for m in kb.iter_messages(batch_size=3)] == [m.id for m in MESSAGES]
    assert {c.id for c in kb.iter_conversations(batch_size=2)} == {c.id for c in CONVERSATIONS}
    assert kb.count_messages() == 8 and kb.count_conversations() == 5


def test_bad_query_raises_syntax_error(kb: SQLiteKB) -> None:
    with pytest.raises(QuerySyntaxError):
        kb.search_messages(SearchRequest(query='"unbalanced'))
    with pytest.raises(QuerySyntaxError):
        kb.search_conversations(SearchRequest(query="(refund"))


def test_many_threads_write_and_read_at_once(tmp_path: Path) -> None:
    store = SQLiteKB(tmp_path / "kb.sqlite3")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for batch in range(5):
                msgs = [
                    Message(channel="sms", native_id=f"{worker}-{batch}-{i}", text=f"hello number {i}")
                    for i in range(20)
                ]
                store.upsert_messages(msgs)
                store.search_messages(SearchRequest(query="hello", facets=["channel"]))
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert store.count_messages() == 4 * 5 * 20
    store.close()


def test_rollups_and_triage_updates_from_two_threads_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "kb.sqlite3"
    api = SQLiteKB(path)
    api.upsert_messages(MESSAGES)
    api.upsert_conversations(CONVERSATIONS)
    flow = SQLiteKB(path)  # the ingest flow's own store, as in another process
    rounds = 60
    errors: list[BaseException] = []

    def rollups() -> None:
        try:
            for n in range(1, rounds + 1):
                rollup = Conversation(
                    id="cnv_a", channel="twitter", message_count=n, inbound_count=n, snippet=f"m{n}"
                )
                flow.save_rollups([rollup], reopen={"cnv_a"} if n % 2 else ())
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    def triage() -> None:
        try:
            for n in range(rounds):
                updated = api.update_conversation("cnv_a", {"assignee": f"agent-{n}", "priority": "high"})
                assert updated is not None and updated.assignee == f"agent-{n}"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=rollups), threading.Thread(target=triage)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    final = api.get_conversation("cnv_a")
    assert final is not None
    assert (final.assignee, final.priority, final.tags) == (f"agent-{rounds - 1}", "high", ["VIP"])
    assert (final.message_count, final.inbound_count, final.snippet) == (rounds, rounds, f"m{rounds}")
    listed = api.search_conversations(SearchRequest(filters=SearchFilters(assignees=[f"agent-{rounds - 1}"])))
    assert [h.id for h in listed.hits] == ["cnv_a"]  # the indexed columns agree with the document
    flow.close()
    api.close()


_WRITER = """
import sys
from pathlib import Path
from hub.models import Message
from kb.sqlite import SQLiteKB
store = SQLiteKB(Path(sys.argv[1]))
for batch in range(10):
    batch_msgs = [Message(channel="sms", native_id=f"{sys.argv[2]}-{batch}-{i}", text="x") for i in range(50)]
    store.upsert_messages(batch_msgs)
store.close()
"""


def test_two_processes_write_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "kb.sqlite3"
    root = Path(__file__).resolve().parents[3]  # the repository: tests/kb/sqlite/ is three down
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name], cwd=root)
        for name in ("flow", "api")
    ]
    store = SQLiteKB(path)
    store.upsert_conversations([Conversation(id="c", channel="sms")])
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert store.count_messages() == 2 * 10 * 50
    store.close()
