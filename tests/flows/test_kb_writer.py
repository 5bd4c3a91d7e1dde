"""The flow's KB step: what the knowledge base refuses travels on as dead letters, once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

import kb as kb_package
from crm import open_crm
from flows.kb_writer import KBWriteStep, Linked
from flows.report import IngestReport
from flows.threading import ThreadState, thread_link
from hub.models import Message, conversation_id_for, message_id
from hub.settings import Settings
from kb import open_kb
from kb.base import KnowledgeBase, UpsertResult
from kb.sqlite import SQLiteKB
from tests.flows.conftest import ingest

SPANISH = message_id("facebook", "fb_1")


class RefusingKB(SQLiteKB):
    """Refuses one document the way Elasticsearch refuses a mapping error; writes the rest."""

    def upsert_messages(self, messages: Sequence[Message]) -> UpsertResult:
        result = super().upsert_messages([m for m in messages if m.id != SPANISH])
        result.errors.update({m.id: "400: mapper_parsing_exception" for m in messages if m.id == SPANISH})
        return result


@pytest.fixture
def refusing(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every knowledge base the flow opens refuses the Spanish Facebook post."""

    def open_refusing(s: Settings) -> KnowledgeBase:
        s.ensure_data_dir()
        return RefusingKB(s.kb_path)

    monkeypatch.setattr(kb_package, "open_kb", open_refusing)


def linked(*messages: Message) -> list[Linked]:
    state = ThreadState()
    return [(m, thread_link(state, m)) for m in messages]


def test_the_step_turns_refusals_into_dead_letters(settings: Settings, refusing: None) -> None:
    report = IngestReport()
    step = KBWriteStep(settings, report)
    kept = Message(channel="facebook", account="page", native_id="fb_2", text="hola")
    refused = Message(channel="facebook", account="page", native_id="fb_1", text="¡Me encanta!")
    letters = step(linked(kept, refused))
    assert [(d.stage, d.channel) for d in letters] == [("kb", "facebook")]
    assert "mapper_parsing_exception" in letters[0].reason
    assert Message.model_validate_json(letters[0].raw) == refused  # the document, to retry later
    assert report.created == 1
    assert step(linked(kept)) == [] and report.duplicates == 1


def test_refused_documents_reach_the_dead_letter_store_through_the_flow(
    settings: Settings, threads_file: Path, refusing: None
) -> None:
    report = ingest(settings, [threads_file])
    assert report.created == 8 and report.dead_letters == 5 + 1
    replay = ingest(settings, [threads_file])  # at least once: the same refusal is one letter
    assert replay.created == 0
    kb, crm = open_kb(settings), open_crm(settings)
    try:
        assert kb.count_messages() == 8 and kb.get_message(SPANISH) is None
        total, letters = crm.list_dead_letters(limit=100, stage="kb")
        assert total == 1 and Message.model_validate_json(letters[0].raw).id == SPANISH
        assert crm.list_dead_letters(limit=100)[0] == 5 + 1
    finally:
        kb.close()
        crm.close()


def test_a_reply_to_a_message_stored_outside_the_flow_joins_its_thread(settings: Settings) -> None:
    step = KBWriteStep(settings)
    question = Message(channel="email", account="support", native_id="q@x", text="where is my kettle?")
    assert step(linked(question)) == []
    conversation = conversation_id_for("email", "support", "q@x")
    # the outbox keeps what it sent in the knowledge base, never through the flow
    sent = Message(
        channel="email",
        account="support",
        native_id="sent@parley",
        text="it leaves today",
        reply_to="q@x",
        thread_key="q@x",
        conversation_id=conversation,
    )
    kb = open_kb(settings)
    kb.upsert_messages([sent])
    kb.close()
    answer = Message(
        channel="email", account="support", native_id="a@x", text="thanks!", thread_key="sent@parley"
    )
    assert step(linked(answer)) == []
    kb = open_kb(settings)
    try:
        assert {m.native_id: m.conversation_id for m in kb.iter_messages()} == dict.fromkeys(
            ("q@x", "sent@parley", "a@x"), conversation
        )
        stored = kb.get_conversation(conversation)
        assert stored is not None and stored.message_count == 3
    finally:
        kb.close()
