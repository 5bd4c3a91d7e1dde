"""Routing in the real ingest flow: a file of mail spread over a team by a round-robin rule,
its events, rules that fail at run time skipped, waiting, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections import Counter
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from crm import CRMStore, open_crm
from crm.schema import routing_rules
from hub.models import Conversation, utcnow
from hub.settings import Settings
from kb import open_kb
from kb.sqlite import SQLiteKB
from tests.flows.conftest import ingest


def write_mbox(path: Path, senders: int, *, start: int = 0, tag: str = "a") -> Path:
    """An mbox of ``senders`` mails, each from its own customer, each its own conversation."""
    now = utcnow()
    chunks = []
    for n in range(start, start + senders):
        mail = EmailMessage()
        mail["From"] = f"Customer {n} <customer{n}@example.org>"
        mail["To"] = "support@parley.test"
        mail["Subject"] = f"Order {n}{tag} has not arrived"
        mail["Message-ID"] = f"<order-{n}-{tag}@example.org>"
        mail["Date"] = format_datetime(now)
        mail.set_content(f"Hello, my order number {n} has not arrived yet. Can you help me please?")
        chunks.append(f"From customer{n}@example.org Thu Nov 26 04:00:00 2026\n{mail.as_string()}\n")
    path.write_text("".join(chunks))
    return path


@pytest.fixture
def crm(crm_settings: Settings) -> CRMStore:
    store = open_crm(crm_settings)
    yield store  # type: ignore[misc]
    store.close()


def team_of_two(crm: CRMStore, availability: str = "online") -> tuple[str, str, str]:
    ann = crm.agents.create(name="Ann", email="ann@parley.test", availability=availability).id  # type: ignore[arg-type]
    bob = crm.agents.create(name="Bob", email="bob@parley.test", availability=availability).id  # type: ignore[arg-type]
    return ann, bob, crm.teams.create("Support", member_ids=[ann, bob]).id


def test_a_round_robin_rule_spreads_a_file_of_mail_over_two_agents(
    crm_settings: Settings, crm: CRMStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann, bob, team = team_of_two(crm)
    crm.rules.create(
        name="mail to support",
        condition={"query": "channel:email"},
        actions={"queue": "support", "assign": {"mode": "round_robin", "team_id": team}},
    )
    triage_writes: list[str] = []
    update_conversation = SQLiteKB.update_conversation

    def counted(self: SQLiteKB, conversation_id: str, changes: dict[str, Any]) -> Conversation | None:
        triage_writes.append(conversation_id)
        return update_conversation(self, conversation_id, changes)

    monkeypatch.setattr(SQLiteKB, "update_conversation", counted)
    ingest(crm_settings, [write_mbox(tmp_path / "mail.mbox", 6)])
    # the documents got routing's triage in their roll-up writes, not in a second write
    assert triage_writes == []

    states = crm.routing.get_many([s.conversation_id for s in _all_rows(crm)])
    assert len(states) == 6
    assert Counter(s.assignee for s in states.values()) == {ann: 3, bob: 3}
    assert {s.queue for s in states.values()} == {"support"}
    kb = open_kb(crm_settings)
    try:
        docs = {c.id: c for c in kb.iter_conversations()}
        assert {cid: (d.assignee, d.queue) for cid, d in docs.items()} == {
            cid: (s.assignee, s.queue) for cid, s in states.items()
        }
    finally:
        kb.close()
    counts = Counter(e.type for e in crm.events.read(limit=1000))
    assert counts["conversation.created"] == 6
    assert counts["message.created"] == 6
    assert counts["conversation.assigned"] == 6
    created = crm.events.read(types=["message.created"], limit=1)[0]
    assert created.data["direction"] == "in" and created.data["channel"] == "email"
    assert created.contact_id is not None  # the customer, resolved before routing


def _all_rows(crm: CRMStore) -> list:  # type: ignore[type-arg]
    from sqlalchemy import select

    from crm.schema import conversation_routing

    with crm.engine.connect() as conn:
        return list(conn.execute(select(conversation_routing.c.conversation_id)))


def test_a_replay_routes_nothing_twice(crm_settings: Settings, crm: CRMStore, tmp_path: Path) -> None:
    _, _, team = team_of_two(crm)
    crm.rules.create(name="rr", condition={}, actions={"assign": {"mode": "round_robin", "team_id": team}})
    mbox = write_mbox(tmp_path / "mail.mbox", 4)
    ingest(crm_settings, [mbox])
    before = crm.events.last_id()
    ingest(crm_settings, [mbox])
    assert crm.events.last_id() == before


def test_rules_failing_at_run_time_are_skipped_and_the_conversation_lands(
    crm_settings: Settings, crm: CRMStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ann, bob, team = team_of_two(crm)
    broken = crm.rules.create(
        name="broken query", condition={"query": "refund"}, actions={"priority": "urgent"}
    )
    with crm.engine.begin() as conn:  # a query saved before the language changed, or by hand
        conn.execute(
            update(routing_rules)
            .where(routing_rules.c.id == broken.id)
            .values(condition={"query": "(unclosed AND"}, updated_at=utcnow())
        )
    gone = crm.teams.create("Gone").id
    crm.rules.create(
        name="team deleted", condition={}, actions={"assign": {"mode": "round_robin", "team_id": gone}}
    )
    crm.teams.delete(gone)
    crm.rules.create(
        name="works",
        condition={"channels": ["email"]},
        actions={"assign": {"mode": "least_loaded", "team_id": team}, "tags": ["mail"]},
    )

    with caplog.at_level(logging.WARNING, logger="parley.routing"):
        report = ingest(crm_settings, [write_mbox(tmp_path / "mail.mbox", 2)])

    assert report.created == 2
    states = list(crm.routing.get_many([r.conversation_id for r in _all_rows(crm)]).values())
    assert len(states) == 2
    assert {s.assignee for s in states} <= {ann, bob} and all(s.assignee for s in states)
    assert all(s.priority == "normal" and s.tags == ("mail",) for s in states)  # broken skipped
    reasons = " ".join(r.getMessage() for r in caplog.records)
    assert "broken query" in reasons and "does not parse" in reasons
    assert "team deleted" in reasons and "no longer exists" in reasons


def test_a_segment_condition_reads_the_contacts_segments(
    crm_settings: Settings, crm: CRMStore, tmp_path: Path
) -> None:
    ann, _, _ = team_of_two(crm)
    ingest(crm_settings, [write_mbox(tmp_path / "first.mbox", 1)])  # customer 0 becomes a contact
    (row,) = _all_rows(crm)
    known = crm.routing.get(row.conversation_id)
    assert known is not None and known.contact_id is not None and known.assignee is None
    vip = crm.segments.create(name="VIP", kind="static")
    crm.segments.add_members(vip.id, [known.contact_id])
    crm.rules.create(
        name="vip",
        condition={"segments": [vip.id]},
        actions={"priority": "high", "assign": {"mode": "agent", "agent_id": ann}},
    )
    # customer 0 writes about something new, and so does customer 1 (not in the segment)
    ingest(crm_settings, [write_mbox(tmp_path / "second.mbox", 2, tag="b")])
    states = [
        s
        for s in crm.routing.get_many([r.conversation_id for r in _all_rows(crm)]).values()
        if s.conversation_id != known.conversation_id
    ]
    by_contact = {s.contact_id: s for s in states}
    assert (by_contact[known.contact_id].priority, by_contact[known.contact_id].assignee) == ("high", ann)
    other = [s for s in states if s.contact_id != known.contact_id]
    assert len(other) == 1 and (other[0].priority, other[0].assignee) == ("normal", None)


def test_with_nobody_online_conversations_wait_in_their_queue(
    crm_settings: Settings, crm: CRMStore, tmp_path: Path
) -> None:
    ann, _, team = team_of_two(crm, availability="offline")
    crm.rules.create(
        name="rr",
        condition={},
        actions={"queue": "support", "assign": {"mode": "round_robin", "team_id": team}},
    )
    ingest(crm_settings, [write_mbox(tmp_path / "mail.mbox", 3)])
    waiting = crm.routing.waiting()
    assert len(waiting) == 3 and {w.queue for w in waiting} == {"support"}
    crm.agents.update(ann, availability="online")
    changed = crm.routing.assign_waiting()
    assert len(changed) == 3 and {s.assignee for s in changed} == {ann}
    assert crm.routing.waiting() == []
