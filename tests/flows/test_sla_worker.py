"""The SLA worker over a knowledge base filled by the real ingest flow: a breach escalates the
conversation where it lives (priority raised, unassigned), logs what it changed, and happens
once; the background loop does the same and stops when told. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

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


def _escalating_policy(crm: CRMStore) -> str:
    """A one-minute first-response target escalating to urgent and unassigning; the
    conversation under test assigned to an agent through the routing table."""
    team = crm.teams.create("Escalations").id
    escalation = {"raise_priority": "urgent", "reassign": True, "notify_team": team}
    crm.sla.policies.create(
        SlaPolicySpec.model_validate({"name": "tight", "first_response_minutes": 1, "escalation": escalation})
    )
    agent = crm.agents.create(name="Seven", email="seven@parley.test")
    crm.routing.update(CONVERSATION, {"assignee": agent.id}, actor_id=None)
    return agent.id


def test_a_breach_escalates_the_conversation_once(stores: tuple[CRMStore, KnowledgeBase]) -> None:
    crm, kb = stores
    agent = _escalating_policy(crm)
    crm.sla.follow()
    # the ingest's routing logged conversation.created for every conversation; the fixture's
    # mail is old, so clocks started when the hub recorded it (backfilled): due a minute later
    clock = crm.sla.views([CONVERSATION])[CONVERSATION]
    assert clock.first_response_due is not None and clock.breached == []
    before = crm.events.last_id()
    later = clock.first_response_due + timedelta(minutes=5)
    applied, breached = sla_pass(crm, kb, later)
    assert breached >= 1 and applied >= 1
    conversation = kb.get_conversation(CONVERSATION)
    assert conversation is not None
    assert (conversation.priority.value, conversation.assignee) == ("urgent", None)
    logged = [(e.type, e.data) for e in crm.events.read(after=before, conversation_id=CONVERSATION)]
    assert logged[0][0] == "sla.breached" and logged[0][1]["target"] == "first_response"
    assert logged[0][1]["notify_team"] is not None and logged[0][1]["reassign"] is True
    assert ("conversation.updated", {"changes": {"priority": ["normal", "urgent"]}}) in logged
    assert any(
        t == "conversation.assigned" and d["assignee"] is None and d["previous"] == agent for t, d in logged
    )
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
    assert sla_pass(crm, kb, later + timedelta(minutes=5)) == (0, 0)
    assert crm.events.last_id() == last  # nothing breached, escalated or logged twice


def test_the_background_loop_runs_passes_until_stopped(stores: tuple[CRMStore, KnowledgeBase]) -> None:
    crm, kb = stores
    _escalating_policy(crm)
    crm.sla.follow()
    clock = crm.sla.views([CONVERSATION])[CONVERSATION]
    assert clock.first_response_due is not None
    due = clock.first_response_due

    def later() -> datetime:  # the worker's clock, five minutes past the due time
        return due + timedelta(minutes=5)

    stop = threading.Event()
    worker = threading.Thread(target=run_sla_worker, args=(crm, kb, 0.05, stop, later), daemon=True)
    worker.start()
    deadline = time.monotonic() + 30
    while (
        not crm.events.read(types=["sla.breached"], conversation_id=CONVERSATION)
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    stop.set()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert len(crm.events.read(types=["sla.breached"], conversation_id=CONVERSATION)) == 1
    conversation = kb.get_conversation(CONVERSATION)
    assert conversation is not None and conversation.priority.value == "urgent"
