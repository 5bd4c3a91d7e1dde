"""``/analytics``: the tables team leads and marketers read, as JSON or CSV (``format=csv``).

Listening analytics (viewers): volume over time per monitor (and channel), sentiment share,
share of voice between monitors, top hashtags, entities and authors (by volume and by reach),
the language mix, read from the windows the flow counted for each monitor; the same charts as
SVG for the web console and the report (``parley report``).

Inbox analytics (supervisors): first-response and resolution times by agent, team, channel or
priority; backlog over time; conversations per agent. They are folded from the event log
(``analytics.inbox`` says what each figure means), so they cover what happened since the log
began.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel

from analytics.inbox import (
    InboxFold,
    SlaOutcome,
    backlog_table,
    fold_events,
    response_time_table,
    sla_attainment_table,
    workload_table,
)
from analytics.listening import (
    CHARTS,
    language_mix_table,
    sentiment_share_table,
    share_of_voice_table,
    top_table,
    volume_table,
)
from analytics.sources import author_reach, find_monitors, stored_windows
from analytics.tables import Table
from api.deps import CRM_ROUTES, CRMDep, Instant, KBDep, require_supervisor, require_viewer
from api.errors import error_responses, unprocessable
from crm import CRMStore, Event
from hub.models import utcnow
from kb.base import KnowledgeBase

__all__ = ["TablePage", "router", "table_response"]

router = APIRouter(
    prefix="/analytics",
    tags=["analytics"],
    responses=error_responses(400, 503),
    dependencies=[*CRM_ROUTES],
)

#: the event types inbox analytics fold
INBOX_EVENTS = (
    "conversation.created",
    "conversation.assigned",
    "conversation.updated",
    "conversation.status_changed",
    "conversation.reopened",
    "message.created",
)
INTERVALS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
#: events read per page while folding
_PAGE = 5000

Format = Literal["json", "csv"]
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "the table (JSON or CSV)"}
}


class TablePage(BaseModel):
    """One table: its columns, rows as column → value records, and how it was computed."""

    name: str
    columns: list[str]
    rows: list[dict[str, Any]]
    note: str = ""


def table_response(table: Table, format: Format) -> TablePage | Response:
    """``table`` as JSON, or as a CSV attachment named after it."""
    if format == "csv":
        return Response(
            table.to_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{table.name}.csv"'},
        )
    return TablePage(name=table.name, columns=list(table.columns), rows=table.records(), note=table.note)


def _period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    end = until or utcnow()
    try:
        start = since or end - timedelta(days=7)
    except OverflowError:  # a week before `until` is before the year 1
        message = "until must be at least a week after 0001-01-01"
        raise unprocessable("until", message, location="query") from None
    if start >= end:
        raise unprocessable("since", "since must be before until", location="query")
    return start, end


def _fold(crm: CRMStore) -> InboxFold:
    # Every inbox event, whenever recorded: an import records old messages today, and the
    # tables place each figure by the time it happened.
    events: list[Event] = []
    after = 0
    while True:
        page = crm.events.read(after=after, limit=_PAGE, types=INBOX_EVENTS)
        events.extend(page)
        if len(page) < _PAGE:
            return fold_events(events)
        after = page[-1].id


def _names(crm: CRMStore) -> dict[str, str]:
    return {agent.id: agent.name for agent in crm.agents.list_all()}


@router.get(
    "/inbox/response-times",
    dependencies=[Depends(require_supervisor)],
    response_model=TablePage,
    responses=CSV_RESPONSE,
)
def response_times(
    crm: CRMDep,
    measure: Literal["first_response", "resolution"] = "first_response",
    by: Literal["agent", "team", "channel", "priority"] = "agent",
    since: Instant | None = Query(default=None, description="default: 7 days before until"),
    until: Instant | None = Query(default=None, description="default: now"),
    format: Format = "json",
) -> TablePage | Response:
    """Count, median and p90 of first-response or resolution times (calendar seconds) per group."""
    start, end = _period(since, until)
    teams: dict[str, list[str]] = {}
    for team in crm.teams.list_all():
        for member in team.member_ids:
            teams.setdefault(member, []).append(team.name)
    table = response_time_table(
        _fold(crm), measure=measure, by=by, since=start, until=end, teams=teams, names=_names(crm)
    )
    return table_response(table, format)


@router.get(
    "/inbox/backlog",
    dependencies=[Depends(require_supervisor)],
    response_model=TablePage,
    responses=CSV_RESPONSE,
)
def backlog(
    crm: CRMDep,
    since: Instant | None = Query(default=None, description="default: 7 days before until"),
    until: Instant | None = Query(default=None, description="default: now"),
    interval: Literal["hour", "day", "week"] = "day",
    format: Format = "json",
) -> TablePage | Response:
    """Conversations open or pending at the end of each interval."""
    start, end = _period(since, until)
    try:
        table = backlog_table(_fold(crm), since=start, until=end, step=INTERVALS[interval])
    except ValueError as exc:
        raise unprocessable("interval", str(exc), location="query") from exc
    return table_response(table, format)


@router.get(
    "/inbox/workload",
    dependencies=[Depends(require_supervisor)],
    response_model=TablePage,
    responses=CSV_RESPONSE,
)
def workload(
    crm: CRMDep,
    since: Instant | None = Query(default=None, description="default: 7 days before until"),
    until: Instant | None = Query(default=None, description="default: now"),
    format: Format = "json",
) -> TablePage | Response:
    """Conversations assigned to each agent in the period, and those they still hold at its end."""
    start, end = _period(since, until)
    return table_response(workload_table(_fold(crm), since=start, until=end, names=_names(crm)), format)


@router.get(
    "/inbox/sla", dependencies=[Depends(require_supervisor)], response_model=TablePage, responses=CSV_RESPONSE
)
def sla_attainment(
    crm: CRMDep,
    by: Literal["agent", "team", "channel", "priority"] = "priority",
    since: Instant | None = Query(default=None, description="default: 7 days before until"),
    until: Instant | None = Query(default=None, description="default: now"),
    include_backfilled: bool = Query(default=False, description="count imported history too"),
    format: Format = "json",
) -> TablePage | Response:
    """SLA attainment: first responses and resolutions that met their target, per group, with
    business-time median and p90 (recorded by the SLA tracker)."""
    start, end = _period(since, until)
    names = _names(crm)
    times = crm.sla.response_times(
        since=start, until=end, include_backfilled=include_backfilled, limit=100_000
    )

    def group(time: Any) -> str:
        if by == "agent":
            return names.get(time.agent_id, time.agent_id) if time.agent_id else "(unassigned)"
        value = {"team": time.team, "channel": time.channel, "priority": time.priority}[by]
        return str(value) if value else "(none)"

    outcomes = [
        SlaOutcome(t.metric, group(t), t.business_seconds, t.target_seconds, t.breached) for t in times
    ]
    return table_response(sla_attainment_table(outcomes, by=by), format)


ListeningTable = Literal[
    "volume",
    "volume-by-channel",
    "sentiment",
    "share-of-voice",
    "top-hashtags",
    "top-entities",
    "top-authors",
    "top-authors-by-reach",
    "languages",
]
Chart = Literal["volume", "sentiment", "share-of-voice", "top-hashtags"]
LISTENING_INTERVALS = {"5m": timedelta(minutes=5), **INTERVALS}
Monitors = Query(default=None, max_length=20, description="monitor names or ids; default: every monitor")


def _listening(
    crm: CRMStore,
    table: str,
    monitor: list[str] | None,
    since: datetime | None,
    until: datetime | None,
    interval: str,
    limit: int,
    kb: KnowledgeBase | None = None,
) -> Table:
    start, end = _period(since, until)
    monitors = find_monitors(crm, monitor or [])
    windows = stored_windows(crm, monitors, start, end)
    try:
        if table in {"volume", "volume-by-channel"}:
            step = LISTENING_INTERVALS[interval]
            return volume_table(
                windows, since=start, until=end, step=step, by_channel=table.endswith("channel")
            )
    except ValueError as exc:
        raise unprocessable("interval", str(exc), location="query") from exc
    if table == "sentiment":
        return sentiment_share_table(windows, since=start, until=end)
    if table == "share-of-voice":
        return share_of_voice_table(windows, since=start, until=end)
    if table == "languages":
        return language_mix_table(windows, since=start, until=end)
    kind = table.removeprefix("top-").removesuffix("-by-reach")
    reach = author_reach(kb, monitors, start, end) if table.endswith("by-reach") and kb is not None else None
    return top_table(windows, kind=kind, since=start, until=end, limit=limit, reach=reach)


@router.get(
    "/listening/{table}",
    dependencies=[Depends(require_viewer)],
    response_model=TablePage,
    responses={**CSV_RESPONSE, **error_responses(404)},
)
def listening_table(
    table: ListeningTable,
    crm: CRMDep,
    kb: KBDep,
    monitor: list[str] | None = Monitors,
    since: Instant | None = Query(default=None, description="default: 7 days before until"),
    until: Instant | None = Query(default=None, description="default: now"),
    interval: Literal["5m", "hour", "day", "week"] = "day",
    limit: int = Query(default=10, ge=1, le=100, description="rows per monitor of the top tables"),
    format: Format = "json",
) -> TablePage | Response:
    """One listening table over the monitors' counted windows (by message time)."""
    return table_response(_listening(crm, table, monitor, since, until, interval, limit, kb), format)


@router.get(
    "/listening/charts/{chart}.svg",
    dependencies=[Depends(require_viewer)],
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}, "description": "the chart"},
        **error_responses(404),
    },
)
def listening_chart(
    chart: Chart,
    crm: CRMDep,
    monitor: list[str] | None = Monitors,
    since: Instant | None = Query(default=None, description="default: 7 days before until"),
    until: Instant | None = Query(default=None, description="default: now"),
    interval: Literal["5m", "hour", "day", "week"] = "day",
) -> Response:
    """The chart the report and the web console show, as self-contained SVG."""
    start, end = _period(since, until)
    windows = stored_windows(crm, find_monitors(crm, monitor or []), start, end)
    if chart == "volume":
        svg = CHARTS["volume"](windows, since=start, until=end, step=LISTENING_INTERVALS[interval])
    else:
        svg = CHARTS[chart](windows, since=start, until=end)
    return Response(svg, media_type="image/svg+xml")
