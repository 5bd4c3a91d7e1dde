"""Inbox analytics folded from events: first-response and resolution times by group, backlog
over time, conversations per agent; checked against hand counts and a brute-force model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.inbox import backlog_table, fold_events, percentile, response_time_table, workload_table
from crm import Event

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_ids = count(1)


def ev(type: str, conversation: str, minutes: float, **data: Any) -> Event:
    return Event(
        id=next(_ids),
        at=T0 + timedelta(minutes=minutes),
        type=type,
        conversation_id=conversation,
        contact_id=None,
        actor_id=None,
        data=data,
    )


def created(conversation: str, minutes: float, channel: str = "email") -> Event:
    sent = (T0 + timedelta(minutes=minutes)).isoformat()
    return ev("conversation.created", conversation, minutes, channel=channel, sent_at=sent)


def reply(conversation: str, minutes: float, agent: str) -> Event:
    sent = (T0 + timedelta(minutes=minutes)).isoformat()
    return ev("message.created", conversation, minutes, direction="out", sent_by=agent, sent_at=sent)


def status(conversation: str, minutes: float, to: str) -> Event:
    return ev("conversation.status_changed", conversation, minutes, to=to)


def test_first_response_and_resolution_times_by_agent_channel_and_priority() -> None:
    events = [
        created("a", 0),
        created("b", 10, channel="twitter"),
        ev("conversation.assigned", "a", 1, assignee="ann"),
        ev("conversation.assigned", "b", 11, assignee="bob"),
        ev("conversation.updated", "b", 11, changes={"priority": ["normal", "high"]}),
        reply("a", 30, "ann"),
        reply("a", 40, "ann"),  # a second reply is not a first response
        reply("b", 20, "bob"),
        ev("message.created", "b", 25, direction="in", sent_at=(T0 + timedelta(minutes=25)).isoformat()),
        status("a", 60, "resolved"),
        ev("conversation.reopened", "a", 100, reason="inbound"),
        status("a", 130, "resolved"),
        status("b", 70, "pending"),
    ]
    fold = fold_events(events)
    assert [(d.conversation_id, d.seconds, d.agent) for d in fold.first_responses] == [
        ("a", 1800.0, "ann"),
        ("b", 600.0, "bob"),
    ]
    assert [(d.conversation_id, d.seconds) for d in fold.resolutions] == [("a", 3600.0), ("a", 1800.0)]

    by_agent = response_time_table(fold, measure="first_response", by="agent", names={"ann": "Ann"})
    assert by_agent.records() == [
        {"agent_id": "ann", "agent": "Ann", "count": 1, "median_seconds": 1800.0, "p90_seconds": 1800.0},
        {"agent_id": "bob", "agent": "bob", "count": 1, "median_seconds": 600.0, "p90_seconds": 600.0},
    ]
    by_priority = response_time_table(fold, measure="first_response", by="priority")
    assert {r["priority"]: r["count"] for r in by_priority.records()} == {"high": 1, "normal": 1}
    by_channel = response_time_table(fold, measure="resolution", by="channel")
    assert by_channel.records() == [
        {"channel": "email", "count": 2, "median_seconds": 2700.0, "p90_seconds": 3600.0}
    ]
    by_team = response_time_table(
        fold, measure="first_response", by="team", teams={"ann": ["Billing", "VIP"]}
    )
    assert {r["team"] for r in by_team.records()} == {"Billing", "VIP", "(no team)"}
    # a period holds a figure when it holds its end
    later = response_time_table(fold, measure="resolution", by="agent", since=T0 + timedelta(minutes=90))
    assert later.records()[0]["count"] == 1

    backlog = backlog_table(fold, since=T0, until=T0 + timedelta(hours=3), step=timedelta(hours=1))
    assert [row[1] for row in backlog.rows] == [1, 2, 1]  # a resolved, reopened, resolved; b pending stays

    workload = workload_table(fold)
    assert workload.records() == [
        {"agent_id": "ann", "agent": "ann", "assigned": 1, "holding": 0},
        {"agent_id": "bob", "agent": "bob", "assigned": 1, "holding": 1},
    ]
    assert "median_seconds" in by_agent.to_csv().splitlines()[0]


def test_percentile_is_nearest_rank() -> None:
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([float(n) for n in range(1, 11)], 0.9) == 9.0
    assert percentile([float(n) for n in range(1, 101)], 0.5) == 50.0


def test_a_backlog_with_a_bad_step_is_refused() -> None:
    fold = fold_events([])
    with pytest.raises(ValueError, match="positive"):
        backlog_table(fold, since=T0, until=T0 + timedelta(hours=1), step=timedelta(0))
    with pytest.raises(ValueError, match="too many"):
        backlog_table(fold, since=T0, until=T0 + timedelta(days=365), step=timedelta(seconds=1))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 600), st.sampled_from(["open", "pending", "resolved"])),
        max_size=60,
    )
)
def test_backlog_equals_a_brute_force_count(changes: list[tuple[int, int, str]]) -> None:
    events = [created(f"c{n}", 0) for n in range(6)]
    events += [status(f"c{n}", minute, to) for n, minute, to in sorted(changes, key=lambda c: c[1])]
    fold = fold_events(events)
    table = backlog_table(fold, since=T0, until=T0 + timedelta(hours=10), step=timedelta(minutes=30))
    for at, open_count in table.rows:
        assert isinstance(at, datetime)
        state = {f"c{n}": "open" for n in range(6)}
        for event in events[6:]:
            if event.at <= at and event.conversation_id:
                state[event.conversation_id] = event.data["to"]
        assert open_count == sum(1 for s in state.values() if s != "resolved")
