"""Listening monitors: saved queries with their channels, languages, owner and alert settings.

What the store promises:

* a monitor's name is unique among live monitors (``Conflict`` otherwise);
* every change (create, edit, enable, disable, delete) takes the next value of one store-wide
  change counter (``revision``), so :meth:`MonitorStore.version` changes whenever any monitor
  does and the flow reloads; deleted monitors stay as tombstones so the counter never goes back;
* an edit of the query, channels or languages forgets the monitor's hits and windows (the
  caller backfills the new query's history); hits matched under an older revision are refused
  by :func:`crm.monitor_windows.record_hits`;
* the query is stored as given: checking it is the caller's (the CRM store does not know the
  query language); a query that fails at run time disables the monitor with its reason
  (:meth:`MonitorStore.disable`, a ``monitor.disabled`` event).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine, func, insert, select, update

from crm.engine import write
from crm.errors import Conflict, InvalidRequest, NotFound
from crm.ids import clean_text
from crm.monitor_alerts import AlertView, evaluate_window, list_alerts
from crm.monitor_windows import Hit, WindowCounts, clear_history, prune_hits, record_hits, window_from_row
from crm.schema import monitor_windows, monitors
from hub.models import utcnow

__all__ = ["AlertSettings", "MonitorStore", "MonitorView"]

#: edits that change what a monitor matches, and so its history
MATCH_FIELDS = ("query", "channels", "languages")


class AlertSettings(BaseModel):
    """When a monitor's windows fire alerts (``crm.monitor_alerts`` says how each is judged)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: volume above the baseline: EWMA + k·σ of the window series, at least ``min_count``
    volume_spike: bool = True
    spike_k: float = Field(default=3.5, ge=0.5, le=20.0)
    min_count: int = Field(default=10, ge=1, le=1_000_000)
    #: negative share of the messages whose sentiment is known; None: never
    negative_share: float | None = Field(default=0.5, gt=0.0, le=1.0)
    negative_min_count: int = Field(default=10, ge=1, le=1_000_000)
    #: a hashtag or entity whose share of the window jumps ``term_jump`` times its baseline share
    emerging_terms: bool = True
    term_min_count: int = Field(default=5, ge=1, le=1_000_000)
    term_jump: float = Field(default=3.0, ge=1.0, le=1000.0)
    #: after an alert, the same kind of alert of this monitor is quiet this long
    cooldown_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)


