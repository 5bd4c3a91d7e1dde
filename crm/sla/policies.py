"""SLA policies: targets per queue and priority, a calendar, and what to do on a breach.

A policy answers one *scope*: a queue (or any queue) and a priority (or any priority). The
policy for a conversation is the most specific one: queue and priority, then queue only, then
priority only, then the default (neither). Targets are minutes of business time (or of calendar
time when the policy has no ``business_hours``); a target left out is not tracked.

What the store promises: names and scopes are unique (``Conflict``); a policy is valid when it
is stored (a calendar that parses, with working time; a team to notify that exists), otherwise
``InvalidRequest`` and nothing is written. Edits apply to running clocks at the SLA worker's
next pass (:meth:`crm.sla.tracker.SlaTracker.reapply`, run when :meth:`SlaPolicyStore.fingerprint`
changes), and whenever an event arrives for the conversation; breached targets keep the due
time they breached.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from crm.engine import write
from crm.errors import Conflict, InvalidRequest, NotFound
from crm.schema import teams
from crm.sla.clock import WEEKDAYS, BusinessCalendar
from crm.sla.schema import sla_policies
from hub.models import Priority, utcnow

__all__ = ["BusinessHours", "Escalation", "SlaPolicy", "SlaPolicySpec", "SlaPolicyStore", "Target"]

#: one year of minutes: a longer target is a typo
MAX_TARGET_MINUTES = 366 * 24 * 60
TARGETS = ("first_response", "next_response", "resolution")
Target = str
PRIORITY_RANK = {p.value: i for i, p in enumerate(Priority)}


class BusinessHours(BaseModel):
    """Working time: an IANA zone, ranges per week day (days left out are closed), holidays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = Field(max_length=64, examples=["Europe/Berlin"])
    hours: dict[str, list[str]] = Field(
        examples=[{d: ["09:00-17:00"] for d in WEEKDAYS[:5]}], description="week day (mon..sun) -> ranges"
    )
    holidays: list[date] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _parses(self) -> BusinessHours:
        if len(self.hours) > 7 or any(len(r) > 12 for r in self.hours.values()):
            raise ValueError("at most 12 ranges for each of the 7 week days")
        self.calendar()  # raises ValueError with the reason
        return self

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar.from_spec(self.timezone, self.hours, self.holidays)


class Escalation(BaseModel):
    """What a breach does besides its ``sla.breached`` event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    raise_priority: Priority | None = Field(default=None, description="raise to this (never lowers)")
    reassign: bool = Field(default=False, description="unassign, so routing queues it again")
    notify_team: str | None = Field(default=None, max_length=64, description="a team id the event names")


class SlaPolicySpec(BaseModel):
    """What an admin writes: scope, targets in minutes, calendar, escalation."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    queue: str | None = Field(default=None, min_length=1, max_length=256, description="null = any queue")
    priority: Priority | None = Field(default=None, description="null = any priority")
    first_response_minutes: int | None = Field(default=None, gt=0, le=MAX_TARGET_MINUTES)
    next_response_minutes: int | None = Field(default=None, gt=0, le=MAX_TARGET_MINUTES)
    resolution_minutes: int | None = Field(default=None, gt=0, le=MAX_TARGET_MINUTES)
    business_hours: BusinessHours | None = Field(default=None, description="null = calendar time (24/7)")
    escalation: Escalation = Field(default_factory=Escalation)

    @model_validator(mode="after")
    def _has_a_target(self) -> SlaPolicySpec:
        if not any(getattr(self, f"{t}_minutes") for t in TARGETS):
            raise ValueError("a policy needs at least one target (first_response, next_response, resolution)")
        return self

    @property
    def scope(self) -> str:
        return f"{self.queue or '*'}|{self.priority.value if self.priority else '*'}"


class SlaPolicy(SlaPolicySpec):
    """A stored policy."""

    id: str
    created_at: datetime
    updated_at: datetime

    def target_seconds(self, target: Target) -> int | None:
        minutes: int | None = getattr(self, f"{target}_minutes")
        return None if minutes is None else minutes * 60

    def calendar(self) -> BusinessCalendar | None:
        return None if self.business_hours is None else self.business_hours.calendar()


def _row(spec: SlaPolicySpec) -> dict[str, Any]:
    return {
        "name": spec.name.strip(),
        "queue": spec.queue,
        "priority": spec.priority.value if spec.priority else None,
        "scope": spec.scope,
        "first_response_s": spec.first_response_minutes and spec.first_response_minutes * 60,
        "next_response_s": spec.next_response_minutes and spec.next_response_minutes * 60,
        "resolution_s": spec.resolution_minutes and spec.resolution_minutes * 60,
        "business_hours": None
        if spec.business_hours is None
        else spec.business_hours.model_dump(mode="json"),
        "escalation": spec.escalation.model_dump(mode="json"),
    }


