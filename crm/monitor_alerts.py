"""Alerts of a monitor: judged when a window closes, stored once, announced as an event.

:func:`evaluate_window` reads the monitor's stored window series, runs the rules of
``crm.alert_rules`` on the window, and when any fires stores **one** alert for it (the first
that fired of volume spike, negative share, emerging term; the others named in ``also``) with
the messages that caused it, and appends an ``alert.fired`` event in the same transaction.

What it promises:

* one alert per monitor and window, whatever replays and restarts: the alert's row is keyed by
  (monitor, window) and checked in the transaction that writes it (a unique index backs it);
* a storm is one alert: no alert fires for a monitor within ``cooldown_minutes`` of a window
  that already fired one (before or after it: windows may close out of order);
* the alert links at most :data:`MAX_MESSAGES` message ids: the window's messages (spike), its
  negative ones (negative share), or those carrying the term (emerging term);
* a window sealed by the hit retention is never judged again: it was judged when it closed,
  and its samples are gone (a replayed or very late hit of it reaches the sink all the same).
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, and_, insert, select

from crm.alert_rules import emerging_term, negative_share_fires, spike_thresholds
from crm.monitor_windows import WINDOW, sealed_windows, window_from_row
from crm.schema import monitor_alerts, monitor_hits, monitor_windows
from hub.models import utcnow

__all__ = ["KINDS", "MAX_MESSAGES", "AlertView", "evaluate_window", "list_alerts"]

KINDS = ("volume_spike", "negative_share", "emerging_term")
#: message ids linked to one alert
MAX_MESSAGES = 100
#: how far back the spike baseline looks (two days: one full day for the hourly season)
HISTORY = timedelta(days=2)
#: the windows the emerging-term baseline sums
TERM_BASELINE = timedelta(hours=24)


class AlertView(BaseModel):
    """One fired alert."""

    model_config = ConfigDict(frozen=True)

    id: str
    monitor_id: str
    kind: str
    window_start: datetime
    window_end: datetime
    value: float
    threshold: float
    term: str | None
    message_ids: list[str]
    fired_at: datetime


def _alert_view(row: Any) -> AlertView:
    return AlertView.model_validate(dict(row))


#: what appends an event in the caller's transaction: (type, data, conn) -> event id
EventWriter = Callable[[str, dict[str, Any], Connection], int]


def _series(conn: Connection, monitor_id: str, start: datetime) -> list[int]:
    """Volumes of consecutive windows up to and including ``start`` (zeros for empty ones)."""
    query = select(monitor_windows.c.window_start, monitor_windows.c.volume).where(
        monitor_windows.c.monitor_id == monitor_id,
        monitor_windows.c.window_start >= start - HISTORY,
        monitor_windows.c.window_start <= start,
    )
    volumes = {row.window_start: row.volume for row in conn.execute(query)}
    if not volumes:
        return []
    first = min(volumes)
    count = int((start - first) / WINDOW) + 1
    return [volumes.get(first + WINDOW * i, 0) for i in range(count)]


def _term_baseline(
    conn: Connection, monitor_id: str, start: datetime
) -> tuple[dict[tuple[str, str], int], int]:
    query = select(monitor_windows).where(
        monitor_windows.c.monitor_id == monitor_id,
        monitor_windows.c.window_start >= start - TERM_BASELINE,
        monitor_windows.c.window_start < start,
    )
    terms: Counter[tuple[str, str]] = Counter()
    volume = 0
    for row in conn.execute(query).mappings():
        volume += row["volume"]
        for kind in ("hashtags", "entities"):
            for term, count in row[kind]:
                terms[(kind[:-1] if kind == "hashtags" else "entity", term)] += count
    return dict(terms), volume


def _message_ids(
    conn: Connection, monitor_id: str, start: datetime, keep: Callable[[Any], bool]
) -> list[str]:
    query = (
        select(monitor_hits)
        .where(monitor_hits.c.monitor_id == monitor_id, monitor_hits.c.window_start == start)
        .order_by(monitor_hits.c.sent_at, monitor_hits.c.message_id)
    )
    return [row["message_id"] for row in conn.execute(query).mappings() if keep(row)][:MAX_MESSAGES]


def _judge(conn: Connection, monitor: Any, start: datetime) -> list[dict[str, Any]]:
    """Every rule that fires on the window, in :data:`KINDS` order."""
    row = (
        conn.execute(
            select(monitor_windows).where(
                monitor_windows.c.monitor_id == monitor.id, monitor_windows.c.window_start == start
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return []
    counts = window_from_row(row)
    settings = monitor.alerts
    fired: list[dict[str, Any]] = []
    if settings.volume_spike:
        series = _series(conn, monitor.id, start)
        spike, threshold = spike_thresholds(series, k=settings.spike_k, min_count=settings.min_count)[-1]
        if spike:
            fired.append(
                {
                    "kind": "volume_spike",
                    "value": float(counts.volume),
                    "threshold": threshold,
                    "term": None,
                    "keep": lambda r: True,
                }
            )
    if settings.negative_share is not None:
        fires, share = negative_share_fires(
            counts.sentiment, threshold=settings.negative_share, min_count=settings.negative_min_count
        )
        if fires:
            fired.append(
                {
                    "kind": "negative_share",
                    "value": share,
                    "threshold": settings.negative_share,
                    "term": None,
                    "keep": lambda r: r["sentiment"] == "negative",
                }
            )
    if settings.emerging_terms:
        baseline, baseline_volume = _term_baseline(conn, monitor.id, start)
        items = [("hashtag", t, c) for t, c in counts.hashtags] + [
            ("entity", t, c) for t, c in counts.entities
        ]
        jump = (
            emerging_term(
                items,
                counts.volume,
                baseline,
                baseline_volume,
                min_count=settings.term_min_count,
                jump=settings.term_jump,
            )
            if baseline_volume
            else None
        )
        if jump is not None:
            column = "hashtags" if jump.kind == "hashtag" else "entities"
            fired.append(
                {
                    "kind": "emerging_term",
                    "value": jump.share,
                    "threshold": jump.threshold,
                    "term": jump.term,
                    "keep": lambda r: jump.term in (r[column] or ()),
                }
            )
    return fired


def evaluate_window(
    conn: Connection, monitor: Any, start: datetime, append_event: EventWriter
) -> AlertView | None:
    """Judge ``monitor``'s window at ``start``; the alert it fired now, if any (see module doc)."""
    if sealed_windows(conn, {(monitor.id, start)}):
        return None
    cooldown = timedelta(minutes=monitor.alerts.cooldown_minutes)
    nearby = select(monitor_alerts.c.id).where(
        monitor_alerts.c.monitor_id == monitor.id,
        and_(
            monitor_alerts.c.window_start > start - cooldown - WINDOW,
            monitor_alerts.c.window_start < start + cooldown + WINDOW,
        )
        if cooldown
        else monitor_alerts.c.window_start == start,
    )
    if conn.execute(nearby.limit(1)).first() is not None:
        return None  # this window's alert exists already, or one fired within the cool-down
    fired = _judge(conn, monitor, start)
    if not fired:
        return None
    first = fired[0]
    message_ids = _message_ids(conn, monitor.id, start, first["keep"])
    end = start + WINDOW
    row = {
        "id": f"alr_{secrets.token_hex(8)}",
        "monitor_id": monitor.id,
        "kind": first["kind"],
        "window_start": start,
        "window_end": end,
        "value": first["value"],
        "threshold": first["threshold"],
        "term": first["term"],
        "message_ids": message_ids,
        "fired_at": utcnow(),
    }
    conn.execute(insert(monitor_alerts).values(row))
    data = {
        "monitor_id": monitor.id,
        "alert_id": row["id"],
        "kind": first["kind"],
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "value": first["value"],
        "threshold": first["threshold"],
        "term": first["term"],
        "also": [f["kind"] for f in fired[1:]],
        "message_ids": message_ids,
    }
    append_event("alert.fired", data, conn)  # last in the transaction (crm.events)
    return _alert_view(row)


def list_alerts(
    conn: Connection, monitor_id: str, *, limit: int = 50, before: datetime | None = None
) -> list[AlertView]:
    """A monitor's alerts, newest window first."""
    query = select(monitor_alerts).where(monitor_alerts.c.monitor_id == monitor_id)
    if before is not None:
        query = query.where(monitor_alerts.c.window_start < before)
    query = query.order_by(monitor_alerts.c.window_start.desc()).limit(limit)
    return [_alert_view(row) for row in conn.execute(query).mappings()]