class MonitorView(BaseModel):
    """One monitor as stored."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    query: str
    channels: list[str]
    languages: list[str]
    owner_id: str | None
    alerts: AlertSettings
    enabled: bool
    #: why the hub disabled it (a run-time failure), None otherwise
    disabled_reason: str | None
    revision: int
    #: the revision at which what it matches last changed (hits carry it)
    match_revision: int
    created_at: datetime
    updated_at: datetime
    backfilled_at: datetime | None


def _view(row: Any) -> MonitorView:
    return MonitorView(
        id=row["id"],
        name=row["name"],
        query=row["query"],
        channels=list(row["channels"]),
        languages=list(row["languages"]),
        owner_id=row["owner_id"],
        alerts=AlertSettings.model_validate(row["alerts"]),
        enabled=row["enabled"],
        disabled_reason=row["disabled_reason"],
        revision=row["revision"],
        match_revision=row["match_revision"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        backfilled_at=row["backfilled_at"],
    )


def _name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > 256:
        raise InvalidRequest("a monitor name is 1 to 256 characters")
    return clean_text(cleaned) or cleaned


def _values(values: Sequence[str], what: str) -> list[str]:
    cleaned = list(dict.fromkeys(v.strip().lower() for v in values if v.strip()))
    if any(len(v) > 128 for v in cleaned) or len(cleaned) > 50:
        raise InvalidRequest(f"at most 50 {what}, each up to 128 characters")
    return cleaned


def _next_revision(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(monitors.c.revision), 0))).scalar_one()) + 1


#: what appends an event in the caller's transaction: (type, data, conn) -> event id
EventWriter = Callable[[str, dict[str, Any], Connection], int]


class MonitorStore:
    """Creates, reads, edits, disables and deletes monitors; stores their hits."""

    def __init__(self, engine: Engine, writer: Engine, events: EventWriter) -> None:
        self._engine = engine
        self._writer = writer
        self._event = events

    # --- reading ------------------------------------------------------------------------

    def get(self, monitor_id: str) -> MonitorView:
        """The live monitor ``monitor_id``; ``NotFound`` otherwise."""
        with self._engine.connect() as conn:
            row = conn.execute(self._live().where(monitors.c.id == monitor_id)).mappings().first()
        if row is None:
            raise NotFound(f"monitor {monitor_id} does not exist")
        return _view(row)

    def list_all(self, *, enabled_only: bool = False) -> list[MonitorView]:
        """Live monitors by name."""
        query = self._live().order_by(monitors.c.name)
        if enabled_only:
            query = query.where(monitors.c.enabled.is_(True))
        with self._engine.connect() as conn:
            return [_view(row) for row in conn.execute(query).mappings()]

    def version(self) -> int:
        """The change counter: different whenever any monitor changed since it was read."""
        with self._engine.connect() as conn:
            return _next_revision(conn) - 1

    @staticmethod
    def _live() -> Any:
        return select(monitors).where(monitors.c.deleted.is_(False))

    # --- changing -----------------------------------------------------------------------

    def create(
        self,
        name: str,
        query: str,
        *,
        channels: Sequence[str] = (),
        languages: Sequence[str] = (),
        owner_id: str | None = None,
        alerts: AlertSettings | None = None,
        enabled: bool = True,
    ) -> MonitorView:
        """A new monitor (its query already checked by the caller); ``Conflict`` for a taken name."""
        now = utcnow()
        row: dict[str, Any] = {
            "id": f"mon_{secrets.token_hex(8)}",
            "name": _name(name),
            "query": clean_text(query) or "",
            "channels": _values(channels, "channels"),
            "languages": _values(languages, "languages"),
            "owner_id": owner_id,
            "alerts": (alerts or AlertSettings()).model_dump(),
            "enabled": enabled,
            "disabled_reason": None,
            "deleted": False,
            "created_at": now,
            "updated_at": now,
            "backfilled_at": None,
        }

        def work(conn: Connection) -> None:
            self._check_name(conn, row["name"], None)
            revision = _next_revision(conn)
            conn.execute(insert(monitors).values({**row, "revision": revision, "match_revision": revision}))

        write(self._writer, work)
        return self.get(row["id"])

    def update(self, monitor_id: str, changes: dict[str, Any]) -> tuple[MonitorView, bool]:
        """Apply ``changes`` (name, query, channels, languages, owner_id, alerts, enabled);
        returns the monitor and whether what it matches changed (its history was cleared, the
        caller backfills it). Enabling clears the disabled reason."""
        allowed = {"name", "query", "channels", "languages", "owner_id", "alerts", "enabled"}
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidRequest(f"cannot change {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        if "name" in changes:
            values["name"] = _name(changes["name"])
        if "query" in changes:
            values["query"] = clean_text(changes["query"]) or ""
        for key in ("channels", "languages"):
            if key in changes:
                values[key] = _values(changes[key], key)
        if "owner_id" in changes:
            values["owner_id"] = changes["owner_id"]
        if "alerts" in changes:
            alerts = changes["alerts"]
            values["alerts"] = (
                alerts if isinstance(alerts, AlertSettings) else AlertSettings(**alerts)
            ).model_dump()
        if "enabled" in changes:
            values["enabled"] = bool(changes["enabled"])
            if values["enabled"]:
                values["disabled_reason"] = None

        def work(conn: Connection) -> bool:
            row = conn.execute(self._live().where(monitors.c.id == monitor_id)).mappings().first()
            if row is None:
                raise NotFound(f"monitor {monitor_id} does not exist")
            if "name" in values:
                self._check_name(conn, values["name"], monitor_id)
            rematch = any(key in values and values[key] != row[key] for key in MATCH_FIELDS)
            revision = _next_revision(conn)
            if rematch:
                clear_history(conn, monitor_id)
                values["backfilled_at"] = None
                values["match_revision"] = revision
            conn.execute(
                update(monitors)
                .where(monitors.c.id == monitor_id)
                .values({**values, "updated_at": utcnow(), "revision": revision})
            )
            return rematch

        rematch = write(self._writer, work)
        return self.get(monitor_id), rematch

    def delete(self, monitor_id: str) -> MonitorView:
        """Delete a monitor and its hits and windows (its alerts and events stay)."""
        before = self.get(monitor_id)

        def work(conn: Connection) -> None:
            clear_history(conn, monitor_id)
            conn.execute(
                update(monitors)
                .where(monitors.c.id == monitor_id)
                .values(
                    deleted=True,
                    enabled=False,
                    name=f"{before.name[:200]} (deleted {monitor_id})",
                    updated_at=utcnow(),
                    revision=_next_revision(conn),
                )
            )

        write(self._writer, work)
        return before

    def disable(self, monitor_id: str, reason: str) -> bool:
        """Disable a monitor that failed at run time, with ``reason`` and a ``monitor.disabled``
        event in the same transaction; False when it was already disabled or is gone."""
        reason = (clean_text(reason) or "")[:1000]

        def work(conn: Connection) -> bool:
            query = select(monitors.c.enabled).where(
                monitors.c.id == monitor_id, monitors.c.deleted.is_(False)
            )
            if not conn.execute(query).scalar_one_or_none():
                return False
            conn.execute(
                update(monitors)
                .where(monitors.c.id == monitor_id)
                .values(
                    enabled=False, disabled_reason=reason, updated_at=utcnow(), revision=_next_revision(conn)
                )
            )
            self._event("monitor.disabled", {"monitor_id": monitor_id, "reason": reason}, conn)
            return True

        return write(self._writer, work)

    def _check_name(self, conn: Connection, name: str, monitor_id: str | None) -> None:
        query = select(monitors.c.id).where(monitors.c.name == name, monitors.c.deleted.is_(False))
        found = conn.execute(query).scalar_one_or_none()
        if found is not None and found != monitor_id:
            raise Conflict(f"a monitor named {name!r} exists already")

    # --- hits and history ---------------------------------------------------------------

    def record_hits(self, hits: Sequence[Hit], *, correction: bool = False) -> set[tuple[str, datetime]]:
        """Store new hits and recount their windows (``crm.monitor_windows.record_hits``)."""
        if not hits:
            return set()
        return write(self._writer, lambda conn: record_hits(conn, hits, correction=correction))

    def prune_hits(self, updated_before: datetime) -> int:
        """Delete the hits of windows last updated before ``updated_before`` and seal those
        windows (``crm.monitor_windows.prune_hits``); how many hits went."""
        return write(self._writer, lambda conn: prune_hits(conn, updated_before))

    def mark_backfilled(self, monitor_id: str, match_revision: int) -> None:
        """Record that the history of ``match_revision`` was backfilled (no-op if it changed)."""

        def work(conn: Connection) -> None:
            conn.execute(
                update(monitors)
                .where(monitors.c.id == monitor_id, monitors.c.match_revision == match_revision)
                .values(backfilled_at=utcnow())
            )

        write(self._writer, work)

    def evaluate(self, monitor: MonitorView, window_start: datetime) -> AlertView | None:
        """Judge a closed window of ``monitor``: the alert it fired, if any (``crm.monitor_alerts``)."""
        return write(self._writer, lambda conn: evaluate_window(conn, monitor, window_start, self._event))

    # --- what the API reads -------------------------------------------------------------

    def alerts(self, monitor_id: str, *, limit: int = 50, before: datetime | None = None) -> list[AlertView]:
        """The monitor's alerts, newest window first."""
        with self._engine.connect() as conn:
            return list_alerts(conn, monitor_id, limit=limit, before=before)

    def windows(
        self,
        monitor_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10_000,
    ) -> list[WindowCounts]:
        """The monitor's stored windows with any message, oldest first (``since`` inclusive,
        ``until`` exclusive, by window start)."""
        query = select(monitor_windows).where(monitor_windows.c.monitor_id == monitor_id)
        if since is not None:
            query = query.where(monitor_windows.c.window_start >= since)
        if until is not None:
            query = query.where(monitor_windows.c.window_start < until)
        query = query.order_by(monitor_windows.c.window_start).limit(limit)
        with self._engine.connect() as conn:
            return [window_from_row(row) for row in conn.execute(query).mappings()]