def policy_from_row(row: Any) -> SlaPolicy:
    return SlaPolicy(
        id=row["id"],
        name=row["name"],
        queue=row["queue"],
        priority=row["priority"],
        first_response_minutes=row["first_response_s"] and row["first_response_s"] // 60,
        next_response_minutes=row["next_response_s"] and row["next_response_s"] // 60,
        resolution_minutes=row["resolution_s"] and row["resolution_s"] // 60,
        business_hours=row["business_hours"],
        escalation=row["escalation"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def policy_for(conn: Connection, queue: str | None, priority: str) -> SlaPolicy | None:
    """The most specific policy for a conversation in ``queue`` with ``priority``, or None."""
    scopes = [f"{queue}|{priority}", f"{queue}|*"] if queue else []
    scopes += [f"*|{priority}", "*|*"]
    rows = {
        r["scope"]: r
        for r in conn.execute(select(sla_policies).where(sla_policies.c.scope.in_(scopes))).mappings()
    }
    for scope in scopes:
        if scope in rows:
            return policy_from_row(rows[scope])
    return None


class SlaPolicyStore:
    """Creates, reads, replaces and deletes policies."""

    def __init__(self, engine: Engine, writer: Engine) -> None:
        self._engine = engine
        self._writer = writer

    def list(self) -> list[SlaPolicy]:
        """Every policy, most specific scope first, then by name."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(sla_policies).order_by(sla_policies.c.name)).mappings().all()
        policies = [policy_from_row(r) for r in rows]
        return sorted(policies, key=lambda p: (p.queue is None, p.priority is None, p.name))

    def fingerprint(self) -> tuple[int, datetime | None]:
        """How many policies there are and when one last changed: a change to any policy
        (created, replaced, deleted) changes it."""
        with self._engine.connect() as conn:
            count, latest = conn.execute(select(func.count(), func.max(sla_policies.c.updated_at))).one()
        return int(count), latest

    def get(self, policy_id: str) -> SlaPolicy:
        with self._engine.connect() as conn:
            row = conn.execute(select(sla_policies).where(sla_policies.c.id == policy_id)).mappings().first()
        if row is None:
            raise NotFound(f"SLA policy {policy_id} does not exist")
        return policy_from_row(row)

    def _check(self, conn: Connection, spec: SlaPolicySpec, policy_id: str | None) -> None:
        team = spec.escalation.notify_team
        if team is not None and conn.execute(select(teams.c.id).where(teams.c.id == team)).first() is None:
            raise InvalidRequest(f"escalation.notify_team: no team {team}")
        for column, value, what in (
            (sla_policies.c.name, spec.name.strip(), f"the name {spec.name.strip()!r}"),
            (
                sla_policies.c.scope,
                spec.scope,
                f"queue {spec.queue or 'any'} and priority {spec.priority.value if spec.priority else 'any'}",
            ),
        ):
            other = conn.execute(select(sla_policies.c.id).where(column == value)).scalar_one_or_none()
            if other is not None and other != policy_id:
                raise Conflict(f"policy {other} already has {what}")

    def create(self, spec: SlaPolicySpec) -> SlaPolicy:
        """A new policy; ``Conflict`` when its name or scope is taken."""
        policy_id = f"sla_{secrets.token_hex(8)}"
        now = utcnow()

        def work(conn: Connection) -> None:
            self._check(conn, spec, None)
            conn.execute(
                insert(sla_policies).values(id=policy_id, created_at=now, updated_at=now, **_row(spec))
            )

        write(self._writer, work)
        return self.get(policy_id)

    def replace(self, policy_id: str, spec: SlaPolicySpec) -> SlaPolicy:
        """Replace every field of ``policy_id`` with ``spec``."""

        def work(conn: Connection) -> None:
            if conn.execute(select(sla_policies.c.id).where(sla_policies.c.id == policy_id)).first() is None:
                raise NotFound(f"SLA policy {policy_id} does not exist")
            self._check(conn, spec, policy_id)
            values = {**_row(spec), "updated_at": utcnow()}
            conn.execute(update(sla_policies).where(sla_policies.c.id == policy_id).values(values))

        write(self._writer, work)
        return self.get(policy_id)

    def delete(self, policy_id: str) -> SlaPolicy:
        """Delete ``policy_id``; running clocks pick another policy at their next event."""
        policy = self.get(policy_id)
        deleted = write(
            self._writer,
            lambda conn: conn.execute(delete(sla_policies).where(sla_policies.c.id == policy_id)).rowcount,
        )
        if not deleted:
            raise NotFound(f"SLA policy {policy_id} does not exist")
        return policy
