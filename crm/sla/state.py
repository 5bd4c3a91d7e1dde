"""One conversation's SLA clock and how events move it: pure functions, no I/O.

:class:`ClockState` mirrors an ``sla_clocks`` row. :func:`apply_event` moves it by one event
of the log and returns what to record for analytics; :func:`recompute` sets the due times of
the targets that are running under a policy. The tracker (``crm.sla.tracker``) loads rows,
calls these, and stores the result in the transaction that advances its cursor.

The rules, in the order a conversation meets them:

* **start**: ``conversation.created`` (or the first inbound ``message.created`` of a
  conversation the tracker has not seen) starts the first-response and resolution targets at
  the message's time. A conversation we started (its first message outbound) owes no first
  response.
* **responses**: an outbound ``message.created`` meets the first response, then each next
  response; an inbound message after a response starts a next-response wait (from the oldest
  unanswered inbound message).
* **pauses**: status ``pending`` (waiting on the customer) or a snooze (``snoozed`` status or
  ``snoozed_until`` set) pauses every target; ``open`` again or ``conversation.reopened``
  resumes them. The paused time never counts.
* **resolution**: status ``resolved`` meets the resolution target and stops the response
  targets; a reopen resumes the resolution target (the resolved interval is a pause) and the
  first response if none was given; a reopen by an inbound message (``reason: inbound``)
  starts a next-response wait, whether its ``message.created`` came before or after it.
* **scope**: ``conversation.updated`` (priority, queue) and ``conversation.assigned`` (queue,
  assignee) change the policy's scope; due times of running targets are recomputed from their
  original start under the new policy. Breached targets keep the due time they breached.

**Message times** (imports of old mail, backfills, outages): a message's own time
(``sent_at``) is used when it is at most ``late_after`` older than the moment the hub recorded
it (``Event.at``); otherwise the clock uses ``Event.at`` (the team could not answer a message
before the hub had it) and the clock is marked ``backfilled``; a time in the future is read as
``Event.at``. Times never run backwards within one clock: an event earlier than the latest one
applied counts at the latest one's time. So importing last year's mailbox starts clocks now
and breaches nothing retroactively; analytics can leave ``backfilled`` rows out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from crm.events import Event
from crm.sla.clock import BusinessCalendar, Pause, due_at, elapsed
from crm.sla.policies import SlaPolicy
from hub.models import Priority

__all__ = ["ClockState", "Measurement", "apply_event", "event_time", "recompute"]

log = logging.getLogger("parley.sla")

PAUSING_STATUSES = frozenset({"pending", "snoozed"})
STATUSES = frozenset({"open", "resolved", *PAUSING_STATUSES})
PRIORITIES = frozenset(p.value for p in Priority)


@dataclass(frozen=True)
class Measurement:
    """A first-response or resolution time, for ``sla_times``."""

    metric: str
    started_at: datetime
    ended_at: datetime
    business_seconds: int
    calendar_seconds: int
    target_seconds: int | None
    breached: bool
    policy_id: str | None
    agent_id: str | None
    team: str | None
    channel: str | None
    priority: str
    backfilled: bool


@dataclass
class ClockState:
    """An ``sla_clocks`` row (see ``crm.sla.schema``)."""

    conversation_id: str
    started_at: datetime
    last_at: datetime
    priority: str = "normal"
    status: str = "open"
    channel: str | None = None
    queue: str | None = None
    assignee: str | None = None
    policy_id: str | None = None
    origin_message_id: str | None = None
    first_response_due: datetime | None = None
    first_response_at: datetime | None = None
    first_response_breached_at: datetime | None = None
    waiting_since: datetime | None = None
    next_response_due: datetime | None = None
    next_response_breached_at: datetime | None = None
    resolution_due: datetime | None = None
    resolved_at: datetime | None = None
    resolution_breached_at: datetime | None = None
    paused_since: datetime | None = None
    pauses: list[tuple[datetime, datetime]] = field(default_factory=list)
    backfilled: bool = False
    #: false when the conversation was started by an outbound message
    first_response_owed: bool = True

    def all_pauses(self) -> list[Pause]:
        closed: list[Pause] = list(self.pauses)
        return [*closed, (self.paused_since, None)] if self.paused_since is not None else closed

    def pause(self, at: datetime) -> None:
        if self.paused_since is None:
            self.paused_since = at

    def resume(self, at: datetime) -> None:
        if self.paused_since is not None:
            if at > self.paused_since:
                self.pauses.append((self.paused_since, at))
            self.paused_since = None


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _text(value: Any, limit: int) -> str | None:
    """A string field of an event's data as a column can hold it: anything else (a number, a
    list, an id longer than any we make) is read as absent rather than stopping the tracker."""
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def event_time(event: Event, late_after: timedelta) -> tuple[datetime, bool]:
    """The time ``event`` counts at, and whether it was replaced by the hub's (module doc)."""
    sent = _parse(event.data.get("sent_at"))
    if sent is None or sent > event.at:
        return event.at, False
    if event.at - sent > late_after:
        return event.at, True
    return sent, False


def _measure(
    state: ClockState, metric: str, end: datetime, policy: SlaPolicy | None, agent: str | None
) -> Measurement:
    calendar: BusinessCalendar | None = policy.calendar() if policy else None
    breached_at = (
        state.first_response_breached_at if metric == "first_response" else state.resolution_breached_at
    )
    return Measurement(
        metric=metric,
        started_at=state.started_at,
        ended_at=end,
        business_seconds=int(elapsed(state.started_at, end, calendar, state.all_pauses()).total_seconds()),
        calendar_seconds=int((end - state.started_at).total_seconds()),
        target_seconds=policy.target_seconds(metric) if policy else None,
        breached=breached_at is not None,
        policy_id=policy.id if policy else None,
        agent_id=agent,
        team=state.queue,
        channel=state.channel,
        priority=state.priority,
        backfilled=state.backfilled,
    )


