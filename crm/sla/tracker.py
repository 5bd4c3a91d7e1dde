"""The SLA tracker: follows the event log into ``sla_clocks``, finds breaches, escalates.

:meth:`SlaTracker.follow` reads events after its stored cursor and applies them
(``crm.sla.state``) in one transaction per batch that also advances the cursor, so a crash
neither skips nor repeats an event; concurrent followers (several API processes) serialise on
the cursor row and the loser re-reads. :meth:`SlaTracker.scan` finds running targets whose
due time has passed and, for each, applies the policy's escalation through an
:class:`Escalator` (which lives where the conversation does: the knowledge base), then marks
the target breached and appends ``sla.breached`` in one transaction, conditional on the target
not being marked yet: one event per target, whatever restarts or runs at once. Escalation
is recorded as pending in that transaction and taken off once applied, so a crash in between
repeats it at the next scan (raising a priority twice or unassigning twice does no harm)
rather than losing it; followers see ``sla.breached`` before the changes it caused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update

from crm.engine import write
from crm.errors import NotFound
from crm.events import Event, EventLog
from crm.sla.policies import SlaPolicy, SlaPolicyStore, policy_for
from crm.sla.schema import sla_clocks, sla_cursor, sla_times
from crm.sla.state import ClockState, Measurement, apply_event, event_time, recompute
from hub.models import utcnow

__all__ = ["BreachAction", "Escalator", "SlaTracker"]

log = logging.getLogger("parley.sla")

#: the event types that move a clock; the tracker reads only these
TRACKED_TYPES = (
    "conversation.created",
    "conversation.status_changed",
    "conversation.reopened",
    "conversation.updated",
    "conversation.assigned",
    "message.created",
)
CURSOR = "sla.tracker"
TARGETS = ("first_response", "next_response", "resolution")


@dataclass(frozen=True)
class BreachAction:
    """What a breach asks of the conversation's owner: raise its priority, unassign it."""

    conversation_id: str
    target: str
    raise_priority: str | None
    unassign: bool


#: applies a breach's escalation to the conversation, idempotently (``flows.sla.KBEscalator``)
Escalator = Callable[[BreachAction], None]


_STATE_FIELDS = [f.name for f in fields(ClockState) if f.name != "pauses"]


def _to_row(state: ClockState) -> dict[str, Any]:
    row = {name: getattr(state, name) for name in _STATE_FIELDS}
    row["pauses"] = [[a.isoformat(), b.isoformat()] for a, b in state.pauses]
    row["updated_at"] = utcnow()
    return row


def _from_row(row: Any) -> ClockState:
    values = {name: row[name] for name in _STATE_FIELDS}
    pauses = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in row["pauses"]]
    return ClockState(**values, pauses=pauses)


