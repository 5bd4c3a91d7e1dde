"""A knowledge base written before the thread tables existed: seeded once, threads kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm import open_crm
from flows.kb_writer import KBWriteStep
from flows.threading import ThreadState, thread_link
from hub.models import Message, conversation_id_for
from hub.settings import Settings
from kb import open_kb
from kb.conversations import ConversationKeeper

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def msg(
    native_id: str, conversation_of: str | None, reply_to: str | None = None, minutes: int = 0
) -> Message:
    return Message(
        channel="email",
        account="support",
        native_id=native_id,
        text=f"text {native_id}",
        reply_to=reply_to,
        conversation_id=conv(conversation_of) if conversation_of else None,
        created_at=T0 + timedelta(minutes=minutes),
    )


def conv(native_id: str) -> str:
    return conversation_id_for("email", "support", native_id)


def test_a_knowledge_base_from_before_the_thread_tables_keeps_its_threads(settings: Settings) -> None:
    kb = open_kb(settings)
    ConversationKeeper(kb).apply(
        [
            msg("0", "0"),
            msg("1", "0", reply_to="0", minutes=1),
            msg("m1", "m1", minutes=2),
            msg("m2", "m1", minutes=3),  # joined by its subject: it names nothing
            msg("a0", "a0", minutes=4),
            msg("a1", "a1", reply_to="a0", minutes=5),  # a thread the old threading split
        ]
    )
    kb.close()

    step = KBWriteStep(settings)
    state = ThreadState()
    replies = [msg("2", None, reply_to="1", minutes=6), msg("m3", None, reply_to="m2", minutes=7)]
    assert step([(m, thread_link(state, m)) for m in replies]) == []

    kb, crm = open_kb(settings), open_crm(settings)
    try:
        homes = {m.native_id: m.conversation_id for m in kb.iter_messages()}
        assert homes == {
            "0": conv("0"),
            "1": conv("0"),
            "2": conv("0"),
            "m1": conv("m1"),
            "m2": conv("m1"),
            "m3": conv("m1"),
            "a0": conv("a0"),
            "a1": conv("a0"),
        }
        counts = {c.id: c.message_count for c in kb.iter_conversations()}
        assert counts == {conv("0"): 3, conv("m1"): 3, conv("a0"): 2}
        assert not crm.threads.is_empty() and crm.threads.pending_folds() == {}
    finally:
        kb.close()
        crm.close()
