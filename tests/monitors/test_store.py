"""The monitor store on SQLite and PostgreSQL: monitors, hits and windows, alerts and events."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from crm import Conflict, CRMStore, InvalidRequest, NotFound
from crm.monitor_windows import WINDOW, Hit, count_hits
from crm.monitors import AlertSettings, MonitorView
from crm.schema import monitor_windows as windows_table
from crm.schema import monitors as monitors_table
from flows.monitors import PRUNE_EVERY_S, _WindowPartition, hit_for
from hub.settings import Settings
from tests.monitors.helpers import QUIET, T0, message

ALERTING = AlertSettings(min_count=10, negative_min_count=10, cooldown_minutes=60)


def test_create_read_edit_delete_and_the_change_counter(store: CRMStore) -> None:
    versions = [store.monitors.version()]
    acme = store.monitors.create("Acme", "acme OR @acme", channels=["Twitter"], languages=["en"])
    versions.append(store.monitors.version())
    assert acme.channels == ["twitter"] and acme.enabled and acme.alerts == AlertSettings()
    with pytest.raises(Conflict):
        store.monitors.create("Acme", "other")
    globex = store.monitors.create("Globex", "globex")
    versions.append(store.monitors.version())
    assert [m.name for m in store.monitors.list_all()] == ["Acme", "Globex"]

    renamed, rematch = store.monitors.update(acme.id, {"name": "Acme brand"})
    versions.append(store.monitors.version())
    assert not rematch and renamed.match_revision == acme.match_revision
    edited, rematch = store.monitors.update(acme.id, {"query": "acme -job"})
    versions.append(store.monitors.version())
    assert rematch and edited.match_revision > acme.match_revision
    with pytest.raises(InvalidRequest):
        store.monitors.update(acme.id, {"revision": 1})

    store.monitors.delete(globex.id)
    versions.append(store.monitors.version())
    assert [m.name for m in store.monitors.list_all()] == ["Acme brand"]
    with pytest.raises(NotFound):
        store.monitors.get(globex.id)
    store.monitors.create("Globex", "globex")  # the name is free again
    versions.append(store.monitors.version())
    assert versions == sorted(set(versions)), "every change moves the counter forward"


def test_hits_are_counted_once_and_stale_revisions_are_refused(store: CRMStore) -> None:
    monitor = store.monitors.create("Acme", "acme", alerts=QUIET)
    messages = [message(i, ["acme"], T0 + timedelta(minutes=i), sentiment="negative") for i in range(7)]
    hits = [hit_for(m, monitor.id, monitor.match_revision) for m in messages]
    store.monitors.record_hits(hits[:4])
    store.monitors.record_hits(hits)  # a replay with more: the first four count once
    store.monitors.record_hits(hits[2:3], correction=True)  # a late replay changes nothing
    windows = store.monitors.windows(monitor.id)
    assert [(w.window_start, w.volume, w.sentiment["negative"]) for w in windows] == [
        (T0, 5, 5),
        (T0 + WINDOW, 2, 2),
    ]
    assert windows[0].negative_share == 1.0

    edited, _ = store.monitors.update(monitor.id, {"query": "acme kettle"})
    assert store.monitors.windows(monitor.id) == []  # the edit forgot the old query's history
    store.monitors.record_hits(hits)  # still in flight under the old revision: refused
    assert store.monitors.windows(monitor.id) == []
    fresh = [Hit(**{**h.__dict__, "revision": edited.match_revision}) for h in hits[:1]]
    store.monitors.record_hits(fresh)
    assert [w.volume for w in store.monitors.windows(monitor.id)] == [1]


def _burst(store: CRMStore, monitor_id: str, revision: int) -> list[str]:
    """Two hours of one message per window, then three windows of 30 negative mentions."""
    quiet = [message(i, ["acme", "kettle"], T0 + WINDOW * i, sentiment="neutral") for i in range(24)]
    storm_at = T0 + WINDOW * 24
    storm = [
        message(100 + i, ["acme", "broken"], storm_at + timedelta(seconds=29 * i), sentiment="negative")
        for i in range(30)
    ]
    store.monitors.record_hits([hit_for(m, monitor_id, revision) for m in quiet + storm])
    return [m.id for m in storm]


def test_a_storm_is_one_alert_with_its_messages_and_one_event(store: CRMStore) -> None:
    monitor = store.monitors.create("Acme", "acme", alerts=ALERTING)
    storm_ids = _burst(store, monitor.id, monitor.match_revision)
    fired = []
    for window in store.monitors.windows(monitor.id):
        alert = store.monitors.evaluate(monitor, window.window_start)
        if alert is not None:
            fired.append(alert)
    assert len(fired) == 1
    alert = fired[0]
    assert alert.kind == "volume_spike" and alert.window_start == T0 + WINDOW * 24
    # 30 mentions 29 s apart: 11 in the first window of the storm, against a threshold of 10
    assert alert.value == 11 and alert.threshold == 10
    assert alert.message_ids == storm_ids[:11]
    events = store.events.read(types=["alert.fired"])
    assert len(events) == 1
    data = events[0].data
    assert (
        data["monitor_id"] == monitor.id and data["alert_id"] == alert.id and data["kind"] == "volume_spike"
    )
    assert "negative_share" in data["also"]
    assert data["window_start"] == alert.window_start.isoformat()
    assert store.monitors.alerts(monitor.id) == [alert]


def test_alerts_are_deduplicated_across_restarts(store: CRMStore, crm_settings: object) -> None:
    from crm import open_crm

    monitor = store.monitors.create("Acme", "acme", alerts=ALERTING)
    _burst(store, monitor.id, monitor.match_revision)
    storm = T0 + WINDOW * 24
    assert store.monitors.evaluate(monitor, storm) is not None
    again = open_crm(crm_settings)  # type: ignore[arg-type]  # a restarted process
    try:
        for window in again.monitors.windows(monitor.id):
            assert again.monitors.evaluate(monitor, window.window_start) is None
    finally:
        again.close()
    assert len(store.events.read(types=["alert.fired"])) == 1


def test_without_a_cool_down_each_window_of_a_storm_may_fire(store: CRMStore) -> None:
    monitor = store.monitors.create(
        "Acme", "acme", alerts=ALERTING.model_copy(update={"cooldown_minutes": 0})
    )
    _burst(store, monitor.id, monitor.match_revision)
    fired = [store.monitors.evaluate(monitor, w.window_start) for w in store.monitors.windows(monitor.id)]
    assert sum(alert is not None for alert in fired) >= 2  # the cool-down is what made it one


def test_a_monitor_disabled_at_run_time_says_why_in_the_store_and_the_event_log(store: CRMStore) -> None:
    monitor = store.monitors.create("Acme", "acme")
    assert store.monitors.disable(monitor.id, "its query does not compile: unexpected ')'")
    assert not store.monitors.disable(monitor.id, "again")  # already disabled: no second event
    view = store.monitors.get(monitor.id)
    assert not view.enabled and view.disabled_reason == "its query does not compile: unexpected ')'"
    events = store.events.read(types=["monitor.disabled"])
    assert [(e.data["monitor_id"], e.data["reason"]) for e in events] == [(monitor.id, view.disabled_reason)]
    enabled, _ = store.monitors.update(monitor.id, {"enabled": True})
    assert enabled.enabled and enabled.disabled_reason is None


def test_a_query_edited_behind_the_store_still_loads(store: CRMStore) -> None:
    monitor = store.monitors.create("Acme", "acme")
    with store.engine.begin() as conn:  # as an older Parley might have left it
        conn.execute(
            update(monitors_table).where(monitors_table.c.id == monitor.id).values(query="acme AND (")
        )
    assert store.monitors.get(monitor.id).query == "acme AND ("


def _hits_of(store: CRMStore, monitor_id: str) -> int:
    with store.engine.connect() as conn:
        return count_hits(conn, monitor_id)


def _age_windows(store: CRMStore, monitor_id: str, start: datetime, days: float) -> None:
    """Make the window at ``start`` look last updated ``days`` ago."""
    with store.engine.begin() as conn:
        conn.execute(
            update(windows_table)
            .where(windows_table.c.monitor_id == monitor_id, windows_table.c.window_start == start)
            .values(updated_at=datetime.now(UTC) - timedelta(days=days))
        )


def _an_old_window(store: CRMStore, monitor: MonitorView) -> list[Hit]:
    """Three hits of ``monitor`` in T0's window, stored, the window last updated 100 days ago."""
    hits = [
        hit_for(message(i, ["acme"], T0 + timedelta(minutes=i)), monitor.id, monitor.match_revision)
        for i in range(3)
    ]
    store.monitors.record_hits(hits)
    _age_windows(store, monitor.id, T0, days=100)
    return hits


