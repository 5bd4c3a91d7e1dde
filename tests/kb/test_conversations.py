"""Conversation rules: roll-ups, reopening, folding threads, triage carry-over, and the keeper
that applies them to a knowledge base batch by batch."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from hub.errors import RetriableError
from hub.models import (
    Conversation,
    ConversationStatus,
    Direction,
    Enrichment,
    Identity,
    Message,
    Priority,
    conversation_id_for,
)
from kb.base import AtomicSettle, KnowledgeBase, UpsertResult
from kb.conversations import ConversationKeeper, carried_triage, merge_rollup, roll_up
from kb.sqlite import SQLiteKB

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def msg(
    n: int, direction: Direction = Direction.IN, sentiment: float | None = 0.0, lang: str = "en"
) -> Message:
    author = Identity(channel="sms", native_id="brand" if direction == Direction.OUT else "+447700900123")
    return Message(
        channel="sms",
        native_id=f"m{n}",
        text=f"message number {n}",
        direction=direction,
        author=author,
        language=lang,
        created_at=T0 + timedelta(minutes=n),
        enrichment=Enrichment(sentiment=sentiment, done=True),
    )


def test_rollup_counts_times_participants_and_sentiment() -> None:
    messages = [
        msg(1, sentiment=-0.8),
        msg(2, Direction.OUT, sentiment=0.9),
        msg(3, sentiment=0.2, lang="es"),
    ]
    conv = roll_up("cnv_1", messages)
    assert conv.message_count == 3 and conv.inbound_count == 2
    assert conv.first_message_at == T0 + timedelta(minutes=1)
    assert conv.last_message_at == T0 + timedelta(minutes=3)
    assert conv.last_inbound_at == T0 + timedelta(minutes=3)
    assert len(conv.participants) == 2
    # only the customer's messages count towards the conversation's sentiment
    assert conv.sentiment_avg == pytest.approx(-0.3)
    assert conv.sentiment_min == -0.8 and conv.sentiment_last == 0.2
    assert conv.languages == ["en", "es"]
    assert conv.snippet == "message number 3"
    assert conv.subject == "message number 1"


def test_rollup_leaves_unknown_sentiment_out_rather_than_counting_it_neutral() -> None:
    # A French message has no sentiment model: None, which must not pull the average to 0.
    conv = roll_up("cnv_1", [msg(1, sentiment=-0.8), msg(2, sentiment=None, lang="fr")])
    assert conv.sentiment_avg == -0.8 and conv.sentiment_min == -0.8 and conv.sentiment_last == -0.8
    unknown = roll_up("cnv_2", [msg(1, sentiment=None, lang="fr")])
    assert unknown.sentiment_avg is None and unknown.sentiment_min is None and unknown.sentiment_last is None


def test_rollup_is_idempotent_and_leaves_triage_at_defaults() -> None:
    messages = [msg(1), msg(2, Direction.OUT), msg(3)]
    first = roll_up("cnv_1", messages)
    assert roll_up("cnv_1", list(reversed(messages))) == first
    assert first.status == ConversationStatus.OPEN and first.assignee is None and first.tags == []


def test_rollup_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no messages"):
        roll_up("cnv_1", [])


def test_merge_rollup_reopen_rule() -> None:
    at = datetime(2026, 11, 6, 9, tzinfo=UTC)
    stored = Conversation(id="c", channel="sms", status="resolved", assignee="kim", last_inbound_at=at)
    same = Conversation(id="c", channel="sms", last_inbound_at=at, message_count=4)
    assert merge_rollup(stored, same, reopen=False).status == "resolved"
    assert merge_rollup(stored, same, reopen=True).status == "open"  # the caller's word still counts
    later = same.model_copy(update={"last_inbound_at": at + timedelta(seconds=1)})
    merged = merge_rollup(stored, later, reopen=False)
    assert (merged.status, merged.assignee, merged.message_count) == ("open", "kim", 4)
    never = stored.model_copy(update={"last_inbound_at": None, "status": "pending"})
    assert merge_rollup(never, same, reopen=False).status == "open"  # the first inbound message
    assert merge_rollup(never, never, reopen=False).status == "pending"  # still none
    assert merge_rollup(None, later, reopen=False).status == "open"


def test_merge_rollup_writes_a_routing_projection_unless_the_document_shows_a_newer_one() -> None:
    at = datetime(2026, 11, 6, 9, tzinfo=UTC)
    stored = Conversation(id="c", channel="sms", status="resolved", assignee="kim", triage_version=4)
    rollup = Conversation(id="c", channel="sms", last_inbound_at=at, message_count=2)
    older = {"status": "open", "assignee": "lee", "triage_version": 3}
    merged = merge_rollup(stored, rollup, reopen=True, triage=older)
    # refused, and the table decides the status: no reopening by the knowledge base's rule
    assert (merged.status, merged.assignee, merged.triage_version, merged.message_count) == (
        "resolved",
        "kim",
        4,
        2,
    )
    newer = {**older, "triage_version": 5}
    written = merge_rollup(stored, rollup, reopen=True, triage=newer)
    assert (written.status, written.assignee, written.triage_version) == ("open", "lee", 5)
    assert merge_rollup(stored, rollup, reopen=True, triage={**older, "triage_version": 4}).assignee == "lee"


def test_carried_triage_fills_gaps_unites_tags_and_keeps_the_higher_priority() -> None:
    folded = Conversation(id="a", channel="sms", assignee="sam", queue="vip", tags=["vip"], priority="high")
    target = Conversation(id="b", channel="sms", assignee="kim", tags=["press"])
    assert carried_triage(folded, target) == {"queue": "vip", "tags": ["press", "vip"], "priority": "high"}
    assert carried_triage(target, folded) == {"tags": ["press", "vip"]}  # nothing is overwritten
    assert carried_triage(folded, folded) == {}


def conv(native_id: str) -> str:
    return conversation_id_for("twitter", "demo", native_id)


def tweet(n: int, conversation_of: str, direction: Direction = Direction.IN) -> Message:
    """Tweet ``n``, a reply to ``n - 1``, threaded into the conversation rooted at ``conversation_of``."""
    return Message(
        channel="twitter",
        account="demo",
        native_id=str(n),
        text=f"m{n}",
        direction=direction,
        reply_to=str(n - 1) if n else None,
        conversation_id=conv(conversation_of),
        created_at=T0 + timedelta(minutes=n),
    )


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[SQLiteKB]:
    store = SQLiteKB(tmp_path / "kb.sqlite3")
    yield store
    store.close()


def test_the_keeper_writes_rolls_up_and_applies_a_replay_as_nothing_new(kb: SQLiteKB) -> None:
    keeper = ConversationKeeper(kb)
    batch = [tweet(0, "0"), tweet(1, "0", Direction.OUT)]
    applied = keeper.apply(batch)
    assert sorted(applied.written.created) == sorted(m.id for m in batch)
    assert applied.rolled_up == [conv("0")] and applied.reopened == {conv("0")} and applied.folded == {}
    stored = kb.get_conversation(conv("0"))
    assert stored is not None and (stored.message_count, stored.inbound_count) == (2, 1)

    replay = keeper.apply(batch)
    assert sorted(replay.written.unchanged) == sorted(m.id for m in batch) and not replay.written.created
    assert replay.reopened == set() and kb.get_conversation(conv("0")) == stored


def test_the_keeper_reopens_on_a_new_inbound_message_only(kb: SQLiteKB) -> None:
    keeper = ConversationKeeper(kb)
    keeper.apply([tweet(0, "0")])
    kb.update_conversation(conv("0"), {"status": "resolved"})
    keeper.apply([tweet(1, "0", Direction.OUT)])  # the brand answering does not reopen it
    resolved = kb.get_conversation(conv("0"))
    assert resolved is not None and resolved.status == ConversationStatus.RESOLVED
    applied = keeper.apply([tweet(2, "0")])
    reopened = kb.get_conversation(conv("0"))
    assert applied.reopened == {conv("0")}
    assert reopened is not None and reopened.status == ConversationStatus.OPEN and reopened.message_count == 3


def test_the_keeper_folds_early_replies_in_and_keeps_what_agents_decided(kb: SQLiteKB) -> None:
    keeper = ConversationKeeper(kb)
    keeper.apply([tweet(2, "1")])  # its parent (1) has not arrived: a conversation rooted at 1
    kb.update_conversation(conv("1"), {"assignee": "sam", "tags": ["vip"], "priority": "high"})

    # the thread store decided: 1 arrived, under 0, so conversation 1 folds into 0
    applied = keeper.apply([tweet(0, "0"), tweet(1, "0")], folds={conv("1"): conv("0")})

    assert applied.folded == {conv("1"): conv("0")} and applied.rolled_up == [conv("0")]
    assert [c.id for c in kb.iter_conversations()] == [conv("0")]
    folded = kb.get_conversation(conv("0"))
    assert folded is not None and folded.message_count == 3
    assert (folded.assignee, folded.tags, folded.priority) == ("sam", ["vip"], Priority.HIGH)


def test_a_fold_repeated_after_a_crash_completes_and_changes_nothing_more(kb: SQLiteKB) -> None:
    keeper = ConversationKeeper(kb)
    keeper.apply([tweet(0, "0"), tweet(1, "0"), tweet(2, "1")])
    moved = tweet(2, "0")
    kb.upsert_messages([moved])  # killed after moving the messages, before settling anything
    keeper.fold({conv("1"): conv("0")})
    keeper.fold({conv("1"): conv("0")})
    assert [(c.id, c.message_count) for c in kb.iter_conversations()] == [(conv("0"), 3)]


def test_a_message_that_changed_conversation_leaves_no_empty_one_behind(kb: SQLiteKB) -> None:
    keeper = ConversationKeeper(kb)
    keeper.apply([tweet(5, "5")])
    keeper.apply([tweet(5, "4")])  # a replay after its conversation was decided anew
    assert [(c.id, c.message_count) for c in kb.iter_conversations()] == [(conv("4"), 1)]


class _CountingKB(SQLiteKB):
    """Counts the triage writes made apart from roll-ups."""

    updates = 0

    def update_conversation(self, conversation_id: str, changes: dict[str, Any]) -> Conversation | None:
        self.updates += 1
        return super().update_conversation(conversation_id, changes)


def test_the_keeper_saves_the_hooks_triage_with_the_roll_up_in_one_write(tmp_path: Path) -> None:
    kb = _CountingKB(tmp_path / "kb.sqlite3")
    keeper = ConversationKeeper(kb)
    seen: list[tuple[list[str], list[str]]] = []
    decided = {"status": "open", "assignee": "ann", "queue": "support", "priority": "high", "tags": ["vip"]}

    def route(created: Sequence[str], settled: Sequence[str]) -> dict[str, dict[str, Any]]:
        # the messages are stored when the hook runs, the conversation not yet settled
        assert kb.get_message(tweet(0, "0").id) is not None and kb.get_conversation(conv("0")) is None
        seen.append((list(created), list(settled)))
        return {conv("0"): decided}

    applied = keeper.apply([tweet(0, "0")], triage=route)
    assert seen == [([tweet(0, "0").id], [conv("0")])] and applied.projected == {conv("0")}
    stored = kb.get_conversation(conv("0"))
    assert stored is not None and stored.message_count == 1
    assert (stored.assignee, stored.queue, stored.priority, stored.tags) == (
        "ann",
        "support",
        Priority.HIGH,
        ["vip"],
    )
    assert kb.updates == 0  # no second write

    # a later batch whose hook decides nothing keeps what the document shows
    keeper.apply([tweet(1, "0", Direction.OUT)], triage=lambda created, settled: {})
    again = kb.get_conversation(conv("0"))
    assert again is not None and again.message_count == 2 and again.assignee == "ann" and kb.updates == 0
    kb.close()


def test_triage_for_a_folds_target_is_left_to_the_caller(kb: SQLiteKB) -> None:
    keeper = ConversationKeeper(kb)
    keeper.apply([tweet(2, "1")])
    applied = keeper.apply(
        [tweet(0, "0"), tweet(1, "0")],
        folds={conv("1"): conv("0")},
        triage=lambda created, settled: {conv("0"): {"queue": "support"}},
    )
    # the target was settled with the fold, before the hook ran: not projected here
    assert applied.projected == set()
    target = kb.get_conversation(conv("0"))
    assert target is not None and target.queue is None and target.message_count == 3


class _RacingKB:
    """A knowledge base without an atomic settle (as Elasticsearch) into which another process
    writes one more message of the conversation while a roll-up is saved."""

    def __init__(self, kb: SQLiteKB, intruder: Message | None) -> None:
        self.kb, self.intruder = kb, intruder
        self.rollup_saves = 0

    def __getattr__(self, name: str) -> Any:
        if name == "settle_conversations":
            raise AttributeError(name)
        return getattr(self.kb, name)

    def save_rollups(self, conversations: Sequence[Conversation], *, reopen: Collection[str] = ()) -> None:
        self.rollup_saves += 1
        self.kb.save_rollups(conversations, reopen=reopen)
        if self.intruder is not None:
            intruder, self.intruder = self.intruder, None
            self.kb.upsert_messages([intruder])


def test_a_roll_up_made_stale_by_a_concurrent_writer_is_settled_again(tmp_path: Path) -> None:
    kb = SQLiteKB(tmp_path / "kb.sqlite3")
    racing = _RacingKB(kb, tweet(1, "0"))
    assert not isinstance(racing, AtomicSettle)
    applied = ConversationKeeper(cast(KnowledgeBase, racing)).apply([tweet(0, "0")])
    assert applied.rolled_up == [conv("0")] and racing.rollup_saves == 2
    stored = kb.get_conversation(conv("0"))
    assert stored is not None and stored.message_count == 2
    kb.close()


def test_sqlite_settles_in_one_write_with_what_the_generic_settle_saves(tmp_path: Path) -> None:
    atomic = SQLiteKB(tmp_path / "atomic.sqlite3")
    generic_kb = SQLiteKB(tmp_path / "generic.sqlite3")
    generic = _RacingKB(generic_kb, None)  # no intruder: only without settle_conversations
    assert isinstance(atomic, AtomicSettle) and not isinstance(generic, AtomicSettle)
    batches: list[tuple[list[Message], dict[str, str]]] = [
        ([tweet(0, "0"), tweet(1, "0", Direction.OUT), tweet(2, "1")], {}),
        ([tweet(3, "0"), tweet(4, "2")], {}),
        ([tweet(5, "1")], {conv("2"): conv("1")}),  # a fold: conversation 2 joins 1
        ([tweet(0, "0").model_copy(update={"conversation_id": conv("3")})], {}),  # moved away
    ]
    for messages, folds in batches:
        one = ConversationKeeper(atomic).apply(messages, folds=folds)
        other = ConversationKeeper(cast(KnowledgeBase, generic)).apply(messages, folds=folds)
        assert one.rolled_up == other.rolled_up
    assert generic.rollup_saves > 0
    ids = [conv(n) for n in "0123"]
    expected = generic_kb.get_conversations(ids)
    assert atomic.get_conversations(ids) == expected and set(expected) == {conv("0"), conv("1"), conv("3")}
    assert expected[conv("0")].message_count == 2 and expected[conv("1")].message_count == 3
    atomic.close()
    generic_kb.close()


def test_sqlite_settles_from_the_rows_another_writer_changed_since_its_own_write(tmp_path: Path) -> None:
    # the settle takes the messages this KB just wrote as they are, but only rows that still
    # hold what it wrote: a row another process rewrote meanwhile is read from the row
    ours, theirs = SQLiteKB(tmp_path / "kb.sqlite3"), SQLiteKB(tmp_path / "kb.sqlite3")
    ours.upsert_messages([tweet(0, "0"), tweet(1, "0")])
    theirs.upsert_messages([tweet(1, "0").model_copy(update={"text": "edited elsewhere"})])
    assert ours.settle_conversations([conv("0")]) == [conv("0")]
    settled = ours.get_conversation(conv("0"))
    assert settled is not None and settled.message_count == 2 and settled.snippet == "edited elsewhere"
    ours.upsert_messages([tweet(2, "0")])
    ours.settle_conversations([conv("0")])
    settled = ours.get_conversation(conv("0"))
    assert settled is not None and settled.message_count == 3 and settled.snippet == "m2"
    ours.close()
    theirs.close()


class _RefusingKB(SQLiteKB):
    """Refuses some documents the way Elasticsearch refuses a mapping error; writes the rest."""

    refuse: frozenset[str] = frozenset()

    def upsert_messages(self, messages: Sequence[Message]) -> UpsertResult:
        result = super().upsert_messages([m for m in messages if m.id not in self.refuse])
        result.errors.update({m.id: "400: mapper_parsing_exception" for m in messages if m.id in self.refuse})
        return result


def test_the_keeper_reports_refused_documents_and_keeps_the_rest(tmp_path: Path) -> None:
    kb = _RefusingKB(tmp_path / "kb.sqlite3")
    kb.refuse = frozenset({tweet(1, "0").id})
    applied = ConversationKeeper(kb).apply([tweet(0, "0"), tweet(1, "0")])
    assert applied.written.errors == {tweet(1, "0").id: "400: mapper_parsing_exception"}
    assert applied.written.created == [tweet(0, "0").id]
    stored = kb.get_conversation(conv("0"))
    assert stored is not None and stored.message_count == 1
    kb.close()


class _FlakyKB(SQLiteKB):
    """Busy for the first ``busy`` message upserts."""

    busy = 0

    def upsert_messages(self, messages: Sequence[Message]) -> UpsertResult:
        if self.busy:
            self.busy -= 1
            raise RetriableError("busy", retry_after=0.5)
        return super().upsert_messages(messages)


def test_the_keeper_retries_passing_failures_with_the_hubs_backoff(tmp_path: Path) -> None:
    kb = _FlakyKB(tmp_path / "kb.sqlite3")
    waits: list[float] = []
    kb.busy = 1
    with pytest.raises(RetriableError):
        ConversationKeeper(kb, sleep=waits.append).apply([tweet(0, "0")])  # one attempt: no retry
    assert waits == [] and kb.count_messages() == 0
    kb.busy = 2
    applied = ConversationKeeper(kb, attempts=3, sleep=waits.append).apply([tweet(0, "0")])
    assert applied.written.created == [tweet(0, "0").id] and waits == [0.5, 0.5]  # Retry-After honoured
    kb.close()
