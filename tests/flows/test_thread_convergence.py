"""The KB sink keeps threads whole against what is stored, whatever the arrival order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import permutations

import pytest

from flows.sinks import thread_moves
from hub.models import Message, conversation_id_for
from hub.settings import Settings
from kb import open_kb

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def conv(native_id: str) -> str:
    return conversation_id_for("twitter", "demo", native_id)


def msg(n: int, conversation_of: str) -> Message:
    return Message(
        channel="twitter",
        account="demo",
        native_id=str(n),
        text=f"m{n}",
        reply_to=str(n - 1) if n else None,
        conversation_id=conv(conversation_of),
        created_at=T0 + timedelta(minutes=n),
    )


def test_parent_arriving_after_its_replies_pulls_them_in_without_a_cycle(settings: Settings) -> None:
    kb = open_kb(settings)
    try:
        # 2 came before its parent 1, so it was put in a conversation rooted at 1
        kb.upsert_messages([msg(2, "2")])
        kb.upsert_messages([msg(2, "1")])
        from kb.conversations import roll_up

        kb.save_rollups([roll_up(conv("1"), [msg(2, "1")])])
        # then 1 arrives (joining 0's conversation) together with 3, already relinked to 0's
        batch = [msg(1, "0"), msg(3, "0")]
        kb.upsert_messages(batch)
        assert thread_moves(kb, batch) == {conv("1"): conv("0")}
    finally:
        kb.close()


@pytest.mark.parametrize("order", list(permutations(range(4))))
def test_any_arrival_order_converges_to_one_conversation(settings: Settings, order: tuple[int, ...]) -> None:
    from bytewax.testing import run_main

    from flows.imports import FileImportSource
    from flows.ingest import build_flow

    lines = []
    for n in order:
        reply = f', "in_reply_to": "{n - 1}"' if n else ""
        lines.append(
            '{"channel": "twitter", "kind": "parley.message", "account": "demo", "payload": '
            f'{{"native_id": "{n}", "text": "message {n}", "created_at": "2026-11-20T10:0{n}:00Z"{reply}}}}}'
        )
    # one batch per message so each arrival is written before the next is threaded
    path = settings.ensure_data_dir() / "thread.jsonl"
    path.write_text("\n".join(lines) + "\n")
    settings = settings.model_copy(update={"flow": settings.flow.model_copy(update={"batch_size": 1})})
    settings.enrichment.ner = False
    run_main(build_flow(settings, [("import", FileImportSource([path], batch_size=1))]))
    kb = open_kb(settings)
    try:
        conversations = list(kb.iter_conversations())
        assert [c.id for c in conversations] == [conv("0")]
        assert conversations[0].message_count == 4
    finally:
        kb.close()


def test_a_folded_conversation_keeps_what_agents_decided(settings: Settings) -> None:
    from bytewax.testing import run_main

    from flows.imports import FileImportSource
    from flows.ingest import build_flow

    def envelope(n: int) -> str:
        reply = f', "in_reply_to": "{n - 1}"' if n else ""
        return (
            '{"channel": "twitter", "kind": "parley.message", "account": "demo", "payload": '
            f'{{"native_id": "{n}", "text": "message {n}", '
            f'"created_at": "2026-11-20T10:0{n}:00Z"{reply}}}}}\n'
        )

    settings.enrichment.ner = False
    early, late = settings.ensure_data_dir() / "early.jsonl", settings.data_dir / "late.jsonl"
    early.write_text(envelope(2))  # a reply whose parent (1) has not arrived: conversation rooted at 1
    late.write_text(envelope(0) + envelope(1))
    run_main(build_flow(settings, [("import", FileImportSource([early]))]))
    kb = open_kb(settings)
    try:
        kb.update_conversation(conv("1"), {"assignee": "sam", "tags": ["vip"], "priority": "high"})
    finally:
        kb.close()

    run_main(build_flow(settings, [("import", FileImportSource([late]))]))

    kb = open_kb(settings)
    try:
        assert [c.id for c in kb.iter_conversations()] == [conv("0")]
        folded = kb.get_conversation(conv("0"))
        assert folded is not None and folded.message_count == 3
        assert (folded.assignee, folded.tags, folded.priority) == ("sam", ["vip"], "high")
    finally:
        kb.close()
