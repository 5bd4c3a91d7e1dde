"""The knowledge base ends at the routing table's triage whatever order two processes' writes
land in: the interleavings behind tests/flows/test_concurrent_routing.py's rare failures, played
out one step at a time against real stores (the CRM on SQLite and PostgreSQL, the KB on SQLite)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm import CRMStore, open_crm
from crm.routing import Seed
from flows.kb_writer import flow_keeper
from hub.models import Conversation, Message, conversation_id_for
from hub.settings import Settings
from kb.conversations import ConversationKeeper, project_triage, roll_up
from kb.sqlite import SQLiteKB

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def conv(native_id: str) -> str:
    return conversation_id_for("twitter", "demo", native_id)


def tweet(n: int, root: str) -> Message:
    return Message(
        channel="twitter",
        account="demo",
        native_id=str(n),
        text=f"m{n}",
        conversation_id=conv(root),
        created_at=T0 + timedelta(minutes=n),
    )


class InterleavedKB(SQLiteKB):
    """A SQLite knowledge base that runs ``between`` once, right after the first single read of
    ``watched``: another process's write landing between this process's read and its write."""

    watched: str | None = None
    between: Callable[[], None] | None = None

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        found = super().get_conversation(conversation_id)
        if conversation_id == self.watched and self.between is not None:
            step, self.between = self.between, None
            step()
        return found


@pytest.fixture
def stores(crm_settings: Settings, tmp_path: Path) -> Iterator[tuple[CRMStore, InterleavedKB]]:
    crm, kb = open_crm(crm_settings), InterleavedKB(tmp_path / "kb.sqlite3")
    try:
        yield crm, kb
    finally:
        crm.close()
        kb.close()


def _seeded(crm: CRMStore, keeper: ConversationKeeper, *roots: str) -> None:
    """One stored conversation per root, each with a routing row (as after its first batch)."""
    keeper.apply([tweet(n, root) for n, root in enumerate(roots)])
    for root in roots:
        doc = keeper.kb.get_conversation(conv(root))
        assert doc is not None
        crm.routing.seed([Seed.of(doc)])


def test_projections_landing_out_of_commit_order_leave_the_newest(
    stores: tuple[CRMStore, InterleavedKB],
) -> None:
    crm, kb = stores
    _seeded(crm, ConversationKeeper(kb), "a")
    cid = conv("a")
    # process A commits its change, then process B commits a newer one ...
    older = crm.routing.update(cid, {"assignee": "ann"}, actor_id=None)
    newer = crm.routing.update(cid, {"assignee": "bob", "priority": "high"}, actor_id=None)
    # ... and B's projection lands first, A's last: by update, by the roll-up write, alone
    project_triage(kb, newer)
    project_triage(kb, older)
    doc = kb.get_conversation(cid)
    assert doc is not None and doc.assignee == "bob"
    stored = kb.conversation_messages(cid)
    kb.save_rollups([roll_up(cid, stored)], triage={cid: older[0].triage()})
    kb.update_conversation(cid, older[0].triage())

    row, doc = crm.routing.get(cid), kb.get_conversation(cid)
    assert row is not None and doc is not None
    assert (doc.assignee, str(doc.priority), doc.triage_version) == ("bob", "high", row.version)
    assert row.version > older[0].version


def test_a_fold_never_writes_a_stale_assignee_over_the_tables(
    stores: tuple[CRMStore, InterleavedKB], crm_settings: Settings
) -> None:
    crm, kb = stores
    keeper = flow_keeper(kb, crm_settings)  # what the ingest flow folds with
    source, target = conv("s"), conv("t")
    _seeded(crm, keeper, "s", "t")
    project_triage(kb, crm.routing.update(source, {"assignee": "ann"}, actor_id=None))
    # process B assigns the target; its projection is still to come when A folds
    assigned = crm.routing.update(target, {"assignee": "bob"}, actor_id=None)
    kb.watched, kb.between = target, lambda: project_triage(kb, assigned)

    # process A folds the source into the target (documents, then the routing rows)
    keeper.fold({source: target})
    project_triage(kb, crm.routing.release_folds({source: target}))
    if kb.between is not None:  # A never read the target: B's projection lands after all of A
        kb.between()

    row, doc = crm.routing.get(target), kb.get_conversation(target)
    assert row is not None and doc is not None
    assert kb.get_conversation(source) is None and doc.message_count == 2
    assert (doc.assignee, doc.triage_version) == (row.assignee, row.version) == ("bob", row.version)


def test_a_fold_into_a_conversation_the_batch_opens_carries_the_rows_assignee(
    stores: tuple[CRMStore, InterleavedKB], crm_settings: Settings
) -> None:
    """The target's row is created in the fold's own routing transaction (a late parent became
    the root): the folded row's assignee reaches it from the table, not from the document."""
    from crm.routing import Arrival, Decision

    crm, kb = stores
    keeper = flow_keeper(kb, crm_settings)
    source, target = conv("s"), conv("t")
    _seeded(crm, keeper, "s")
    project_triage(kb, crm.routing.update(source, {"assignee": "ann", "tags": ["vip"]}, actor_id=None))
    keeper.apply([tweet(5, "t")], {source: target})
    arrival = Arrival(
        conversation_id=target,
        channel="twitter",
        account="demo",
        contact_id=None,
        language=None,
        message_id=tweet(5, "t").id,
        sent_at=T0,
        inbound=True,
        has_inbound=True,
    )
    changed = crm.routing.route_batch([arrival], lambda state: Decision(), folds={source: target})
    project_triage(kb, changed)

    row, doc = crm.routing.get(target), kb.get_conversation(target)
    assert row is not None and doc is not None
    assert (row.assignee, list(row.tags)) == ("ann", ["vip"])
    assert (doc.assignee, doc.tags, doc.triage_version) == ("ann", ["vip"], row.version)
    assigned = crm.events.read(types=["conversation.assigned"], limit=100)
    assert [(e.conversation_id, e.data["assignee"]) for e in assigned][-1] == (target, "ann")
