"""Inbox analytics folded from the event log (docs/events.md): first-response and resolution
times, backlog over time and conversations per agent.

Pure: the caller reads events (``store.events.read``) and hands them here in id order. Times
are calendar times; an SLA's business-hours clock is the SLA tracker's. What each figure means:

* **first response**: from the conversation's first inbound message (``conversation.created``'s
  ``sent_at``) to the first outbound message after it (``message.created``, direction ``out``),
  credited to the agent who sent it (``sent_by``; else the assignee then);
* **resolution**: from the start of each open period (created, or reopened) to the status
  change to ``resolved`` that ends it, credited to the assignee at that moment; a conversation
  resolved twice counts twice;
* a figure belongs to the period that holds its end (the response, the resolution);
* **backlog**: conversations whose status is ``open`` or ``pending`` at each bucket's end
  (changes at that very moment included);
* **conversations per agent**: distinct conversations assigned to the agent in the period, and
  those still assigned and unresolved at its end.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from analytics.tables import Cell, Table
from crm import Event

__all__ = [
    "GROUPINGS",
    "Duration",
    "InboxFold",
    "SlaOutcome",
    "backlog_table",
    "fold_events",
    "percentile",
    "response_time_table",
    "sla_attainment_table",
    "workload_table",
]

Grouping = Literal["agent", "team", "channel", "priority"]
GROUPINGS: tuple[Grouping, ...] = ("agent", "team", "channel", "priority")
UNASSIGNED = "(unassigned)"
#: the statuses a conversation is in the backlog with
BACKLOG = frozenset({"open", "pending"})


def _when(value: object, fallback: datetime) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return fallback
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return fallback


@dataclass(frozen=True)
class Duration:
    """One measured interval: which conversation, when it ended, how long, and its groups."""

    conversation_id: str
    ended_at: datetime
    seconds: float
    agent: str
    channel: str
    priority: str


@dataclass
class _Conversation:
    channel: str = "unknown"
    priority: str = "normal"
    assignee: str | None = None
    status: str = "open"
    first_inbound_at: datetime | None = None
    responded: bool = False
    open_since: datetime | None = None


@dataclass
class InboxFold:
    """What :func:`fold_events` learnt: measured intervals and state changes over time."""

    first_responses: list[Duration] = field(default_factory=list)
    resolutions: list[Duration] = field(default_factory=list)
    #: (moment, conversation id, in backlog after it) in event order
    backlog_changes: list[tuple[datetime, str, bool]] = field(default_factory=list)
    #: (moment, conversation id, agent or None) in event order
    assignments: list[tuple[datetime, str, str | None]] = field(default_factory=list)


def fold_events(events: Iterable[Event]) -> InboxFold:
    """Fold events (in id order) into the intervals and changes the tables are built from."""
    fold = InboxFold()
    conversations: dict[str, _Conversation] = defaultdict(_Conversation)
    for event in events:
        cid = event.conversation_id
        if cid is None:
            continue
        state = conversations[cid]
        data = event.data
        if event.type == "conversation.created":
            state.channel = str(data.get("channel") or state.channel)
            state.first_inbound_at = _when(data.get("sent_at"), event.at)
            state.open_since = state.first_inbound_at
            state.status = "open"
            fold.backlog_changes.append((state.open_since, cid, True))
        elif event.type == "message.created" and data.get("direction") == "out":
            sent_at = _when(data.get("sent_at"), event.at)
            if (
                not state.responded
                and state.first_inbound_at is not None
                and sent_at >= state.first_inbound_at
            ):
                state.responded = True
                agent = str(data.get("sent_by") or state.assignee or UNASSIGNED)
                seconds = (sent_at - state.first_inbound_at).total_seconds()
                fold.first_responses.append(
                    Duration(cid, sent_at, seconds, agent, state.channel, state.priority)
                )
        elif event.type == "conversation.assigned":
            assignee = data.get("assignee")
            state.assignee = str(assignee) if assignee else None
            fold.assignments.append((event.at, cid, state.assignee))
        elif event.type == "conversation.updated":
            changes = data.get("changes") or {}
            priority = changes.get("priority") if isinstance(changes, Mapping) else None
            if isinstance(priority, Sequence) and len(priority) == 2 and priority[1]:
                state.priority = str(priority[1])
        elif event.type in {"conversation.status_changed", "conversation.reopened"}:
            to = "open" if event.type == "conversation.reopened" else str(data.get("to") or "open")
            was_resolved = state.status == "resolved"
            if to == "resolved" and not was_resolved and state.open_since is not None:
                seconds = max(0.0, (event.at - state.open_since).total_seconds())
                agent = state.assignee or UNASSIGNED
                fold.resolutions.append(
                    Duration(cid, event.at, seconds, agent, state.channel, state.priority)
                )
            if to != "resolved" and was_resolved:
                state.open_since = event.at
            state.status = to
            fold.backlog_changes.append((event.at, cid, to in BACKLOG))
    return fold


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in (0, 1]) of non-empty ``values``."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def _in(moment: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or moment >= since) and (until is None or moment < until)


def _groups(duration: Duration, by: Grouping, teams: Mapping[str, Sequence[str]]) -> list[str]:
    if by == "agent":
        return [duration.agent]
    if by == "team":
        return list(teams.get(duration.agent) or ["(no team)"])
    return [duration.channel if by == "channel" else duration.priority]


def response_time_table(
    fold: InboxFold,
    *,
    measure: Literal["first_response", "resolution"],
    by: Grouping,
    since: datetime | None = None,
    until: datetime | None = None,
    teams: Mapping[str, Sequence[str]] | None = None,
    names: Mapping[str, str] | None = None,
) -> Table:
    """Count, median and p90 (seconds) of first-response or resolution times per group.

    ``teams`` maps an agent id to its team names; ``names`` an agent id to its display name."""
    durations = fold.first_responses if measure == "first_response" else fold.resolutions
    grouped: dict[str, list[float]] = defaultdict(list)
    for duration in durations:
        if _in(duration.ended_at, since, until):
            for group in _groups(duration, by, teams or {}):
                grouped[group].append(duration.seconds)
    rows: list[list[Cell]] = []
    for group in sorted(grouped, key=lambda g: (-len(grouped[g]), g)):
        values = grouped[group]
        # agents by id and name: names are not unique
        labels = [group, (names or {}).get(group, group)] if by == "agent" else [group]
        rows.append([*labels, len(values), statistics.median(values), percentile(values, 0.9)])
    return Table(
        name=f"{measure}_by_{by}",
        columns=[
            *(["agent_id", "agent"] if by == "agent" else [by]),
            "count",
            "median_seconds",
            "p90_seconds",
        ],
        rows=rows,
        note=f"{measure.replace('_', ' ')} times by {by}, calendar seconds (median, nearest-rank p90)",
    )


def backlog_table(fold: InboxFold, *, since: datetime, until: datetime, step: timedelta) -> Table:
    """Conversations open or pending at the end of each ``step`` from ``since`` to ``until``."""
    if step <= timedelta(0):
        raise ValueError("the backlog step must be positive")
    if (until - since) / step > 10_000:
        raise ValueError("too many backlog buckets: widen the step or shorten the period")
    changes = sorted(fold.backlog_changes, key=lambda change: change[0])
    in_backlog: dict[str, bool] = {}
    rows: list[list[datetime | int | None]] = []
    index = 0
    moment = since + step
    while moment <= until:
        while index < len(changes) and changes[index][0] <= moment:
            _, cid, open_ = changes[index]
            in_backlog[cid] = open_
            index += 1
        rows.append([moment, sum(in_backlog.values())])
        moment += step
    return Table(
        name="backlog",
        columns=["at", "open_or_pending"],
        rows=rows,
        note="conversations open or pending at each time",
    )


def workload_table(
    fold: InboxFold,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    names: Mapping[str, str] | None = None,
) -> Table:
    """Per agent: conversations assigned in the period, and those the agent still holds at its
    end (assigned to them and open or pending)."""
    assigned: dict[str, set[str]] = defaultdict(set)
    holder: dict[str, str | None] = {}
    for moment, cid, agent in fold.assignments:
        if until is not None and moment >= until:
            break
        holder[cid] = agent
        if agent is not None and _in(moment, since, until):
            assigned[agent].add(cid)
    in_backlog: dict[str, bool] = {}
    for moment, cid, open_ in sorted(fold.backlog_changes, key=lambda change: change[0]):
        if until is not None and moment >= until:
            break
        in_backlog[cid] = open_
    holding: dict[str, int] = defaultdict(int)
    for cid, agent in holder.items():
        if agent is not None and in_backlog.get(cid, False):
            holding[agent] += 1
    agents = sorted(set(assigned) | set(holding), key=lambda a: (-len(assigned.get(a, ())), a))
    rows: list[list[Cell]] = [
        [a, (names or {}).get(a, a), len(assigned.get(a, ())), holding.get(a, 0)] for a in agents
    ]
    return Table(
        name="conversations_per_agent",
        columns=["agent_id", "agent", "assigned", "holding"],
        rows=rows,
        note="conversations assigned to each agent in the period, and still held at its end",
    )


@dataclass(frozen=True)
class SlaOutcome:
    """One recorded SLA measurement (``crm.sla.ResponseTime``'s fields that count here)."""

    metric: str
    group: str
    business_seconds: int
    target_seconds: int | None
    breached: bool


def sla_attainment_table(outcomes: Iterable[SlaOutcome], *, by: str) -> Table:
    """Per metric and group: measured, with a target, met, breached, the share met, and the
    median and p90 business-time seconds."""
    grouped: dict[tuple[str, str], list[SlaOutcome]] = defaultdict(list)
    for outcome in outcomes:
        grouped[(outcome.metric, outcome.group)].append(outcome)
    rows: list[list[Cell]] = []
    for metric, group in sorted(grouped):
        items = grouped[(metric, group)]
        targeted = [o for o in items if o.target_seconds is not None]
        # missed: breached while running, or measured over its target (answered late, before a scan)
        breached = sum(1 for o in targeted if o.breached or o.business_seconds > (o.target_seconds or 0))
        seconds = [float(o.business_seconds) for o in items]
        met = len(targeted) - breached
        rows.append(
            [
                metric,
                group,
                len(items),
                len(targeted),
                met,
                breached,
                met / len(targeted) if targeted else None,
                statistics.median(seconds),
                percentile(seconds, 0.9),
            ]
        )
    return Table(
        name=f"sla_attainment_by_{by}",
        columns=[
            "metric",
            by,
            "measured",
            "with_target",
            "met",
            "breached",
            "attainment",
            "median_seconds",
            "p90_seconds",
        ],
        rows=rows,
        note="SLA outcomes as the SLA tracker recorded them; seconds are business time less pauses",
    )
