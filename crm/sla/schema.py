"""The SLA tables (migration 0007), on the CRM store's one ``metadata``.

Invariants the SLA code keeps:

* ``sla_policies.scope`` is ``<queue or *>|<priority or *>``: unique, so one policy at most
  answers each (queue, priority) pair, the default being ``*|*``;
* ``sla_clocks`` holds one row per conversation the tracker has seen; a ``*_due`` column is
  set only while its target is running (not met, not paused for good), and a ``*_breached_at``
  column is set once per target (per waiting period for next response), in the transaction
  that appends its ``sla.breached`` event;
* ``sla_times`` holds one row per conversation and metric (``first_response``,
  ``resolution``): what analytics reads;
* ``sla_cursor`` holds the id of the last event the tracker applied, written in the
  transaction that applied it, so a restart neither skips nor repeats an event.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, String, Table

from crm.schema import UTCDateTime, metadata

__all__ = ["sla_clocks", "sla_cursor", "sla_policies", "sla_times"]


def _when(name: str, nullable: bool = True) -> Column[object]:
    return Column(name, UTCDateTime(timezone=True), nullable=nullable)


sla_policies = Table(
    "sla_policies",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("queue", String(256), nullable=True),
    Column("priority", String(16), nullable=True),
    Column("scope", String(300), nullable=False, unique=True),
    Column("first_response_s", Integer, nullable=True),
    Column("next_response_s", Integer, nullable=True),
    Column("resolution_s", Integer, nullable=True),
    #: ``null`` = calendar time; else ``{"timezone", "hours": {day: [ranges]}, "holidays": [...]}``
    Column("business_hours", JSON, nullable=True),
    Column("escalation", JSON, nullable=False),
    _when("created_at", False),
    _when("updated_at", False),
)

sla_clocks = Table(
    "sla_clocks",
    metadata,
    Column("conversation_id", String(256), primary_key=True),
    Column("policy_id", String(64), nullable=True),
    Column("channel", String(64), nullable=True),
    Column("queue", String(256), nullable=True),
    Column("priority", String(16), nullable=False),
    Column("assignee", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("origin_message_id", String(128), nullable=True),
    #: false for a conversation we started (its first message went out)
    Column("first_response_owed", Boolean, nullable=False),
    _when("started_at", False),
    #: the latest time applied, so the clock's times never run backwards
    _when("last_at", False),
    _when("first_response_due"),
    _when("first_response_at"),
    _when("first_response_breached_at"),
    #: the oldest inbound message not yet answered (after the first response)
    _when("waiting_since"),
    _when("next_response_due"),
    _when("next_response_breached_at"),
    _when("resolution_due"),
    _when("resolved_at"),
    _when("resolution_breached_at"),
    _when("paused_since"),
    #: closed pauses ``[[from, to], ...]`` as ISO strings
    Column("pauses", JSON, nullable=False),
    #: a time the clock used was the hub's arrival time, not the message's (see docs)
    Column("backfilled", Boolean, nullable=False),
    #: escalations of recorded breaches not yet applied ``[{target, raise_priority, unassign}]``
    Column("escalation_pending", JSON(none_as_null=True), nullable=True),
    _when("updated_at", False),
    Index("ix_sla_clocks_first_response_due", "first_response_due"),
    Index("ix_sla_clocks_next_response_due", "next_response_due"),
    Index("ix_sla_clocks_resolution_due", "resolution_due"),
)

sla_times = Table(
    "sla_times",
    metadata,
    Column("conversation_id", String(256), primary_key=True),
    Column("metric", String(32), primary_key=True),
    _when("started_at", False),
    _when("ended_at", False),
    Column("business_seconds", Integer, nullable=False),
    Column("calendar_seconds", Integer, nullable=False),
    Column("target_seconds", Integer, nullable=True),
    Column("breached", Boolean, nullable=False),
    Column("policy_id", String(64), nullable=True),
    Column("agent_id", String(64), nullable=True),
    Column("team", String(256), nullable=True),
    Column("channel", String(64), nullable=True),
    Column("priority", String(16), nullable=False),
    Column("backfilled", Boolean, nullable=False),
    _when("recorded_at", False),
    Index("ix_sla_times_metric_ended_at", "metric", "ended_at"),
)

sla_cursor = Table(
    "sla_cursor",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("event_id", BigInteger, nullable=False),
)
