"""Routing: ordered rules, each conversation's routing state (status, assignee, queue, waiting)
and the round-robin cursor of each team.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 04:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm.schema

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.String:
    return sa.String(length=64)


def _when() -> crm.schema.UTCDateTime:
    return crm.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "routing_rules",
        sa.Column("id", _id(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("condition", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("stop", sa.Boolean(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rules")),
    )
    with op.batch_alter_table("routing_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routing_rules_position"), ["position"], unique=False)

    op.create_table(
        "conversation_routing",
        sa.Column("conversation_id", _id(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=256), nullable=False),
        sa.Column("contact_id", _id(), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("snoozed_until", _when(), nullable=True),
        sa.Column("assignee", sa.String(length=256), nullable=True),
        sa.Column("queue", sa.String(length=256), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("wait_spec", sa.JSON(), nullable=True),
        sa.Column("wait_rule_id", _id(), nullable=True),
        sa.Column("waiting_since", _when(), nullable=True),
        sa.Column("last_assignee", sa.String(length=256), nullable=True),
        sa.Column("assigned_at", _when(), nullable=True),
        sa.Column("folded_into", _id(), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_conversation_routing")),
    )
    with op.batch_alter_table("conversation_routing", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversation_routing_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_conversation_routing_assignee"), ["assignee"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_conversation_routing_snoozed_until"), ["snoozed_until"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_conversation_routing_waiting_since"), ["waiting_since"], unique=False
        )
        batch_op.create_index(
            "ix_conversation_routing_contact_id_assigned_at", ["contact_id", "assigned_at"], unique=False
        )

    op.create_table(
        "team_cursors",
        sa.Column("team_id", _id(), nullable=False),
        sa.Column("last_agent_id", _id(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_team_cursors")),
    )


def downgrade() -> None:
    op.drop_table("team_cursors")
    with op.batch_alter_table("conversation_routing", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_routing_contact_id_assigned_at")
        batch_op.drop_index(batch_op.f("ix_conversation_routing_waiting_since"))
        batch_op.drop_index(batch_op.f("ix_conversation_routing_snoozed_until"))
        batch_op.drop_index(batch_op.f("ix_conversation_routing_assignee"))
        batch_op.drop_index(batch_op.f("ix_conversation_routing_contact_id"))
    op.drop_table("conversation_routing")
    with op.batch_alter_table("routing_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_rules_position"))
    op.drop_table("routing_rules")
