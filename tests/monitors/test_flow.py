"""Monitors in a running dataflow: one alert for a storm, none again after a restart, failing
monitors disabled while the others count, and monitor changes picked up without a restart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

import kb.monitor_match
from crm import CRMStore, open_crm
from crm.monitor_windows import WINDOW
from crm.monitors import AlertSettings
from crm.schema import monitors as monitors_table
from flows.monitors import MonitorMatchStep
from hub.models import Message
from hub.settings import MonitorSettings, Settings
from tests.monitors.helpers import QUIET, T0, message, run_monitor_flow


@pytest.fixture
def crm(settings: Settings) -> CRMStore:
    store = open_crm(settings)
    yield store  # type: ignore[misc]
    store.close()


def _story() -> tuple[list[Message], list[Message]]:
    """Two hours of ordinary mentions of Acme and Globex, then a storm of negative Acme ones."""
    ordinary = [
        message(
            i, ["acme" if i % 2 else "globex", "kettle"], T0 + timedelta(minutes=2.5 * i), sentiment="neutral"
        )
        for i in range(48)
    ]
    storm_at = T0 + timedelta(hours=2)
    storm = [
        message(
            1000 + i,
            ["acme", "kettle", "broken", "again"],
            storm_at + timedelta(seconds=20 * i),
            sentiment="negative",
            author=f"angry{i}",
            hashtags=["acmefail"],
        )
        for i in range(45)
    ]
    return ordinary, storm


def test_a_storm_of_negative_mentions_is_one_alert_and_a_replay_fires_none(
    settings: Settings, crm: CRMStore
) -> None:
    brand = crm.monitors.create("Acme", "acme", alerts=AlertSettings())
    rival = crm.monitors.create("Globex", "globex", alerts=AlertSettings())
    ordinary, storm = _story()
    run_monitor_flow(settings, ordinary + storm)

    alerts = crm.monitors.alerts(brand.id)
    assert len(alerts) == 1, alerts
    alert = alerts[0]
    assert alert.window_start == T0 + timedelta(hours=2)
    storm_ids = {m.id for m in storm}
    assert alert.message_ids and set(alert.message_ids) <= storm_ids
    assert crm.monitors.alerts(rival.id) == []
    assert sum(w.volume for w in crm.monitors.windows(brand.id)) == 24 + 45
    assert sum(w.volume for w in crm.monitors.windows(rival.id)) == 24

    run_monitor_flow(settings, ordinary + storm)  # the same input again, as after a restart
    assert crm.monitors.alerts(brand.id) == [alert]
    assert len(crm.events.read(types=["alert.fired"])) == 1
    assert sum(w.volume for w in crm.monitors.windows(brand.id)) == 24 + 45


def test_a_monitor_whose_query_no_longer_compiles_is_disabled_and_the_others_count(
    settings: Settings, crm: CRMStore
) -> None:
    good = crm.monitors.create("Acme", "acme", alerts=QUIET)
    bad = crm.monitors.create("Broken", "kettle", alerts=QUIET)
    with crm.engine.begin() as conn:  # written by an older Parley whose language allowed it
        conn.execute(update(monitors_table).where(monitors_table.c.id == bad.id).values(query="kettle AND ("))
    run_monitor_flow(settings, [message(i, ["acme", "kettle"], T0 + timedelta(minutes=i)) for i in range(3)])

    view = crm.monitors.get(bad.id)
    assert not view.enabled and view.disabled_reason is not None
    assert view.disabled_reason.startswith("its query does not compile: unexpected end of query")
    events = crm.events.read(types=["monitor.disabled"])
    assert [e.data["monitor_id"] for e in events] == [bad.id]
    assert [w.volume for w in crm.monitors.windows(good.id)] == [3]


def test_a_monitor_failing_while_it_is_evaluated_is_disabled_and_the_flow_goes_on(
    settings: Settings, crm: CRMStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = crm.monitors.create("Acme", "acme", alerts=QUIET)
    bad = crm.monitors.create("Deep", "kettle NEAR/3 broken", alerts=QUIET)
    real = kb.monitor_match.evaluate

    def evaluate(node, columns, fields):  # type: ignore[no-untyped-def]
        if type(node).__name__ == "Near":  # a fault only this monitor's query meets
            raise RecursionError("maximum recursion depth exceeded")
        return real(node, columns, fields)

    monkeypatch.setattr(kb.monitor_match, "evaluate", evaluate)
    messages = [message(i, ["acme", "kettle", "broken"], T0 + timedelta(minutes=i)) for i in range(4)]
    run_monitor_flow(settings, messages)

    view = crm.monitors.get(bad.id)
    assert not view.enabled
    assert (
        view.disabled_reason
        == "evaluating its query failed: RecursionError: maximum recursion depth exceeded"
    )
    assert len(crm.events.read(types=["monitor.disabled"])) == 1  # once, not once per message
    assert [w.volume for w in crm.monitors.windows(good.id)] == [4]
    assert crm.monitors.windows(bad.id) == []


def test_monitor_changes_reach_a_running_match_step(settings: Settings, crm: CRMStore) -> None:
    now = [0.0]
    settings = settings.model_copy(update={"monitors": MonitorSettings(reload_s=5.0)})
    step = MonitorMatchStep(settings, clock=lambda: now[0])
    try:
        acme = message(1, ["acme", "kettle"], T0)
        assert step(acme) == []
        monitor = crm.monitors.create("Acme", "acme")
        assert step(acme) == []  # not checked again before reload_s
        now[0] += 5.0
        assert [mid for mid, _ in step(acme)] == [monitor.id]
        edited, _ = crm.monitors.update(monitor.id, {"query": "globex"})
        now[0] += 5.0
        assert step(acme) == []
        assert [(mid, hit.revision) for mid, hit in step(message(2, ["globex"], T0))] == [
            (monitor.id, edited.match_revision)
        ]
        crm.monitors.update(monitor.id, {"enabled": False})
        now[0] += 5.0
        assert step(message(3, ["globex"], T0 + WINDOW)) == []
    finally:
        step.close()
