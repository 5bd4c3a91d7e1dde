"""Listening monitors: saved queries, their matched messages, 5-minute windows and alerts.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 04:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm.schema

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.String:
    return sa.String(length=64)


def _when() -> crm.schema.UTCDateTime:
    return crm.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", _id(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("owner_id", _id(), nullable=True),
        sa.Column("alerts", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("match_revision", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.Column("backfilled_at", _when(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitors")),
        sa.UniqueConstraint("name", name=op.f("uq_monitors_name")),
        sa.UniqueConstraint("revision", name=op.f("uq_monitors_revision")),
    )
    op.create_table(
        "monitor_hits",
        sa.Column("monitor_id", _id(), nullable=False),
        sa.Column("message_id", _id(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("window_start", _when(), nullable=False),
        sa.Column("sent_at", _when(), nullable=False),
        sa.Column("channel", sa.String(length=128), nullable=False),
        sa.Column("language", sa.String(length=32), nullable=False),
        sa.Column("sentiment", sa.String(length=16), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("hashtags", sa.JSON(), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("monitor_id", "message_id", name=op.f("pk_monitor_hits")),
    )
    op.create_index(
        op.f("ix_monitor_hits_monitor_id_window_start"), "monitor_hits", ["monitor_id", "window_start"]
    )
    op.create_table(
        "monitor_windows",
        sa.Column("monitor_id", _id(), nullable=False),
        sa.Column("window_start", _when(), nullable=False),
        sa.Column("window_end", _when(), nullable=False),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.Column("neutral", sa.Integer(), nullable=False),
        sa.Column("positive", sa.Integer(), nullable=False),
        sa.Column("unknown", sa.Integer(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("hashtags", sa.JSON(), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("corrections", sa.Integer(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("monitor_id", "window_start", name=op.f("pk_monitor_windows")),
    )
    op.create_table(
        "monitor_alerts",
        sa.Column("id", _id(), nullable=False),
        sa.Column("monitor_id", _id(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("window_start", _when(), nullable=False),
        sa.Column("window_end", _when(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("term", sa.Text(), nullable=True),
        sa.Column("message_ids", sa.JSON(), nullable=False),
        sa.Column("fired_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_alerts")),
    )
    op.create_index(
        op.f("ix_monitor_alerts_monitor_id_kind_window_start"),
        "monitor_alerts",
        ["monitor_id", "kind", "window_start"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_monitor_alerts_monitor_id_kind_window_start"), table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
    op.drop_table("monitor_windows")
    op.drop_index(op.f("ix_monitor_hits_monitor_id_window_start"), table_name="monitor_hits")
    op.drop_table("monitor_hits")
    op.drop_table("monitors")
