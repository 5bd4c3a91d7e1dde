"""kb migrate: a full copy with verified counts, resuming after an interruption, refusals reported."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from hub.models import Message
from kb.base import SearchRequest, UpsertResult
from kb.migrate import migrate_kb
from kb.sqlite import SQLiteKB
from tests.kb.docs import CONVERSATIONS, MESSAGES


def _source(tmp_path: Path, extra: int = 0) -> SQLiteKB:
    source = SQLiteKB(tmp_path / "source.sqlite3")
    source.upsert_conversations(CONVERSATIONS)
    source.upsert_messages(MESSAGES)
    source.upsert_messages(
        [Message(channel="sms", native_id=f"bulk-{i}", text=f"message {i}") for i in range(extra)]
    )
    return source


def test_full_copy_is_verified(tmp_path: Path) -> None:
    source, target = _source(tmp_path, extra=30), SQLiteKB(tmp_path / "target.sqlite3")
    seen: list[tuple[int, int]] = []
    report = migrate_kb(
        source,
        target,
        state_path=tmp_path / "state.json",
        on_progress=lambda d, t: seen.append((d, t)),
        batch_size=7,
    )
    assert report.verified and not report.problems
    assert (report.conversations_copied, report.messages_copied) == (5, 38)
    assert (report.target_conversations, report.target_messages) == (5, 38)
    assert seen[0] == (0, 43) and seen[-1] == (43, 43)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert {m.id: m for m in target.iter_messages()} == {m.id: m for m in source.iter_messages()}
    assert target.get_conversation("cnv_a") == CONVERSATIONS[0]
    assert json.loads((tmp_path / "state.json").read_text())["phase"] == "done"
    # searching works in the target exactly as in the source
    assert target.search_messages(SearchRequest(query="message")).total == 30


class _Interrupted(Exception):
    pass


class _FlakyTarget(SQLiteKB):
    """A target that dies after ``fail_after`` message batches, and counts what it receives."""

    def __init__(self, path: Path, fail_after: int | None) -> None:
        super().__init__(path)
        self.fail_after = fail_after
        self.received: list[str] = []

    def upsert_messages(self, messages: Sequence[Message]) -> UpsertResult:
        if self.fail_after is not None and len(self.received) >= self.fail_after * 5:
            raise _Interrupted
        self.received += [m.id for m in messages]
        return super().upsert_messages(messages)


def test_interrupted_migration_resumes_where_it_stopped(tmp_path: Path) -> None:
    source = _source(tmp_path, extra=22)  # 30 messages in batches of 5
    state = tmp_path / "state.json"
    first = _FlakyTarget(tmp_path / "target.sqlite3", fail_after=3)
    with pytest.raises(_Interrupted):
        migrate_kb(source, first, state_path=state, batch_size=5)
    assert json.loads(state.read_text()) == {
        "version": 1,
        "phase": "messages",
        "conversations_done": 5,
        "messages_done": 15,
    }
    first.close()
    second = _FlakyTarget(tmp_path / "target.sqlite3", fail_after=None)
    progress: list[int] = []
    report = migrate_kb(
        source, second, state_path=state, batch_size=5, on_progress=lambda d, t: progress.append(d)
    )
    assert report.verified
    assert (report.resumed_conversations, report.resumed_messages) == (5, 15)
    assert (report.conversations_copied, report.messages_copied) == (0, 15)
    assert progress[0] == 20 and progress[-1] == 35
    # only the rest was sent again, and nothing is missing or doubled
    all_ids = [m.id for m in source.iter_messages()]
    assert second.received == all_ids[15:]
    assert sorted(m.id for m in second.iter_messages()) == sorted(all_ids)
    # a finished migration started again copies everything afresh (idempotently)
    again = migrate_kb(source, second, state_path=state, batch_size=50)
    assert again.messages_copied == 30 and again.verified and again.resumed_messages == 0


def test_refused_documents_and_short_counts_are_reported(tmp_path: Path) -> None:
    source = _source(tmp_path)

    class Refusing(SQLiteKB):
        def upsert_messages(self, messages: Sequence[Message]) -> UpsertResult:
            keep = [m for m in messages if m.native_id != "t1"]
            result = super().upsert_messages(keep)
            refused = {m.id: "400: mapper_parsing_exception" for m in messages if m.native_id == "t1"}
            return UpsertResult(result.created, result.updated, result.unchanged, refused)

    report = migrate_kb(source, Refusing(tmp_path / "t.sqlite3"), state_path=tmp_path / "s.json")
    assert not report.verified
    assert list(report.errors.values()) == ["400: mapper_parsing_exception"]
    assert "target has 7 messages, source has 8" in report.problems


def test_corrupt_checkpoint_starts_over(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    report = migrate_kb(
        _source(tmp_path), SQLiteKB(tmp_path / "t.sqlite3"), state_path=tmp_path / "state.json"
    )
    assert report.verified and report.messages_copied == 8
