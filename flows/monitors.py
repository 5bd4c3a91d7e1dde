"""Monitors counted in the ingest flow: match, window, store, alert.

::

    enriched messages
      → monitor_match   flat_map: each message against every enabled monitor (kb.monitor_match:
                        compiled queries, a required-key prefilter); → (monitor id, Hit)
      → monitor_windows fold_window keyed by monitor: 5-minute tumbling windows by message
                        time (EventClock, lateness = settings.monitors.lateness_s)
          .down         a window closed → its hits stored and the window recounted, then
                        judged for alerts (crm.monitor_alerts)
          .late         a message later than the lateness → the correction path: its hit
                        stored and its window recounted (never dropped; no alert fires for
                        history)

**Lateness.** A monitor's clock is the newest message time it has seen, minus the lateness,
plus the system time passed since. A message older than that clock is late; a window closes
once the clock passes its end (or the input ends). The default, two minutes, covers the usual
jitter of live channels; imports of old, unsorted files go largely through the correction path,
which is exact but costs a transaction per late batch.

**Exactly once in the counts.** Windows are recounted from stored hits, one row per monitor and
message (``crm.monitor_windows``), so a replay after a crash (Bytewax resumes from its last
recovery snapshot and replays what followed), a message counted both in a window and by the
correction path, or the same message arriving twice is one hit.

**Hit retention.** The window sink prunes, at most once every :data:`PRUNE_EVERY_S`, the hits
of windows not updated for ``settings.monitors.hit_retention_days`` (0: never); those windows
are sealed with their counts (``crm.monitor_windows.prune_hits``). Each process's sink may
prune; pruning twice deletes nothing more.

**Monitor changes** reach a running flow within ``settings.monitors.reload_s``: the match step
checks the store's change counter (``MonitorStore.version``) and recompiles when it moved. A
monitor whose query does not compile or raises when evaluated is disabled in the store with
the reason (a ``monitor.disabled`` event); the other monitors go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.operators.windowing import EventClock, TumblingWindower, fold_window
from bytewax.outputs import StatelessSinkPartition

from crm.monitor_windows import EPOCH, WINDOW, Hit
from flows.report import IngestReport
from flows.sinks import StoreSink
from hub.backoff import retry
from hub.models import Message
from hub.settings import Settings
from kb.monitor_match import MonitorSet, MonitorSpec, hit_fields

__all__ = ["MonitorMatchStep", "add_monitor_steps", "hit_for"]

log = logging.getLogger("parley.flow.monitors")

Keyed = tuple[str, Hit]

#: how often a window sink prunes expired hits: retention is counted in days
PRUNE_EVERY_S = 3600.0


def hit_for(message: Message, monitor_id: str, revision: int) -> Hit:
    """What a monitor counts of a message it matched."""
    return Hit(monitor_id=monitor_id, revision=revision, **hit_fields(message))


class MonitorMatchStep:
    """The match step's mapper: a message → (monitor id, hit) for every monitor it matches.

    Loads the enabled monitors from the CRM store on first use, and again whenever the store's
    change counter moved (checked at most every ``reload_s``). Failing monitors are disabled.
    """

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._clock = clock
        self._crm: Any = None
        self._set = MonitorSet()
        self._revisions: dict[str, int] = {}
        self._version: int | None = None
        self._checked_at = float("-inf")

    def _store(self) -> Any:
        if self._crm is None:
            from crm import open_crm

            self._crm = open_crm(self._settings)
        return self._crm

    def refresh(self, *, force: bool = False) -> None:
        """Reload the monitors when the store's change counter moved (or ``force``)."""
        now = self._clock()
        if not force and now - self._checked_at < self._settings.monitors.reload_s:
            return
        self._checked_at = now
        store = self._store().monitors
        version = retry("monitor version", store.version)
        if version == self._version and not force:
            return
        views = retry("monitor load", lambda: store.list_all(enabled_only=True))
        specs = [MonitorSpec(v.id, v.query, frozenset(v.channels), frozenset(v.languages)) for v in views]
        compiled = MonitorSet.compile(specs)
        self._revisions = {v.id: v.match_revision for v in views}
        self._set = compiled
        self._version = version
        for monitor_id, reason in compiled.failed.items():
            self._disable(monitor_id, reason)
        log.info("monitors loaded: %d enabled (change counter %d)", len(compiled), version)

    def _disable(self, monitor_id: str, reason: str) -> None:
        log.warning("monitor %s disabled: %s", monitor_id, reason)
        retry("monitor disable", lambda: self._store().monitors.disable(monitor_id, reason))
        self._checked_at = float("-inf")  # reload on the next message: the counter moved

    def __call__(self, message: Message) -> list[Keyed]:
        self.refresh()
        if not len(self._set):
            return []
        matched, failures = self._set.match(message)
        for monitor_id, reason in failures.items():
            self._disable(monitor_id, reason)
        return [(mid, hit_for(message, mid, self._revisions[mid])) for mid in matched]

    def close(self) -> None:
        if self._crm is not None:
            self._crm.close()
            self._crm = None


