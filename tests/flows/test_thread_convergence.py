"""The ingest flow keeps threads whole against what is stored, whatever the arrival order.

The folding rules themselves (``kb.conversations``) are tested in tests/kb/test_conversations.py.
"""

from __future__ import annotations

from itertools import permutations

import pytest

from hub.models import conversation_id_for
from hub.settings import Settings
from kb import open_kb


def conv(native_id: str) -> str:
    return conversation_id_for("twitter", "demo", native_id)


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


@pytest.mark.parametrize("routing", [True, False], ids=["routing", "kb-only"])
def test_a_folded_conversation_keeps_what_agents_decided(settings: Settings, routing: bool) -> None:
    """With routing the agent's change goes through the routing table (as the API's does) and
    the table carries it over the fold; without, the knowledge base carries the document's."""
    from bytewax.testing import run_main

    from crm import open_crm
    from flows.imports import FileImportSource
    from flows.ingest import build_flow
    from kb.conversations import project_triage

    def envelope(n: int) -> str:
        reply = f', "in_reply_to": "{n - 1}"' if n else ""
        return (
            '{"channel": "twitter", "kind": "parley.message", "account": "demo", "payload": '
            f'{{"native_id": "{n}", "text": "message {n}", '
            f'"created_at": "2026-11-20T10:0{n}:00Z"{reply}}}}}\n'
        )

    settings.enrichment.ner = False
    settings.routing.enabled = routing
    early, late = settings.ensure_data_dir() / "early.jsonl", settings.data_dir / "late.jsonl"
    early.write_text(envelope(2))  # a reply whose parent (1) has not arrived: conversation rooted at 1
    late.write_text(envelope(0) + envelope(1))
    run_main(build_flow(settings, [("import", FileImportSource([early]))]))
    kb, crm = open_kb(settings), open_crm(settings)
    try:
        changes = {"assignee": "sam", "tags": ["vip"], "priority": "high"}
        if routing:
            project_triage(kb, crm.routing.update(conv("1"), changes, actor_id=None))
        else:
            kb.update_conversation(conv("1"), changes)
    finally:
        kb.close()
        crm.close()

    run_main(build_flow(settings, [("import", FileImportSource([late]))]))

    kb = open_kb(settings)
    try:
        assert [c.id for c in kb.iter_conversations()] == [conv("0")]
        folded = kb.get_conversation(conv("0"))
        assert folded is not None and folded.message_count == 3
        assert (folded.assignee, folded.tags, folded.priority) == ("sam", ["vip"], "high")
        if routing:  # the document shows the table's row
            crm = open_crm(settings)
            try:
                row = crm.routing.get(conv("0"))
                assert row is not None and folded.triage_version == row.version
                assert (row.assignee, list(row.tags), row.priority) == ("sam", ["vip"], "high")
            finally:
                crm.close()
    finally:
        kb.close()