class SlaTracker:
    """Keeps the clocks of ``sla_clocks`` in step with the event log (module doc)."""

    def __init__(self, engine: Engine, writer: Engine, events: EventLog, *, late_after: timedelta) -> None:
        self._engine = engine
        self._writer = writer
        self._events = events
        self.late_after = late_after
        self._policies = SlaPolicyStore(engine, writer)

    # --- following the log -----------------------------------------------------------------

    def cursor(self) -> int:
        with self._engine.connect() as conn:
            value = conn.execute(select(sla_cursor.c.event_id).where(sla_cursor.c.name == CURSOR)).scalar()
        return int(value or 0)

    def follow(self, *, batch: int = 500, max_batches: int | None = None) -> int:
        """Apply every event after the cursor (``max_batches`` at most); returns how many."""
        applied, batches = 0, 0
        while max_batches is None or batches < max_batches:
            after = self.cursor()
            events = list(self._events.read(after=after, limit=batch, types=TRACKED_TYPES))
            if not events:
                return applied
            write(self._writer, lambda conn, a=after, e=events: self._apply(conn, a, e))  # type: ignore[misc]
            applied += len(events)
            batches += 1
        return applied

    def _apply(self, conn: Connection, after: int, events: list[Event]) -> None:
        current = conn.execute(select(sla_cursor.c.event_id).where(sla_cursor.c.name == CURSOR)).scalar()
        if int(current or 0) != after:
            return  # another follower applied this batch; the caller reads on from the new cursor
        ids = sorted({e.conversation_id for e in events if e.conversation_id})
        states = {
            r["conversation_id"]: _from_row(r)
            for r in conn.execute(select(sla_clocks).where(sla_clocks.c.conversation_id.in_(ids))).mappings()
        }
        known = set(states)
        measured: dict[tuple[str, str], Measurement] = {}
        policies: dict[tuple[str | None, str], SlaPolicy | None] = {}

        def policy(state: ClockState) -> SlaPolicy | None:
            key = (state.queue, state.priority)
            if key not in policies:
                policies[key] = policy_for(conn, *key)
            return policies[key]

        for event in events:
            if event.conversation_id is None:
                continue
            at, late = event_time(event, self.late_after)
            before = states.get(event.conversation_id)
            state, done = apply_event(before, event, at, policy(before) if before else None, late=late)
            if state is None:
                continue
            states[event.conversation_id] = recompute(state, policy(state))
            for measurement in done:
                measured[(state.conversation_id, measurement.metric)] = measurement
        # executemany: one compiled statement per kind of write, whatever the batch holds
        rows = [_to_row(state) for state in states.values()]
        updates = [row | {"b_id": row["conversation_id"]} for row in rows if row["conversation_id"] in known]
        inserts = [row for row in rows if row["conversation_id"] not in known]
        if updates:
            where = sla_clocks.c.conversation_id == bindparam("b_id")
            conn.execute(update(sla_clocks).where(where), updates)
        if inserts:
            conn.execute(insert(sla_clocks), inserts)
        _record(conn, measured)
        last = events[-1].id
        if current is None:
            conn.execute(insert(sla_cursor).values(name=CURSOR, event_id=last))
        else:
            conn.execute(update(sla_cursor).where(sla_cursor.c.name == CURSOR).values(event_id=last))

    def reapply(self, *, batch: int = 500) -> int:
        """Recompute the due times of every unresolved clock under the policies as they are
        now (after one was created, replaced or deleted); returns how many clocks changed."""
        changed, after = 0, ""
        while True:
            ids_query = (
                select(sla_clocks.c.conversation_id)
                .where(sla_clocks.c.resolved_at.is_(None), sla_clocks.c.conversation_id > after)
                .order_by(sla_clocks.c.conversation_id)
                .limit(batch)
            )
            with self._engine.connect() as conn:
                ids = list(conn.execute(ids_query).scalars())
            if not ids:
                return changed
            changed += write(self._writer, lambda conn, ids=ids: self._reapply(conn, ids))  # type: ignore[misc]
            after = ids[-1]

    def _reapply(self, conn: Connection, ids: list[str]) -> int:
        rows = conn.execute(select(sla_clocks).where(sla_clocks.c.conversation_id.in_(ids))).mappings().all()
        policies: dict[tuple[str | None, str], SlaPolicy | None] = {}
        updates = []
        for row in rows:
            state = _from_row(row)
            key = (state.queue, state.priority)
            if key not in policies:
                policies[key] = policy_for(conn, *key)
            new = _to_row(recompute(state, policies[key]))
            if any(new[name] != row[name] for name in _STATE_FIELDS):
                updates.append(new | {"b_id": row["conversation_id"]})
        if updates:
            conn.execute(update(sla_clocks).where(sla_clocks.c.conversation_id == bindparam("b_id")), updates)
        return len(updates)

    # --- breaches --------------------------------------------------------------------------

    def scan(
        self, now: datetime | None = None, escalate: Escalator | None = None, *, limit: int = 500
    ) -> int:
        """Mark every running target due before ``now`` breached (one ``sla.breached`` each)
        and apply its escalation; returns how many breaches were recorded. Escalations left
        pending by an earlier pass that stopped half way are applied first."""
        now = now or utcnow()
        if escalate is not None:
            self._escalate_pending(escalate, limit)
        found = 0
        for target in TARGETS:
            due, breached = sla_clocks.c[f"{target}_due"], sla_clocks.c[f"{target}_breached_at"]
            query = (
                select(sla_clocks.c.conversation_id, sla_clocks.c.policy_id, due)
                .where(due <= now, breached.is_(None))
                .order_by(due)
                .limit(limit)
            )
            with self._engine.connect() as conn:
                rows = conn.execute(query).all()
            for conversation_id, policy_id, due_time in rows:
                action = self._breach(conversation_id, policy_id, target, due_time, now)
                if action is not False:
                    found += 1
                    if action is not None and escalate is not None:
                        self._escalate_one(escalate, action)
        return found

    def _breach(
        self, conversation_id: str, policy_id: str | None, target: str, due_time: datetime, now: datetime
    ) -> BreachAction | Literal[False] | None:
        """Mark one breach and append its event, with its escalation pending, in one
        transaction; the escalation to apply (None: nothing to do), or False when another
        scanner got there first or the clock moved since it was read."""
        try:  # the escalation in force now
            policy = self._policies.get(policy_id) if policy_id else None
        except NotFound:
            policy = None
        escalation = policy.escalation if policy else None
        raise_to = escalation.raise_priority.value if escalation and escalation.raise_priority else None
        reassign = bool(escalation and escalation.reassign)
        action = BreachAction(conversation_id, target, raise_to, reassign) if raise_to or reassign else None
        due_col, breached_col = sla_clocks.c[f"{target}_due"], sla_clocks.c[f"{target}_breached_at"]

        def work(conn: Connection) -> bool:
            row = conn.execute(
                select(sla_clocks.c.escalation_pending).where(
                    sla_clocks.c.conversation_id == conversation_id,
                    due_col == due_time,
                    breached_col.is_(None),
                )
            ).first()
            if row is None:
                return False
            pending = list(row[0] or []) + ([_pending(action)] if action else [])
            conn.execute(
                update(sla_clocks)
                .where(sla_clocks.c.conversation_id == conversation_id)
                .values(
                    {breached_col.name: now, "escalation_pending": pending or None, "updated_at": utcnow()}
                )
            )
            self._events.append(
                "sla.breached",
                conversation_id=conversation_id,
                data={
                    "policy_id": policy_id,
                    "target": target,
                    "due_at": due_time.isoformat(),
                    "notify_team": escalation.notify_team if escalation else None,
                    "raise_priority": raise_to,
                    "reassign": reassign,
                },
                conn=conn,
            )
            return True

        return action if write(self._writer, work) else False

    def _escalate_one(self, escalate: Escalator, action: BreachAction) -> None:
        """Escalate, then take the escalation off the clock's pending list."""
        escalate(action)

        def work(conn: Connection) -> None:
            column = sla_clocks.c.escalation_pending
            where = sla_clocks.c.conversation_id == action.conversation_id
            pending = conn.execute(select(column).where(where)).scalar() or []
            left = [p for p in pending if p != _pending(action)]
            conn.execute(update(sla_clocks).where(where).values(escalation_pending=left or None))

        write(self._writer, work)

    def _escalate_pending(self, escalate: Escalator, limit: int) -> None:
        query = (
            select(sla_clocks.c.conversation_id, sla_clocks.c.escalation_pending)
            .where(sla_clocks.c.escalation_pending.is_not(None))
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        for conversation_id, pending in rows:
            for item in pending or []:
                action = BreachAction(
                    conversation_id, item["target"], item["raise_priority"], item["unassign"]
                )
                self._escalate_one(escalate, action)


def _pending(action: BreachAction) -> dict[str, Any]:
    return {"target": action.target, "raise_priority": action.raise_priority, "unassign": action.unassign}


def _record(conn: Connection, measured: dict[tuple[str, str], Measurement]) -> None:
    """Store first-response and resolution times (a later resolution replaces the earlier)."""
    if not measured:
        return
    keys = [{"b_id": cid, "b_metric": metric} for cid, metric in measured]
    where = (sla_times.c.conversation_id == bindparam("b_id"), sla_times.c.metric == bindparam("b_metric"))
    conn.execute(delete(sla_times).where(*where), keys)
    now = utcnow()
    rows = [
        {"conversation_id": cid, "recorded_at": now, **{f.name: getattr(m, f.name) for f in fields(m)}}
        for (cid, _), m in measured.items()
    ]
    conn.execute(insert(sla_times), rows)
