"""SLAs: policies per queue and priority, business-time clocks that follow the event log,
breaches with escalation, and recorded response times.

* :mod:`crm.sla.clock` - business time (pure): ``due_at``, ``elapsed``, calendars, DST;
* :mod:`crm.sla.policies` - the policies and their store;
* :mod:`crm.sla.state` - how one event moves one conversation's clock (pure);
* :mod:`crm.sla.tracker` - following the log, the breach scan, escalation through a port;
* :mod:`crm.sla.views` - due times for the inbox, ``response_times`` for analytics.

:class:`SlaStore` (``CRMStore.sla``) ties them to one database and the store's event log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine

from crm.events import EventLog
from crm.sla.policies import BusinessHours, Escalation, SlaPolicy, SlaPolicySpec, SlaPolicyStore
from crm.sla.tracker import BreachAction, Escalator, SlaTracker
from crm.sla.views import Metric, ResponseTime, SlaView, response_times, sla_views

__all__ = [
    "BreachAction",
    "BusinessHours",
    "Escalation",
    "Escalator",
    "ResponseTime",
    "SlaPolicy",
    "SlaPolicySpec",
    "SlaStore",
    "SlaView",
]


class SlaStore:
    """Policies (``policies``), the tracker (``follow``, ``scan``) and the reads."""

    def __init__(self, engine: Engine, writer: Engine, events: EventLog, *, late_after: timedelta) -> None:
        self._engine = engine
        self.policies = SlaPolicyStore(engine, writer)
        self.tracker = SlaTracker(engine, writer, events, late_after=late_after)

    def follow(self, *, batch: int = 500, max_batches: int | None = None) -> int:
        """Apply the events logged since the last call; returns how many."""
        return self.tracker.follow(batch=batch, max_batches=max_batches)

    def scan(self, now: datetime | None = None, escalate: Escalator | None = None) -> int:
        """Record breaches of targets due before ``now`` (default: now); returns how many."""
        return self.tracker.scan(now, escalate)

    def reapply(self) -> int:
        """Recompute unresolved clocks under the current policies; returns how many changed."""
        return self.tracker.reapply()

    def views(self, conversation_ids: Sequence[str]) -> dict[str, SlaView]:
        """The due times of ``conversation_ids`` (one query per page)."""
        return sla_views(self._engine, conversation_ids)

    def response_times(
        self,
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
        """Recorded first-response and resolution times (:func:`crm.sla.views.response_times`)."""
        return response_times(
            self._engine,
            metric=metric,
            since=since,
            until=until,
            channel=channel,
            team=team,
            agent_id=agent_id,
            priority=priority,
            include_backfilled=include_backfilled,
            limit=limit,
        )
