"""The /monitors resource: saved listening queries, their window series and their alerts.

Viewers read; supervisors and admins create, edit and delete (``monitor.create``,
``monitor.update``, ``monitor.delete`` in the audit log). The query is checked with the
knowledge base's query language before anything is saved: a bad one is the query error shape
(400 with ``message``, ``position``, ``expected``). A new monitor, or one whose query, channels
or languages changed, is backfilled from the knowledge base before the answer
(``api.monitor_backfill``), so its series is there at once; the running flow picks it up within
``settings.monitors.reload_s``. Enabling a monitor the hub disabled clears its reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from api.deps import CRM_ROUTES, AuditDep, CRMDep, Instant, KBDep, SupervisorDep, require_viewer
from api.errors import error_responses
from api.fields import MAX_ID_CHARS, RequestBody
from api.monitor_backfill import backfill
from crm.monitor_alerts import AlertView
from crm.monitors import AlertSettings, MonitorView
from hub.errors import InvalidInput
from kb.query import MAX_QUERY_CHARS, parse_query

__all__ = ["router"]

router = APIRouter(
    tags=["monitors"],
    responses=error_responses(400, 404, 409, 503),
    dependencies=[Depends(require_viewer), *CRM_ROUTES],
)

Values = Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=50)]


class MonitorCreate(RequestBody):
    """A monitor: a name, a listening query, optional channel and language limits, an owner
    (default: the caller) and alert settings (defaults in ``AlertSettings``)."""

    name: str = Field(min_length=1, max_length=256)
    query: str = Field(max_length=MAX_QUERY_CHARS, description="KB query language")
    channels: Values = Field(default_factory=list)
    languages: Values = Field(default_factory=list)
    owner_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_CHARS)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    enabled: bool = True


class MonitorUpdate(RequestBody):
    """Fields to change; those left out stay. ``alerts`` replaces the alert settings whole
    (settings it leaves out take their defaults)."""

    name: str | None = Field(default=None, min_length=1, max_length=256)
    query: str | None = Field(default=None, max_length=MAX_QUERY_CHARS)
    channels: Values | None = None
    languages: Values | None = None
    owner_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_CHARS)
    alerts: AlertSettings | None = None
    enabled: bool | None = None


class MonitorSaved(MonitorView):
    """A monitor as saved, with how many messages its backfill found (None: not backfilled)."""

    backfilled: int | None = None


class WindowPoint(BaseModel):
    """One 5-minute window of a monitor's series."""

    window_start: datetime
    window_end: datetime
    volume: int
    sentiment: dict[str, int]
    #: negative share of the messages whose sentiment is known (None: none is)
    negative_share: float | None
    channels: dict[str, int]
    languages: dict[str, int]
    hashtags: list[tuple[str, int]]
    entities: list[tuple[str, int]]
    authors: list[tuple[str, int]]
    corrections: int


class WindowSeries(BaseModel):
    monitor_id: str
    items: list[WindowPoint]


class AlertList(BaseModel):
    items: list[AlertView]


def _checked(query: str) -> str:
    """``query`` when it parses; its error (400, the query error shape) otherwise."""
    try:
        parse_query(query)
    except InvalidInput as exc:
        raise InvalidInput(f"invalid query: {exc}", position=exc.position, expected=exc.expected) from exc
    return query


@router.get("/monitors")
def list_monitors(crm: CRMDep) -> list[MonitorView]:
    """Every monitor by name (disabled ones with the hub's reason, if it disabled them)."""
    return crm.monitors.list_all()


@router.post("/monitors", status_code=201)
def create_monitor(
    body: MonitorCreate, crm: CRMDep, kb: KBDep, caller: SupervisorDep, audit: AuditDep
) -> MonitorSaved:
    """A new monitor, backfilled from the knowledge base; 400 for a bad query, 409 for a taken name."""
    monitor = crm.monitors.create(
        body.name,
        _checked(body.query),
        channels=body.channels,
        languages=body.languages,
        owner_id=body.owner_id or caller.agent.id,
        alerts=body.alerts,
        enabled=body.enabled,
    )
    audit.record("monitor.create", "monitor", monitor.id, after=monitor)
    found = backfill(kb, crm, monitor)
    return MonitorSaved(**crm.monitors.get(monitor.id).model_dump(), backfilled=found)


@router.get("/monitors/{monitor_id}")
def get_monitor(monitor_id: str, crm: CRMDep) -> MonitorView:
    return crm.monitors.get(monitor_id)


@router.patch("/monitors/{monitor_id}")
def update_monitor(
    monitor_id: str, body: MonitorUpdate, crm: CRMDep, kb: KBDep, _: SupervisorDep, audit: AuditDep
) -> MonitorSaved:
    """Change a monitor; a changed query, channels or languages backfills it anew."""
    changes = body.model_dump(exclude_unset=True)
    for key in ("name", "query", "channels", "languages", "alerts", "enabled"):
        if key in changes and changes[key] is None:
            del changes[key]  # null is "leave it": these have no empty value
    if "query" in changes:
        _checked(changes["query"])
    before = crm.monitors.get(monitor_id)
    monitor, rematch = crm.monitors.update(monitor_id, changes)
    audit.record(
        "monitor.update",
        "monitor",
        monitor_id,
        before={key: getattr(before, key) for key in changes},
        after={key: getattr(monitor, key) for key in changes},
    )
    found = backfill(kb, crm, monitor) if rematch else None
    return MonitorSaved(**crm.monitors.get(monitor_id).model_dump(), backfilled=found)


@router.delete("/monitors/{monitor_id}", status_code=204)
def delete_monitor(monitor_id: str, crm: CRMDep, _: SupervisorDep, audit: AuditDep) -> Response:
    """Delete a monitor with its windows (its alerts and their events stay)."""
    before = crm.monitors.delete(monitor_id)
    audit.record("monitor.delete", "monitor", monitor_id, before=before)
    return Response(status_code=204)


@router.get("/monitors/{monitor_id}/windows")
def monitor_windows(
    monitor_id: str,
    crm: CRMDep,
    since: Instant | None = None,
    until: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 2016,
) -> WindowSeries:
    """The monitor's 5-minute windows with any message, oldest first: volume, sentiment counts
    and negative share, channels, languages, top hashtags, entities and authors."""
    crm.monitors.get(monitor_id)  # 404 for an unknown monitor
    windows = crm.monitors.windows(monitor_id, since=since, until=until, limit=limit)
    items = [
        WindowPoint(
            window_start=w.window_start,
            window_end=w.window_end,
            volume=w.volume,
            sentiment=w.sentiment,
            negative_share=w.negative_share,
            channels=w.channels,
            languages=w.languages,
            hashtags=w.hashtags,
            entities=w.entities,
            authors=w.authors,
            corrections=w.corrections,
        )
        for w in windows
    ]
    return WindowSeries(monitor_id=monitor_id, items=items)


@router.get("/monitors/{monitor_id}/alerts")
def monitor_alerts(
    monitor_id: str,
    crm: CRMDep,
    before: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AlertList:
    """The monitor's alerts, newest window first, each with the ids of the messages behind it."""
    crm.monitors.get(monitor_id)
    return AlertList(items=crm.monitors.alerts(monitor_id, limit=limit, before=before))
