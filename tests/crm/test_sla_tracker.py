"""The SLA tracker on SQLite and PostgreSQL: clocks that follow the event log across business
hours, a DST change and pauses; breaches once per target with escalation; recorded response
times; imports of old mail; concurrent followers.

The log is written with the times events were recorded (``at``) chosen by the test, the way the
flow and the API would have recorded them then."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from crm import CRMStore, InvalidRequest
from crm.errors import Conflict
from crm.schema import events
from crm.sla import BreachAction, SlaPolicySpec
from crm.sla.schema import sla_clocks, sla_times
from crm.sla.tracker import SlaTracker

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = {
    "timezone": "Europe/Berlin",
    "hours": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
}


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def log(store: CRMStore, type_: str, at: datetime, conversation_id: str | None = "c1", **data: Any) -> None:
    """Append an event recorded at ``at``, as the writer of that change would have."""
    with store.engine.begin() as conn:
        conn.execute(
            insert(events).values(
                at=at, type=type_, conversation_id=conversation_id, data=data, actor_id=None
            )
        )


def created(store: CRMStore, at: datetime, conversation_id: str = "c1", **extra: Any) -> None:
    message = f"m-{conversation_id}-0"
    data = {"channel": "email", "account": "support", "message_id": message, "sent_at": at.isoformat()}
    log(store, "conversation.created", at, conversation_id, **(data | extra))
    log(
        store,
        "message.created",
        at,
        conversation_id,
        message_id=message,
        direction="in",
        sent_at=at.isoformat(),
    )


def message(store: CRMStore, at: datetime, direction: str, conversation_id: str = "c1", **extra: Any) -> None:
    data = {
        "message_id": f"m-{conversation_id}-{at.timestamp()}",
        "direction": direction,
        "sent_at": at.isoformat(),
    }
    log(store, "message.created", at, conversation_id, **(data | extra))


def status(store: CRMStore, at: datetime, to: str, conversation_id: str = "c1", **extra: Any) -> None:
    log(
        store,
        "conversation.status_changed",
        at,
        conversation_id,
        **({"to": to, "snoozed_until": None} | extra),
    )


def policy(store: CRMStore, **fields: Any) -> str:
    spec = SlaPolicySpec.model_validate({"name": "default"} | fields)
    return store.sla.policies.create(spec).id


def clock(store: CRMStore, conversation_id: str = "c1") -> dict[str, Any]:
    with store.engine.connect() as conn:
        return dict(
            conn.execute(select(sla_clocks).where(sla_clocks.c.conversation_id == conversation_id))
            .mappings()
            .one()
        )


def breaches(store: CRMStore) -> list[dict[str, Any]]:
    return [
        e.data | {"conversation_id": e.conversation_id}
        for e in store.events.read(types=["sla.breached"], limit=1000)
    ]


def test_first_response_due_over_a_weekend_with_a_dst_change(store: CRMStore) -> None:
    policy(store, first_response_minutes=120, resolution_minutes=16 * 60, business_hours=OFFICE)
    # Friday 27 March 2026, 16:00 CET; Berlin moves to CEST on Sunday 29 March
    created(store, berlin(2026, 3, 27, 16, 0))
    assert store.sla.follow() == 2
    row = clock(store)
    # 1 h on Friday, 1 h on Monday from 09:00 CEST (07:00 UTC)
    assert row["first_response_due"] == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    # 16 working hours: 1 Friday, 8 Monday, 7 Tuesday -> Tuesday 16:00 CEST
    assert row["resolution_due"] == berlin(2026, 3, 31, 16, 0)
    view = store.sla.views(["c1", "unknown"])
    assert set(view) == {"c1"} and view["c1"].first_response_due == row["first_response_due"]

    assert store.sla.scan(datetime(2026, 3, 30, 7, 59, tzinfo=UTC)) == 0
    assert store.sla.scan(datetime(2026, 3, 30, 8, 1, tzinfo=UTC)) == 1
    assert breaches(store) == [
        {
            "conversation_id": "c1",
            "policy_id": row["policy_id"],
            "target": "first_response",
            "due_at": "2026-03-30T08:00:00+00:00",
            "notify_team": None,
            "raise_priority": None,
            "reassign": False,
        }
    ]
    # once per target: again, and after a restart (a new tracker over the same store)
    assert store.sla.scan(datetime(2026, 3, 30, 9, 0, tzinfo=UTC)) == 0
    fresh = SlaTracker(store.engine, store.engine, store.events, late_after=timedelta(hours=1))
    assert fresh.follow() == 0 and fresh.scan(datetime(2026, 3, 30, 9, 0, tzinfo=UTC)) == 0
    assert len(breaches(store)) == 1
    assert store.sla.views(["c1"])["c1"].breached == ["first_response"]


def test_pending_across_closing_time_pauses_the_clock(store: CRMStore) -> None:
    policy(store, first_response_minutes=180, business_hours=OFFICE)
    created(store, berlin(2026, 11, 24, 15, 0))  # Tuesday 15:00
    status(store, berlin(2026, 11, 24, 16, 0), "pending")
    store.sla.follow()
    row = clock(store)
    assert row["first_response_due"] is None and row["paused_since"] == berlin(2026, 11, 24, 16, 0)
    # paused: nothing breaches however late it gets
    assert store.sla.scan(berlin(2026, 11, 27, 12, 0)) == 0
    status(store, berlin(2026, 11, 25, 10, 0), "open")  # Wednesday 10:00
    store.sla.follow()
    row = clock(store)
    # 1 h Tuesday, then from 10:00 Wednesday (09:00-10:00 was paused): due 12:00
    assert row["first_response_due"] == berlin(2026, 11, 25, 12, 0)
    assert row["paused_since"] is None

    message(store, berlin(2026, 11, 25, 11, 0), "out", sent_by="agent-1")
    store.sla.follow()
    [measured] = store.sla.response_times(metric="first_response")
    assert measured.business_seconds == 2 * 3600  # 15-16 Tuesday, 10-11 Wednesday
    assert measured.calendar_seconds == 20 * 3600
    assert (measured.agent_id, measured.channel, measured.breached) == ("agent-1", "email", False)
    assert clock(store)["first_response_due"] is None
    assert store.sla.scan(berlin(2026, 12, 30, 12, 0)) == 0


def test_next_response_and_resolution_with_a_reopen(store: CRMStore) -> None:
    policy(store, first_response_minutes=60, next_response_minutes=30, resolution_minutes=240)
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    created(store, start)
    message(store, start + timedelta(minutes=20), "out", sent_by="a1")
    message(store, start + timedelta(minutes=40), "in")
    message(store, start + timedelta(minutes=50), "in")  # the wait runs from the older one
    store.sla.follow()
    assert clock(store)["next_response_due"] == start + timedelta(minutes=70)
    assert store.sla.scan(start + timedelta(minutes=71)) == 1
    message(store, start + timedelta(minutes=80), "out", sent_by="a1")
    message(store, start + timedelta(minutes=90), "in")
    store.sla.follow()
    # a new wait is a new target: it may breach again
    assert clock(store)["next_response_due"] == start + timedelta(minutes=120)
    assert store.sla.scan(start + timedelta(minutes=121)) == 1
    assert [b["target"] for b in breaches(store)] == ["next_response", "next_response"]

    status(store, start + timedelta(minutes=130), "resolved")
    store.sla.follow()
    row = clock(store)
    assert row["resolution_due"] is None and row["next_response_due"] is None
    [resolution] = store.sla.response_times(metric="resolution")
    assert resolution.business_seconds == 130 * 60 and not resolution.breached

    # reopened two hours later: the resolved time does not count; 110 minutes are left
    message(store, start + timedelta(minutes=250), "in")  # while resolved: routing reopens it
    log(store, "conversation.reopened", start + timedelta(minutes=250), reason="inbound")
    store.sla.follow()
    assert clock(store)["resolution_due"] == start + timedelta(minutes=360)
    assert clock(store)["next_response_due"] == start + timedelta(minutes=280)
    status(store, start + timedelta(minutes=300), "resolved")
    store.sla.follow()
    [resolution] = store.sla.response_times(metric="resolution")
    assert resolution.business_seconds == 180 * 60  # the latest resolution replaces the first


def test_snooze_pauses_in_calendar_time_until_it_ends(store: CRMStore) -> None:
    policy(store, first_response_minutes=60)
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    created(store, start)
    status(
        store, start + timedelta(minutes=10), "open", snoozed_until=(start + timedelta(days=1)).isoformat()
    )
    store.sla.follow()
    assert clock(store)["first_response_due"] is None
    log(store, "conversation.reopened", start + timedelta(days=1), reason="snooze_ended")
    store.sla.follow()
    assert clock(store)["first_response_due"] == start + timedelta(days=1, minutes=50)


def test_policy_by_queue_and_priority_and_escalation(store: CRMStore) -> None:
    team = store.teams.create("Tier 2").id
    policy(store, name="default", first_response_minutes=240)
    vip = policy(
        store,
        name="vip high",
        queue="vip",
        priority="high",
        first_response_minutes=30,
        escalation={"raise_priority": "urgent", "reassign": True, "notify_team": team},
    )
    policy(store, name="vip", queue="vip", first_response_minutes=60)
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    created(store, start)
    store.sla.follow()
    assert clock(store)["first_response_due"] == start + timedelta(hours=4)
    log(
        store,
        "conversation.assigned",
        start + timedelta(minutes=1),
        assignee="a1",
        previous=None,
        queue="vip",
    )
    store.sla.follow()
    assert clock(store)["first_response_due"] == start + timedelta(hours=1)
    log(store, "conversation.updated", start + timedelta(minutes=2), changes={"priority": ["normal", "high"]})
    store.sla.follow()
    row = clock(store)
    assert (row["policy_id"], row["first_response_due"]) == (vip, start + timedelta(minutes=30))

    actions: list[BreachAction] = []
    assert store.sla.scan(start + timedelta(minutes=31), actions.append) == 1
    assert actions == [BreachAction("c1", "first_response", "urgent", True)]
    [breach] = breaches(store)
    assert (breach["notify_team"], breach["raise_priority"], breach["reassign"]) == (team, "urgent", True)
    assert store.sla.scan(start + timedelta(minutes=40), actions.append) == 0 and len(actions) == 1


def test_old_mail_imported_now_starts_the_clock_on_arrival(store: CRMStore) -> None:
    policy(store, first_response_minutes=60)
    sent, arrived = datetime(2025, 1, 6, 9, 0, tzinfo=UTC), datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    log(store, "conversation.created", arrived, channel="email", message_id="m0", sent_at=sent.isoformat())
    log(store, "message.created", arrived, message_id="m0", direction="in", sent_at=sent.isoformat())
    store.sla.follow()
    row = clock(store)
    assert (row["started_at"], row["first_response_due"], row["backfilled"]) == (
        arrived,
        arrived + timedelta(hours=1),
        True,
    )
    assert store.sla.scan(arrived + timedelta(minutes=59)) == 0
    message(store, arrived + timedelta(minutes=30), "out")
    store.sla.follow()
    assert store.sla.response_times() == []  # backfilled times are left out unless asked
    [measured] = store.sla.response_times(include_backfilled=True)
    assert measured.backfilled and measured.business_seconds == 1800


def test_a_message_sent_minutes_before_it_was_recorded_counts_from_when_it_was_sent(store: CRMStore) -> None:
    policy(store, first_response_minutes=60)
    sent = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    log(store, "conversation.created", sent + timedelta(minutes=5), message_id="m0", sent_at=sent.isoformat())
    # a future sent_at (a skewed clock) and an unreadable one count at the time recorded
    log(
        store,
        "conversation.created",
        sent,
        "c2",
        message_id="m1",
        sent_at=(sent + timedelta(days=3)).isoformat(),
    )
    log(store, "conversation.created", sent, "c3", message_id="m2", sent_at="yesterday")
    store.sla.follow()
    assert clock(store)["first_response_due"] == sent + timedelta(hours=1)
    assert clock(store, "c2")["first_response_due"] == sent + timedelta(hours=1)
    assert clock(store, "c3")["first_response_due"] == sent + timedelta(hours=1)


def test_a_conversation_we_started_owes_no_first_response(store: CRMStore) -> None:
    policy(store, first_response_minutes=60, next_response_minutes=60)
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    log(store, "conversation.created", start, message_id="m0", sent_at=start.isoformat())
    log(store, "message.created", start, message_id="m0", direction="out", sent_at=start.isoformat())
    store.sla.follow()
    assert clock(store)["first_response_due"] is None
    assert store.sla.scan(start + timedelta(days=2)) == 0
    assert store.sla.response_times() == []


def test_events_of_unknown_conversations_and_other_types_are_ignored(store: CRMStore) -> None:
    policy(store, first_response_minutes=60)
    at = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    status(store, at, "pending", "nobody")
    log(store, "reply.sent", at, "nobody", reply_id="r1")
    log(store, "alert.fired", at, None, monitor_id="m1")
    assert store.sla.follow() == 1  # only the tracked type was read
    assert store.sla.views(["nobody"]) == {}
    [tracked] = store.events.read(types=["conversation.status_changed"])
    assert store.sla.tracker.cursor() == tracked.id
    assert store.sla.follow() == 0


def test_without_a_policy_times_are_still_recorded(store: CRMStore) -> None:
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    created(store, start)
    message(store, start + timedelta(minutes=7), "out", sent_by="a1")
    store.sla.follow()
    row = clock(store)
    assert row["policy_id"] is None and row["first_response_due"] is None
    [measured] = store.sla.response_times()
    assert (measured.business_seconds, measured.target_seconds) == (420, None)


def test_two_followers_at_once_apply_each_event_once(store: CRMStore) -> None:
    policy(store, first_response_minutes=60)
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    for i in range(60):
        created(store, start, f"c{i}")
        message(store, start + timedelta(minutes=i), "out", f"c{i}", sent_by="a1")
    errors: list[BaseException] = []

    def follow() -> None:
        try:
            tracker = SlaTracker(
                store.engine, store.sla.tracker._writer, store.events, late_after=timedelta(hours=1)
            )
            while tracker.follow(batch=7, max_batches=3):
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=follow) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.sla.tracker.cursor() == store.events.last_id()
    with store.engine.connect() as conn:
        times = conn.execute(select(sla_times.c.conversation_id, sla_times.c.business_seconds)).all()
    assert sorted(times) == sorted((f"c{i}", i * 60) for i in range(60))


def test_the_sla_tables_match_the_migration(store: CRMStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from crm.schema import metadata

    with store.engine.connect() as conn:
        differences = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert differences == []


def test_policies_are_validated_when_saved(store: CRMStore) -> None:
    policy(store, first_response_minutes=60)
    with pytest.raises(Conflict, match="queue any and priority any"):
        policy(store, name="other", first_response_minutes=30)
    with pytest.raises(Conflict, match="name"):
        policy(store, queue="vip", first_response_minutes=30)
    with pytest.raises(InvalidRequest, match="no team"):
        policy(store, name="x", queue="q", first_response_minutes=5, escalation={"notify_team": "team_nope"})
    with pytest.raises(ValueError, match="at least one target"):
        SlaPolicySpec(name="empty")
    with pytest.raises(ValueError, match="unknown time zone"):
        SlaPolicySpec.model_validate(
            {
                "name": "x",
                "first_response_minutes": 5,
                "business_hours": {"timezone": "Nowhere/Town", "hours": {}},
            }
        )
    listed = store.sla.policies.list()
    assert [p.name for p in listed] == ["default"]
    replaced = store.sla.policies.replace(listed[0].id, SlaPolicySpec(name="renamed", resolution_minutes=10))
    assert (replaced.name, replaced.first_response_minutes, replaced.resolution_minutes) == (
        "renamed",
        None,
        10,
    )
    store.sla.policies.delete(replaced.id)
    assert store.sla.policies.list() == []


def test_an_escalation_cut_short_is_applied_at_the_next_scan(store: CRMStore) -> None:
    policy(store, first_response_minutes=60, escalation={"raise_priority": "high"})
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    created(store, start)
    store.sla.follow()

    def dies(action: BreachAction) -> None:
        raise ConnectionError("the knowledge base went away")

    with pytest.raises(ConnectionError):
        store.sla.scan(start + timedelta(hours=2), dies)
    assert len(breaches(store)) == 1  # recorded before escalating, with the escalation pending
    assert clock(store)["escalation_pending"] == [
        {"target": "first_response", "raise_priority": "high", "unassign": False}
    ]
    applied: list[BreachAction] = []
    assert store.sla.scan(start + timedelta(hours=3), applied.append) == 0
    assert applied == [BreachAction("c1", "first_response", "high", False)]
    assert clock(store)["escalation_pending"] is None and len(breaches(store)) == 1


def test_policy_changes_are_reapplied_to_running_clocks(store: CRMStore) -> None:
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    created(store, start)
    created(store, start, "c2")
    status(store, start + timedelta(minutes=5), "resolved", "c2")
    store.sla.follow()
    assert clock(store)["first_response_due"] is None
    before = store.sla.policies.fingerprint()
    default = policy(store, first_response_minutes=60)
    assert store.sla.policies.fingerprint() != before
    assert store.sla.reapply() == 1  # the resolved conversation is left alone
    assert clock(store)["first_response_due"] == start + timedelta(hours=1)
    assert clock(store, "c2")["first_response_due"] is None
    assert store.sla.reapply() == 0  # nothing changed since
    store.sla.policies.replace(default, SlaPolicySpec(name="default", first_response_minutes=30))
    assert store.sla.reapply() == 1 and clock(store)["first_response_due"] == start + timedelta(minutes=30)
    store.sla.policies.delete(default)
    assert store.sla.reapply() == 1
    row = clock(store)
    assert (row["policy_id"], row["first_response_due"]) == (None, None)


def test_events_with_data_no_column_can_hold_do_not_stop_the_tracker(store: CRMStore) -> None:
    policy(store, first_response_minutes=60)
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    created(store, start, channel="x" * 500)
    status(store, start, "archived-by-a-rule-we-do-not-know")
    status(store, start, ["open"])  # type: ignore[arg-type]
    log(
        store,
        "conversation.updated",
        start,
        changes={"priority": ["normal", "critical"], "queue": ["a", ["b"]]},
    )
    log(store, "conversation.updated", start, changes="priority")
    log(store, "conversation.assigned", start, assignee="a" * 300, queue=7)
    message(store, start + timedelta(minutes=5), "out", sent_by=["a1"])
    assert store.sla.follow() == 8
    assert store.sla.tracker.cursor() == store.events.last_id()
    row = clock(store)
    assert (row["channel"], row["status"], row["priority"], row["queue"], row["assignee"]) == (
        None,
        "open",
        "normal",
        None,
        None,
    )
    [measured] = store.sla.response_times()
    assert (measured.business_seconds, measured.agent_id) == (300, None)