def test_pruning_keeps_the_counts_and_seals_the_window_against_partial_recounts(
    store: CRMStore, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = store.monitors.create("Acme", "acme", alerts=QUIET)
    messages = [message(i, ["acme"], T0 + timedelta(minutes=i), sentiment="negative") for i in range(7)]
    hits = [hit_for(m, monitor.id, monitor.match_revision) for m in messages]
    store.monitors.record_hits(hits[:6])
    _age_windows(store, monitor.id, T0, days=100)  # T0's window (5 hits) is old; T0+5m's is not

    before = datetime.now(UTC) - timedelta(days=90)
    assert store.monitors.prune_hits(before) == 5
    assert store.monitors.prune_hits(before) == 0  # idempotent: another process may prune too
    assert _hits_of(store, monitor.id) == 1  # the recent window keeps its hit
    counts = [(w.window_start, w.volume, w.sentiment["negative"]) for w in store.monitors.windows(monitor.id)]
    assert counts == [(T0, 5, 5), (T0 + WINDOW, 1, 1)]

    # a replay of a pruned hit and a very late message of the sealed window: recounting the
    # window from them alone would turn 5 into 1 or 2, so neither is counted
    late = message(50, ["acme"], T0 + timedelta(minutes=4), sentiment="positive")
    with caplog.at_level(logging.INFO, logger="parley.crm"):
        store.monitors.record_hits(
            [hits[0], hit_for(late, monitor.id, monitor.match_revision)], correction=True
        )
    assert "2 hits of windows sealed by the hit retention not counted" in caplog.text
    # the open window still counts what comes
    store.monitors.record_hits(hits[6:])
    counts = [(w.window_start, w.volume, w.sentiment["negative"]) for w in store.monitors.windows(monitor.id)]
    assert counts == [(T0, 5, 5), (T0 + WINDOW, 2, 2)]
    assert _hits_of(store, monitor.id) == 2


def test_a_sealed_window_is_never_judged_again(store: CRMStore) -> None:
    # a replayed hit of a sealed storm window reaches the sink, which judges the windows it
    # closes: the storm's counts are kept, its messages are gone, and it was judged long ago
    monitor = store.monitors.create("Acme", "acme", alerts=ALERTING)
    _burst(store, monitor.id, monitor.match_revision)
    storm = T0 + WINDOW * 24
    _age_windows(store, monitor.id, storm, days=100)
    assert store.monitors.prune_hits(datetime.now(UTC) - timedelta(days=90)) == 11
    assert [w.volume for w in store.monitors.windows(monitor.id) if w.window_start == storm] == [11]
    assert store.monitors.evaluate(monitor, storm) is None
    assert store.events.read(types=["alert.fired"]) == []
    assert store.monitors.evaluate(monitor, storm + WINDOW) is not None  # the open one still fires


def test_an_edit_counts_a_sealed_window_again_from_the_backfill(store: CRMStore) -> None:
    monitor = store.monitors.create("Acme", "acme", alerts=QUIET)
    hits = _an_old_window(store, monitor)
    assert store.monitors.prune_hits(datetime.now(UTC) - timedelta(days=90)) == 3

    edited, rematch = store.monitors.update(monitor.id, {"query": "acme OR kettle"})
    assert rematch and store.monitors.windows(monitor.id) == []  # sealed windows are history too
    backfill = [Hit(**{**h.__dict__, "revision": edited.match_revision}) for h in hits]
    store.monitors.record_hits(backfill)
    assert [(w.window_start, w.volume) for w in store.monitors.windows(monitor.id)] == [(T0, 3)]
    assert _hits_of(store, monitor.id) == 3


def test_the_window_sink_prunes_at_most_once_an_hour_and_never_with_retention_off(
    crm_settings: Settings, store: CRMStore
) -> None:
    monitor = store.monitors.create("Acme", "acme", alerts=QUIET)
    _an_old_window(store, monitor)
    fresh = hit_for(message(9, ["acme"], T0 + timedelta(hours=1)), monitor.id, monitor.match_revision)
    closed = [(monitor.id, (0, {fresh.message_id: fresh}))]

    kept_forever = crm_settings.model_copy(
        update={"monitors": crm_settings.monitors.model_copy(update={"hit_retention_days": 0})}
    )
    off = _WindowPartition(kept_forever)
    try:
        off.write_batch(closed)
    finally:
        off.close()
    assert _hits_of(store, monitor.id) == 4

    now = [0.0]
    sink = _WindowPartition(crm_settings, clock=lambda: now[0])  # the default: 90 days
    try:
        sink.write_batch(closed)  # the first batch prunes
        assert _hits_of(store, monitor.id) == 1
        store.monitors.record_hits(
            [hit_for(message(10, ["acme"], T0 + timedelta(hours=2)), monitor.id, monitor.match_revision)]
        )
        _age_windows(store, monitor.id, T0 + timedelta(hours=2), days=100)
        now[0] = PRUNE_EVERY_S - 1
        sink.write_batch(closed)
        assert _hits_of(store, monitor.id) == 2  # within the hour: not again
        now[0] = PRUNE_EVERY_S
        sink.write_batch(closed)
        assert _hits_of(store, monitor.id) == 1
    finally:
        sink.close()
    assert [w.volume for w in store.monitors.windows(monitor.id)] == [3, 1, 1]
