"""Reading the SLA tables: a conversation's due times for the inbox, recorded response times
for analytics.

:func:`sla_views` answers a whole inbox page in one query; :func:`response_times` is the
analytics read of ``sla_times`` (first-response and resolution times, with the agent, team,
channel and priority each was recorded with).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, bindparam, select

from crm.rollups import chunks
from crm.sla.schema import sla_clocks, sla_times

__all__ = ["ResponseTime", "SlaView", "response_times", "sla_views"]

Metric = Literal["first_response", "resolution"]
TARGETS = ("first_response", "next_response", "resolution")


class SlaView(BaseModel):
    """A conversation's SLA clock as the inbox shows it.

    A ``*_due`` is set while its target runs (or keeps the time it breached); ``paused_since``
    is set while the conversation waits on the customer, is snoozed or is resolved, and then
    due times of unbreached targets are ``null`` (the clock is stopped)."""

    model_config = ConfigDict(frozen=True)

    policy_id: str | None
    first_response_due: datetime | None
    first_response_at: datetime | None
    next_response_due: datetime | None
    resolution_due: datetime | None
    resolved_at: datetime | None
    paused_since: datetime | None
    #: the targets breached (first_response, next_response, resolution)
    breached: list[str]


class ResponseTime(BaseModel):
    """One recorded first-response or resolution time."""

    model_config = ConfigDict(frozen=True)

    conversation_id: str
    metric: Metric
    started_at: datetime
    ended_at: datetime
    #: working time (the policy's business hours, less pauses); calendar time less pauses
    #: when the conversation had no policy with business hours
    business_seconds: int
    #: wall-clock time from start to end, pauses included
    calendar_seconds: int
    target_seconds: int | None
    breached: bool
    policy_id: str | None
    agent_id: str | None
    team: str | None
    channel: str | None
    priority: str
    #: a time was the hub's arrival time rather than the message's (imports, outages)
    backfilled: bool


_VIEW_COLUMNS = [
    sla_clocks.c.conversation_id,
    sla_clocks.c.policy_id,
    sla_clocks.c.first_response_due,
    sla_clocks.c.first_response_at,
    sla_clocks.c.next_response_due,
    sla_clocks.c.resolution_due,
    sla_clocks.c.resolved_at,
    sla_clocks.c.paused_since,
    # flags, not times: a page never shows when a breach was recorded, and parsing fewer
    # datetimes is most of what this query costs on SQLite
    sla_clocks.c.first_response_breached_at.is_not(None),
    sla_clocks.c.next_response_breached_at.is_not(None),
    sla_clocks.c.resolution_breached_at.is_not(None),
]


#: built once: building the statement and its cache key was a third of what an inbox page's
#: SLA read cost (the ids travel as one expanding parameter)
_VIEWS_QUERY = select(*_VIEW_COLUMNS).where(
    sla_clocks.c.conversation_id.in_(bindparam("ids", expanding=True))
)


def sla_views(engine: Engine, conversation_ids: Sequence[str]) -> dict[str, SlaView]:
    """The clocks of ``conversation_ids`` (those the tracker has seen), in one query per 500."""
    found: dict[str, SlaView] = {}
    if not conversation_ids:
        return found
    with engine.connect() as conn:
        for part in chunks(list(dict.fromkeys(conversation_ids))):
            for row in conn.execute(_VIEWS_QUERY, {"ids": list(part)}):
                (cid, policy_id, fr_due, fr_at, nr_due, res_due, resolved, paused, *breached) = row
                # read from our own table, whose columns have these types: no validation needed
                found[cid] = SlaView.model_construct(
                    policy_id=policy_id,
                    first_response_due=fr_due,
                    first_response_at=fr_at,
                    next_response_due=nr_due,
                    resolution_due=res_due,
                    resolved_at=resolved,
                    paused_since=paused,
                    breached=[t for t, flag in zip(TARGETS, breached, strict=True) if flag],
                )
    return found


def response_times(
    engine: Engine,
    *,
    metric: Metric | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    channel: str | None = None,
    team: str | None = None,
    agent_id: str | None = None,
    priority: str | None = None,
    include_backfilled: bool = False,
    limit: int = 10_000,
) -> list[ResponseTime]:
    """Recorded times whose end (the response, the resolution) is in ``[since, until)``,
    oldest first, filtered by the arguments given; backfilled ones only when asked."""
    query = select(sla_times).order_by(sla_times.c.ended_at, sla_times.c.conversation_id).limit(limit)
    for column, value in (
        (sla_times.c.metric, metric),
        (sla_times.c.channel, channel),
        (sla_times.c.team, team),
        (sla_times.c.agent_id, agent_id),
        (sla_times.c.priority, priority),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(sla_times.c.ended_at >= since)
    if until is not None:
        query = query.where(sla_times.c.ended_at < until)
    if not include_backfilled:
        query = query.where(sla_times.c.backfilled.is_(False))
    with engine.connect() as conn:
        return [ResponseTime.model_validate(dict(row)) for row in conn.execute(query).mappings()]
