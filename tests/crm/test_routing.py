"""The routing table: each assignment mode, who fits, waiting, the life cycle and its events,
on SQLite and PostgreSQL (``store`` runs on both)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from itertools import pairwise

import pytest
from sqlalchemy import insert, select

from crm import CRMStore
from crm.errors import InvalidRequest
from crm.routing import Arrival, Decision, RoutingState
from crm.rules import AssignSpec
from crm.schema import conversation_aliases, conversation_routing
from hub.models import utcnow


def arrival(
    cid: str, *, channel: str = "email", language: str | None = "en", contact: str | None = None
) -> Arrival:
    return Arrival(
        conversation_id=cid,
        channel=channel,
        account="support",
        contact_id=contact,
        language=language,
        message_id=f"msg-{cid}",
        sent_at=utcnow(),
        inbound=True,
        has_inbound=True,
    )


def route(
    store: CRMStore, arrivals: Sequence[Arrival], spec: AssignSpec | None, **decision: object
) -> list[RoutingState]:
    return store.routing.route_batch(
        arrivals,
        lambda state: Decision(assign=spec, assign_rule_id="rule_x", **decision),  # type: ignore[arg-type]
    )


def agent(store: CRMStore, name: str, **fields: object) -> str:
    values: dict[str, object] = {"availability": "online", "capacity": 10, **fields}
    return store.agents.create(name=name, email=f"{name}@example.org", **values).id  # type: ignore[arg-type]


def assignees(store: CRMStore, ids: Sequence[str]) -> list[str | None]:
    states = store.routing.get_many(ids)
    return [states[cid].assignee for cid in ids]


def test_round_robin_takes_the_team_in_turn_and_skips_who_does_not_fit(store: CRMStore) -> None:
    ann, bob, cyd = agent(store, "ann"), agent(store, "bob"), agent(store, "cyd", languages=["fr"])
    team = store.teams.create("support", member_ids=[ann, bob, cyd])
    spec = AssignSpec(mode="round_robin", team_id=team.id)
    ids = [f"c{n}" for n in range(6)]
    route(store, [arrival(cid) for cid in ids], spec)
    got = assignees(store, ids)
    assert cyd not in got  # speaks no English
    assert got.count(ann) == got.count(bob) == 3
    assert all(a != b for a, b in pairwise(got))  # strictly alternating
    events = store.events.read(types=["conversation.assigned"], limit=100)
    assert [e.data["assignee"] for e in events] == got
    assert {e.data["rule_id"] for e in events} == {"rule_x"}


def test_round_robin_goes_on_from_the_stored_cursor_in_each_team(store: CRMStore) -> None:
    """Each transaction reads every team's cursor and writes those it moved in one statement
    (the first one inserts the cursor, later ones update it): the turn carries over."""
    ann, bob, cyd, dan = (agent(store, name) for name in ("ann", "bob", "cyd", "dan"))
    first = store.teams.create("first", member_ids=[ann, bob, cyd])
    second = store.teams.create("second", member_ids=[cyd, dan])
    specs = {
        "a": AssignSpec(mode="round_robin", team_id=first.id),
        "b": AssignSpec(mode="round_robin", team_id=second.id),
    }
    for batch in range(4):  # one transaction each, both teams in it
        ids = [f"{team}{batch}" for team in specs]
        store.routing.route_batch(
            [arrival(cid) for cid in ids],
            lambda state: Decision(assign=specs[state.conversation_id[0]], assign_rule_id="rule_x"),
        )
    in_first = assignees(store, [f"a{n}" for n in range(4)])
    in_second = assignees(store, [f"b{n}" for n in range(4)])
    members = sorted([ann, bob, cyd])
    start = members.index(in_first[0])
    assert in_first == [members[(start + n) % 3] for n in range(4)]
    assert sorted(in_second[:2]) == sorted([cyd, dan]) and in_second[2:] == in_second[:2]


def test_least_loaded_picks_the_lowest_share_of_capacity(store: CRMStore) -> None:
    small, large = agent(store, "small", capacity=2), agent(store, "large", capacity=8)
    team = store.teams.create("billing", member_ids=[small, large])
    spec = AssignSpec(mode="least_loaded", team_id=team.id)
    ids = [f"c{n}" for n in range(10)]
    for cid in ids:  # one at a time, so each choice sees the loads before it
        route(store, [arrival(cid)], spec)
    got = assignees(store, ids)
    assert got.count(small) == 2 and got.count(large) == 8  # both full, in proportion


def test_a_named_agent_who_cannot_take_it_falls_back(store: CRMStore) -> None:
    away = agent(store, "away", availability="away")
    ann = agent(store, "ann")
    team = store.teams.create("t", member_ids=[ann])
    spec = AssignSpec(mode="agent", agent_id=away, fallback=AssignSpec(mode="round_robin", team_id=team.id))
    route(store, [arrival("c1")], spec)
    assert assignees(store, ["c1"]) == [ann]
    route(store, [arrival("c2")], AssignSpec(mode="agent", agent_id=ann))
    assert assignees(store, ["c2"]) == [ann]


def test_sticky_returns_a_contact_to_the_agent_who_handled_them(store: CRMStore) -> None:
    ann, bob = agent(store, "ann"), agent(store, "bob")
    team = store.teams.create("t", member_ids=[ann, bob])
    route(store, [arrival("first", contact="ctc_1")], AssignSpec(mode="agent", agent_id=bob))
    store.routing.set_status("first", "resolved")
    sticky = AssignSpec(mode="sticky", fallback=AssignSpec(mode="round_robin", team_id=team.id))
    route(store, [arrival("again", contact="ctc_1")], sticky)
    assert assignees(store, ["again"]) == [bob]
    # someone new has no history: the fallback decides
    route(store, [arrival("new", contact="ctc_2")], sticky)
    assert assignees(store, ["new"])[0] in {ann, bob}
    assert store.events.read(types=["conversation.assigned"])[-1].data["rule_id"] == "rule_x"
    # the sticky agent gone away: the fallback again
    store.agents.update(bob, availability="offline")
    route(store, [arrival("third", contact="ctc_1")], sticky)
    assert assignees(store, ["third"]) == [ann]


def test_sticky_sees_what_its_own_batch_assigned(store: CRMStore) -> None:
    # Sticky reads the contact's rows in the batch's transaction, which writes its rows in bulk:
    # a conversation the same batch assigned earlier counts, whoever else's rows are unwritten.
    ann, bob = agent(store, "ann"), agent(store, "bob")
    team = store.teams.create("t", member_ids=[ann, bob])
    sticky = AssignSpec(mode="sticky", fallback=AssignSpec(mode="round_robin", team_id=team.id))
    contacts = ["ctc_1", "ctc_2", "ctc_3", "ctc_1", "ctc_2", "ctc_3", "ctc_1"]
    ids = [f"c{n}" for n in range(len(contacts))]
    route(store, [arrival(cid, contact=ctc) for cid, ctc in zip(ids, contacts, strict=True)], sticky)
    got = dict(zip(ids, assignees(store, ids), strict=True))
    first = {ctc: got[cid] for cid, ctc in reversed(list(zip(ids, contacts, strict=True)))}
    assert first["ctc_1"] != first["ctc_2"]  # the fallback took the team in turn
    assert all(got[cid] == first[ctc] for cid, ctc in zip(ids, contacts, strict=True))


def test_channel_and_capacity_limit_who_fits_and_the_rest_waits(store: CRMStore) -> None:
    mail = agent(store, "mail", channels=["email"], capacity=1)
    team = store.teams.create("t", member_ids=[mail])
    spec = AssignSpec(mode="round_robin", team_id=team.id)
    route(store, [arrival("tweet", channel="twitter"), arrival("m1"), arrival("m2")], spec, queue="inbox")
    states = store.routing.get_many(["tweet", "m1", "m2"])
    assert states["m1"].assignee == mail
    assert states["tweet"].assignee is None and states["tweet"].waiting
    assert states["m2"].assignee is None and states["m2"].waiting and states["m2"].queue == "inbox"
    assert [s.conversation_id for s in store.routing.waiting()] == ["m2", "tweet"]  # since, then id

    # resolving m1 frees the agent: m2 is assigned in the same transaction, tweet still waits
    changed = store.routing.set_status("m1", "resolved", actor_id=mail)
    assert [s.conversation_id for s in changed] == ["m1", "m2"]
    assert assignees(store, ["m2", "tweet"]) == [mail, None]


def test_waiting_conversations_are_assigned_when_an_agent_comes_online(store: CRMStore) -> None:
    ann = agent(store, "ann", availability="offline")
    team = store.teams.create("t", member_ids=[ann])
    route(store, [arrival("c1"), arrival("c2")], AssignSpec(mode="least_loaded", team_id=team.id))
    assert assignees(store, ["c1", "c2"]) == [None, None]
    assert store.routing.assign_waiting() == []  # still offline: nothing to do
    store.agents.update(ann, availability="online")
    changed = store.routing.assign_waiting()
    assert sorted(s.conversation_id for s in changed) == ["c1", "c2"]
    assert assignees(store, ["c1", "c2"]) == [ann, ann]
    assert store.routing.waiting() == []


def test_rules_set_queue_priority_and_tags_with_an_updated_event(store: CRMStore) -> None:
    route(store, [arrival("c1")], None, queue="vip", priority="high", tags=("refund",))
    state = store.routing.get("c1")
    assert state is not None
    assert (state.queue, state.priority, state.tags) == ("vip", "high", ("refund",))
    (updated,) = store.events.read(types=["conversation.updated"])
    assert updated.data["changes"] == {
        "queue": [None, "vip"],
        "priority": ["normal", "high"],
        "tags": [[], ["refund"]],
    }
    (created,) = store.events.read(types=["conversation.created"])
    assert created.conversation_id == "c1" and created.data["message_id"] == "msg-c1"
    route(store, [arrival("c1")], None, queue="vip", priority="high", tags=("refund",))
    assert (
        len(store.events.read(types=["conversation.updated", "conversation.created"])) == 2
    )  # no change, no event


def test_life_cycle_reopens_on_inbound_and_when_a_snooze_ends(store: CRMStore) -> None:
    route(store, [arrival("c1")], None)
    store.routing.set_status("c1", "pending", actor_id="agt_x")
    route(store, [arrival("c1")], None)  # the customer writes again
    assert store.routing.get("c1").status == "open"  # type: ignore[union-attr]
    reopened = store.events.read(types=["conversation.reopened"])
    assert [e.data["reason"] for e in reopened] == ["inbound"]

    until = utcnow() + timedelta(hours=2)
    store.routing.set_status("c1", "snoozed", snoozed_until=until, actor_id="agt_x")
    assert store.routing.wake_snoozed(now=until - timedelta(minutes=1)) == []
    (woken,) = store.routing.wake_snoozed(now=until + timedelta(seconds=1))
    assert woken.status == "open" and woken.snoozed_until is None
    changes = [
        (e.data["from"], e.data["to"]) for e in store.events.read(types=["conversation.status_changed"])
    ]
    assert changes == [("open", "pending"), ("pending", "open"), ("open", "snoozed"), ("snoozed", "open")]
    assert [e.data["reason"] for e in store.events.read(types=["conversation.reopened"])] == [
        "inbound",
        "snooze_ended",
    ]
    assert store.events.read(types=["conversation.status_changed"])[0].actor_id == "agt_x"


def test_bad_life_cycle_requests_are_refused(store: CRMStore) -> None:
    route(store, [arrival("c1")], None)
    with pytest.raises(InvalidRequest):
        store.routing.set_status("c1", "snoozed", snoozed_until=utcnow() - timedelta(minutes=1))
    with pytest.raises(InvalidRequest):
        store.routing.set_status("c1", "snoozed")
    with pytest.raises(InvalidRequest):
        store.routing.set_status("c1", "closed")


def test_a_folded_conversation_hands_its_agent_over_and_holds_no_capacity(store: CRMStore) -> None:
    ann = agent(store, "ann", capacity=1)
    route(store, [arrival("source")], AssignSpec(mode="agent", agent_id=ann))
    route(store, [arrival("target")], None)
    store.routing.route_batch([], lambda s: Decision(), folds={"source": "target"})
    assert assignees(store, ["source", "target"]) == [None, ann]
    # ann holds one conversation, not two: the next one waits
    route(store, [arrival("other")], AssignSpec(mode="agent", agent_id=ann))
    assert assignees(store, ["other"]) == [None]


def test_folds_another_process_decided_later_are_found_and_released_once(store: CRMStore) -> None:
    # The thread store folded "late" into "kept" after the batch that routed "late" had resolved
    # its conversations: the routing row stays live until someone releases it.
    ann = agent(store, "ann", capacity=1)
    route(store, [arrival("late")], AssignSpec(mode="agent", agent_id=ann))
    route(store, [arrival("kept")], None)
    route(store, [arrival("queued")], AssignSpec(mode="agent", agent_id=ann))  # ann is full: waits
    with store.engine.begin() as conn:
        conn.execute(
            insert(conversation_aliases).values(
                conversation_id="late", into_id="kept", moved=True, created_at=utcnow()
            )
        )
    assert store.routing.unreleased_folds() == {"late": "kept"}
    store.routing.release_folds({"late": "kept"})
    assert store.routing.unreleased_folds() == {}
    assert assignees(store, ["late", "kept", "queued"]) == [None, ann, None]  # ann moved over with it
    with store.engine.connect() as conn:
        row = conn.execute(
            select(conversation_routing.c.folded_into).where(conversation_routing.c.conversation_id == "late")
        ).one()
    assert row.folded_into == "kept"
    store.routing.release_folds({"late": "kept"})  # again: nothing changes, no event
    assert assignees(store, ["late", "kept", "queued"]) == [None, ann, None]


def test_releasing_an_agent_unassigns_what_they_hold_and_nothing_else(store: CRMStore) -> None:
    ann, bob = agent(store, "ann"), agent(store, "bob")
    to_ann = AssignSpec(mode="agent", agent_id=ann)
    for cid in ("open", "pending", "snoozed", "resolved", "folded", "kept"):
        route(store, [arrival(cid)], to_ann)
    route(store, [arrival("bobs")], AssignSpec(mode="agent", agent_id=bob))
    store.routing.set_status("pending", "pending")
    store.routing.set_status("snoozed", "snoozed", snoozed_until=utcnow() + timedelta(hours=1))
    store.routing.set_status("resolved", "resolved")
    store.routing.route_batch([], lambda s: Decision(), folds={"folded": "kept"})
    before = store.events.last_id()

    released = store.routing.release_agent(ann, actor_id="agt_admin")

    assert sorted(s.conversation_id for s in released) == ["kept", "open", "pending", "snoozed"]
    ids = ["open", "pending", "snoozed", "resolved", "folded", "kept", "bobs"]
    # a resolved conversation keeps who handled it; a folded one holds nobody already
    assert assignees(store, ids) == [None, None, None, ann, None, None, bob]
    assert store.routing.get("snoozed").status == "snoozed"  # type: ignore[union-attr]
    events = store.events.read(after=before, types=["conversation.assigned"])
    assert sorted(e.conversation_id for e in events) == ["kept", "open", "pending", "snoozed"]
    unassigned = {(e.data["assignee"], e.data["previous"], e.actor_id) for e in events}
    assert unassigned == {(None, ann, "agt_admin")}
    assert store.routing.release_agent(ann, actor_id="agt_admin") == []  # nothing twice
    assert store.routing.release_agent("agt_nobody", actor_id=None) == []
