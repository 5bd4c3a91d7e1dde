"""SLA policies, per-conversation clocks, recorded response times and the tracker's cursor.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 04:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm.schema

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, crm.schema.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sla_policies",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("queue", sa.String(length=256), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=True),
        sa.Column("scope", sa.String(length=300), nullable=False),
        sa.Column("first_response_s", sa.Integer(), nullable=True),
        sa.Column("next_response_s", sa.Integer(), nullable=True),
        sa.Column("resolution_s", sa.Integer(), nullable=True),
        sa.Column("business_hours", sa.JSON(), nullable=True),
        sa.Column("escalation", sa.JSON(), nullable=False),
        _when("created_at", False),
        _when("updated_at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint("name", name=op.f("uq_sla_policies_name")),
        sa.UniqueConstraint("scope", name=op.f("uq_sla_policies_scope")),
    )
    op.create_table(
        "sla_clocks",
        sa.Column("conversation_id", sa.String(length=256), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("queue", sa.String(length=256), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("origin_message_id", sa.String(length=128), nullable=True),
        sa.Column("first_response_owed", sa.Boolean(), nullable=False),
        _when("started_at", False),
        _when("last_at", False),
        _when("first_response_due"),
        _when("first_response_at"),
        _when("first_response_breached_at"),
        _when("waiting_since"),
        _when("next_response_due"),
        _when("next_response_breached_at"),
        _when("resolution_due"),
        _when("resolved_at"),
        _when("resolution_breached_at"),
        _when("paused_since"),
        sa.Column("pauses", sa.JSON(), nullable=False),
        sa.Column("backfilled", sa.Boolean(), nullable=False),
        sa.Column("escalation_pending", sa.JSON(none_as_null=True), nullable=True),
        _when("updated_at", False),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_sla_clocks")),
    )
    for target in ("first_response", "next_response", "resolution"):
        op.create_index(op.f(f"ix_sla_clocks_{target}_due"), "sla_clocks", [f"{target}_due"])
    op.create_table(
        "sla_times",
        sa.Column("conversation_id", sa.String(length=256), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        _when("started_at", False),
        _when("ended_at", False),
        sa.Column("business_seconds", sa.Integer(), nullable=False),
        sa.Column("calendar_seconds", sa.Integer(), nullable=False),
        sa.Column("target_seconds", sa.Integer(), nullable=True),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=True),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("team", sa.String(length=256), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("backfilled", sa.Boolean(), nullable=False),
        _when("recorded_at", False),
        sa.PrimaryKeyConstraint("conversation_id", "metric", name=op.f("pk_sla_times")),
    )
    op.create_index(op.f("ix_sla_times_metric_ended_at"), "sla_times", ["metric", "ended_at"])
    op.create_table(
        "sla_cursor",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sla_cursor")),
    )


def downgrade() -> None:
    op.drop_table("sla_cursor")
    op.drop_index(op.f("ix_sla_times_metric_ended_at"), table_name="sla_times")
    op.drop_table("sla_times")
    for target in ("first_response", "next_response", "resolution"):
        op.drop_index(op.f(f"ix_sla_clocks_{target}_due"), table_name="sla_clocks")
    op.drop_table("sla_clocks")
    op.drop_table("sla_policies")
