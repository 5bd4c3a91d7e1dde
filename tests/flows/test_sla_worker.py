"""The SLA worker over a knowledge base filled by the real ingest flow: a breach escalates the
conversation where it lives (priority raised, unassigned), logs what it changed, and happens
once; the background loop does the same and stops when told. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crm import CRMStore, open_crm
from crm.sla import SlaPolicySpec
from crm.sla.schema import sla_clocks
from flows.sla import run_sla_worker, sla_pass
from hub.models import conversation_id_for
from hub.settings import Settings
from kb import open_kb
from kb.base import KnowledgeBase
from tests.flows.conftest import FIXTURES, ingest

CONVERSATION = conversation_id_for("twitter", "demo", "100")


@pytest.fixture
def stores(crm_settings: Settings) -> Iterator[tuple[CRMStore, KnowledgeBase]]:
    ingest(crm_settings, [FIXTURES / "envelopes__threads.jsonl"])
    crm, kb = open_crm(crm_settings), open_kb(crm_settings)
    try:
        yield crm, kb
    finally:
        crm.close()
        kb.close()


def _overdue(crm: CRMStore, kb: KnowledgeBase) -> None:
    """A policy escalating to urgent and unassigning, and a conversation ten minutes into a
    one-minute first-response target, assigned to someone."""
    team = crm.teams.create("Escalations").id
    escalation = {"raise_priority": "urgent", "reassign": True, "notify_team": team}
    crm.sla.policies.create(
        SlaPolicySpec.model_validate({"name": "tight", "first_response_minutes": 1, "escalation": escalation})
    )
    kb.update_conversation(CONVERSATION, {"assignee": "agent-7", "queue": "social"})
    sent = datetime.now(UTC) - timedelta(minutes=10)
    crm.events.append(
        "conversation.created",
        conversation_id=CONVERSATION,
        data={"channel": "twitter", "account": "demo", "message_id": "m100", "sent_at": sent.isoformat()},
    )


def test_a_breach_escalates_the_conversation_once(stores: tuple[CRMStore, KnowledgeBase]) -> None:
    crm, kb = stores
    _overdue(crm, kb)
    before = crm.events.last_id()
    applied, breached = sla_pass(crm, kb)
    assert breached == 1 and applied >= 1
    conversation = kb.get_conversation(CONVERSATION)
    assert conversation is not None
    assert (conversation.priority.value, conversation.assignee) == ("urgent", None)
    logged = [(e.type, e.data) for e in crm.events.read(after=before)]
    types = [t for t, _ in logged]
    assert types == ["sla.breached", "conversation.updated", "conversation.assigned"]
    assert logged[1][1]["changes"] == {"priority": ["normal", "urgent"]}
    assert (logged[2][1]["assignee"], logged[2][1]["previous"]) == (None, "agent-7")
    # the tracker followed the escalation's events, and no escalation is left pending
    assert crm.sla.tracker.cursor() == crm.events.last_id()
    with crm.engine.connect() as conn:
        row = (
            conn.execute(select(sla_clocks).where(sla_clocks.c.conversation_id == CONVERSATION))
            .mappings()
            .one()
        )
    assert (row["priority"], row["assignee"], row["escalation_pending"]) == ("urgent", None, None)
    last = crm.events.last_id()
    assert sla_pass(crm, kb) == (0, 0)
    assert crm.events.last_id() == last  # nothing breached, escalated or logged twice


def test_the_background_loop_runs_passes_until_stopped(stores: tuple[CRMStore, KnowledgeBase]) -> None:
    crm, kb = stores
    _overdue(crm, kb)
    stop = threading.Event()
    worker = threading.Thread(target=run_sla_worker, args=(crm, kb, 0.05, stop), daemon=True)
    worker.start()
    deadline = time.monotonic() + 30
    while not crm.events.read(types=["sla.breached"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert len(crm.events.read(types=["sla.breached"])) == 1
    conversation = kb.get_conversation(CONVERSATION)
    assert conversation is not None and conversation.priority.value == "urgent"
