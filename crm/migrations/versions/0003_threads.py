"""Thread membership: thread nodes and conversation aliases (a union-find shared by every process).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm.schema

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "thread_nodes",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("has_parent", sa.Boolean(), nullable=False),
        sa.Column("seen", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_thread_nodes")),
    )
    with op.batch_alter_table("thread_nodes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_thread_nodes_conversation_id_has_parent", ["conversation_id", "has_parent"], unique=False
        )

    op.create_table(
        "conversation_aliases",
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("into_id", sa.String(length=64), nullable=False),
        sa.Column("moved", sa.Boolean(), nullable=False),
        sa.Column("created_at", crm.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_conversation_aliases")),
    )
    with op.batch_alter_table("conversation_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversation_aliases_into_id"), ["into_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_conversation_aliases_moved"), ["moved"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversation_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_aliases_moved"))
        batch_op.drop_index(batch_op.f("ix_conversation_aliases_into_id"))

    op.drop_table("conversation_aliases")
    with op.batch_alter_table("thread_nodes", schema=None) as batch_op:
        batch_op.drop_index("ix_thread_nodes_conversation_id_has_parent")

    op.drop_table("thread_nodes")