def _fold(acc: dict[str, Hit], hit: Hit) -> dict[str, Hit]:
    acc[hit.message_id] = hit
    return acc


def _merge(a: dict[str, Hit], b: dict[str, Hit]) -> dict[str, Hit]:
    return {**a, **b}


class _WindowPartition(StatelessSinkPartition[tuple[str, tuple[int, dict[str, Hit]]]]):
    """Closed windows: store their hits (recounting them), then judge each for alerts."""

    def __init__(
        self,
        settings: Settings,
        report: IngestReport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from crm import open_crm

        self._crm = open_crm(settings)
        self._retention = timedelta(days=settings.monitors.hit_retention_days)
        self._clock = clock
        self._pruned_at = float("-inf")

    def write_batch(self, items: list[tuple[str, tuple[int, dict[str, Hit]]]]) -> None:
        hits = [hit for _, (_, window) in items for hit in window.values()]
        retry("monitor windows", lambda: self._crm.monitors.record_hits(hits))
        closed = sorted(
            {(monitor_id, hit.window_start) for monitor_id, (_, window) in items for hit in window.values()}
        )
        for monitor_id, start in closed:
            self._judge(monitor_id, start)
        self._prune()

    def _prune(self) -> None:
        if not self._retention or self._clock() - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = self._clock()
        before = datetime.now(UTC) - self._retention
        deleted = retry("monitor hit retention", lambda: self._crm.monitors.prune_hits(before))
        if deleted:
            log.info("pruned %d monitor hits of windows not updated since %s", deleted, before)

    def _judge(self, monitor_id: str, start: Any) -> None:
        from crm import NotFound

        try:
            monitor = self._crm.monitors.get(monitor_id)
        except NotFound:
            return  # deleted meanwhile
        if not monitor.enabled:
            return
        alert = retry("monitor alerts", lambda: self._crm.monitors.evaluate(monitor, start))
        if alert is not None:
            log.info("alert %s on monitor %s (%s) for %s", alert.kind, monitor.name, monitor_id, start)

    def close(self) -> None:
        self._crm.close()


class _CorrectionPartition(StatelessSinkPartition[tuple[str, tuple[int, Hit]]]):
    """Late messages: stored as hits, their windows recounted."""

    def __init__(self, settings: Settings, report: IngestReport | None = None) -> None:
        from crm import open_crm

        self._crm = open_crm(settings)

    def write_batch(self, items: list[tuple[str, tuple[int, Hit]]]) -> None:
        hits = [hit for _, (_, hit) in items]
        log.debug("correction path: %d late hits", len(hits))
        retry("monitor corrections", lambda: self._crm.monitors.record_hits(hits, correction=True))

    def close(self) -> None:
        self._crm.close()


def _clock_time(hit: Hit) -> datetime:
    """The time a hit moves its monitor's clock to: its message time, but never past now, so one
    message dated in 2099 cannot make every later one late. (Where the hit is counted is its own
    message time, whatever the clock says.)"""
    return min(hit.sent_at, datetime.now(UTC))


def add_monitor_steps(messages: Stream[Message], settings: Settings) -> None:
    """Count ``messages`` (enriched) for every enabled monitor, store windows, fire alerts."""
    matcher = MonitorMatchStep(settings)
    keyed: Stream[Keyed] = op.flat_map("monitor_match", messages, matcher)
    clock: EventClock[Hit] = EventClock(
        ts_getter=_clock_time,
        wait_for_system_duration=timedelta(seconds=settings.monitors.lateness_s),
    )
    windower = TumblingWindower(length=WINDOW, align_to=EPOCH)
    windows = fold_window("monitor_windows", keyed, clock, windower, dict, _fold, _merge, ordered=False)
    op.output("monitor_windows_out", windows.down, StoreSink(_WindowPartition, settings))
    op.output("monitor_corrections", windows.late, StoreSink(_CorrectionPartition, settings))


def matched_hits(step: MonitorMatchStep, messages: Iterable[Message]) -> list[Keyed]:
    """Every (monitor id, hit) of ``messages`` (the bench and tests run the step alone)."""
    return [pair for message in messages for pair in step(message)]