def new_clock(conversation_id: str, at: datetime, data: dict[str, Any]) -> ClockState:
    return ClockState(
        conversation_id=conversation_id,
        started_at=at,
        last_at=at,
        channel=_text(data.get("channel"), 64),
        origin_message_id=_text(data.get("message_id"), 128),
    )


def apply_event(
    state: ClockState | None, event: Event, at: datetime, policy: SlaPolicy | None, *, late: bool = False
) -> tuple[ClockState | None, list[Measurement]]:
    """``state`` moved by ``event`` counted at ``at`` (``late``: the hub's time replaced the
    message's, see :func:`event_time`); ``policy`` is the one in force before the event.
    Returns the new state (None: nothing to track) and the measurements it completed. Call
    :func:`recompute` afterwards with the policy for the new scope."""
    data, kind = event.data, event.type
    if state is None:
        if event.conversation_id is None or kind not in {"conversation.created", "message.created"}:
            return None, []
        if kind == "message.created" and data.get("direction") != "in":
            return None, []
        fresh = new_clock(event.conversation_id, at, data)
        fresh.backfilled = late
        return fresh, []
    state = replace(state, pauses=list(state.pauses))
    at = max(at, state.last_at)
    state.last_at = at
    state.backfilled = state.backfilled or late
    done: list[Measurement] = []
    if kind == "message.created" and data.get("direction") == "in":
        if state.first_response_at is not None and state.waiting_since is None and state.resolved_at is None:
            state.waiting_since = at
    elif kind == "message.created" and data.get("direction") == "out":
        if data.get("message_id") is not None and data.get("message_id") == state.origin_message_id:
            state.first_response_owed = False
        elif state.first_response_at is None and state.first_response_owed and state.resolved_at is None:
            state.first_response_at = at
            agent = _text(data.get("sent_by"), 64) or state.assignee
            done.append(_measure(state, "first_response", at, policy, agent))
        _end_wait(state)
    elif kind == "conversation.status_changed":
        done += _status(state, data.get("to"), data.get("snoozed_until"), at, policy)
    elif kind == "conversation.reopened":
        _reopen(state, at)
        # reopened by the customer writing (whichever of the two events came first): they wait
        if (
            data.get("reason") == "inbound"
            and state.first_response_at is not None
            and state.waiting_since is None
        ):
            state.waiting_since = at
    elif kind == "conversation.updated":
        changes = data.get("changes")
        changes = changes if isinstance(changes, dict) else {}
        priority, queue = changes.get("priority"), changes.get("queue")
        if isinstance(priority, list) and len(priority) == 2 and priority[1] in PRIORITIES:
            state.priority = priority[1]
        if isinstance(queue, list) and len(queue) == 2:
            state.queue = _text(queue[1], 256)
    elif kind == "conversation.assigned":
        state.assignee = _text(data.get("assignee"), 64)
        if _text(data.get("queue"), 256) is not None:
            state.queue = data["queue"]
    return state, done


def _status(
    state: ClockState, to: Any, snoozed_until: Any, at: datetime, policy: SlaPolicy | None
) -> list[Measurement]:
    if not isinstance(to, str) or to not in STATUSES:
        return []  # a status this tracker does not know: the clock is left as it is
    previous = state.status
    state.status = to
    if state.status == "resolved":
        if previous == "resolved":
            return []
        state.pause(at)
        state.resolved_at = at
        _end_wait(state)
        return [_measure(state, "resolution", at, policy, state.assignee)]
    if state.status in PAUSING_STATUSES or snoozed_until:
        state.pause(at)
        return []
    _reopen(state, at)
    return []


def _end_wait(state: ClockState) -> None:
    """The customer is answered (or the conversation resolved): a next-response breach is
    shown only while its wait lasts (its event stays in the log)."""
    state.waiting_since = None
    state.next_response_due = None
    state.next_response_breached_at = None


def _reopen(state: ClockState, at: datetime) -> None:
    state.resume(at)
    if state.status in PAUSING_STATUSES or state.status == "resolved":
        state.status = "open"
    state.resolved_at = None


def _due(
    start: datetime | None, seconds: int | None, calendar: BusinessCalendar | None, pauses: list[Pause]
) -> datetime | None:
    if start is None or seconds is None:
        return None
    try:
        return due_at(start, timedelta(seconds=seconds), calendar, pauses)
    except ValueError:
        # holidays leave no working time for years: nothing can be due, nothing breaches
        log.warning("SLA calendar has no working time ahead of %s; no due time set", start.isoformat())
        return None


def recompute(state: ClockState, policy: SlaPolicy | None) -> ClockState:
    """Set the due time of each running target under ``policy`` (None: nothing is due).
    A breached target keeps its due time; a target that is not running has none."""
    state.policy_id = policy.id if policy else None
    calendar = policy.calendar() if policy else None
    pauses = state.all_pauses()
    running = state.resolved_at is None

    def target(name: str) -> int | None:
        return policy.target_seconds(name) if policy else None

    if state.first_response_breached_at is None:
        owed = running and state.first_response_at is None and state.first_response_owed
        state.first_response_due = _due(
            state.started_at if owed else None, target("first_response"), calendar, pauses
        )
    if state.next_response_breached_at is None:
        waiting = state.waiting_since if running else None
        state.next_response_due = _due(waiting, target("next_response"), calendar, pauses)
    if state.resolution_breached_at is None:
        state.resolution_due = _due(
            state.started_at if running else None, target("resolution"), calendar, pauses
        )
    return state
